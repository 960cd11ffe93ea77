package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/janhq/jan/internal/store"
)

// The embedded issuer's accounts: upgrading a guest and password login.

var _ IdentityProvider = (*Issuer)(nil)

// Upgrade gives the guest p a username, email and password. The account
// keeps its id, and so its conversations; the guest's sessions end (its
// refresh and access tokens stop working) and fresh tokens are returned.
func (i *Issuer) Upgrade(ctx context.Context, p *Principal, up Upgrade) (*Tokens, *Account, error) {
	if err := ValidateUpgrade(up); err != nil {
		return nil, nil, err
	}
	u, err := i.users.GetUser(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, &Problem{Status: http.StatusNotFound, Code: "user_not_found", Message: "this account no longer exists"}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("auth: load user: %w", err)
	}
	if !u.IsGuest {
		return nil, nil, &Problem{Status: http.StatusConflict, Code: "not_a_guest", Message: "this account is already a user; only guests can upgrade"}
	}
	if other, err := i.users.GetUserByUsername(ctx, up.Username); err == nil && other.ID != u.ID {
		return nil, nil, &Problem{Status: http.StatusConflict, Code: "username_taken", Param: "username", Message: fmt.Sprintf("username %q is taken", up.Username)}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("auth: look up username: %w", err)
	}
	var hash string
	var hashErr error
	if err := i.hashing.do(ctx, func() { hash, hashErr = hashPassword(up.Password) }); err != nil {
		return nil, nil, err
	}
	if hashErr != nil {
		return nil, nil, hashErr
	}
	u.Username, u.Email, u.PasswordHash, u.IsGuest = up.Username, up.Email, hash, false
	if err := i.users.UpdateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// The username was checked above, so a race or the email.
			return nil, nil, &Problem{Status: http.StatusConflict, Code: "email_taken", Param: "email", Message: "that username or email is already used by another account"}
		}
		return nil, nil, fmt.Errorf("auth: update user: %w", err)
	}
	if err := i.users.RevokeSessions(ctx, u.ID); err != nil {
		return nil, nil, fmt.Errorf("auth: end the guest's sessions: %w", err)
	}
	i.ended.load() // the guest's access tokens are refused here at once
	t, err := i.Issue(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	return t, accountOf(u), nil
}

// Login checks a username and password (the token endpoint's password
// grant). A wrong password and an unknown user are the same error.
func (i *Issuer) Login(ctx context.Context, username, password string) (*Tokens, *Account, error) {
	denied := &Error{Code: CodeInvalidToken, Message: "invalid username or password"}
	u, err := i.users.GetUserByUsername(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("auth: look up user: %w", err)
	}
	hasPassword := err == nil && !u.IsGuest && u.PasswordHash != ""
	hash := dummyHash // same work as a real check: no user enumeration by timing
	if hasPassword {
		hash = func() string { return u.PasswordHash }
	}
	ok := false
	if err := i.hashing.do(ctx, func() { ok = checkPassword(hash(), password) }); err != nil {
		return nil, nil, err
	}
	if !ok || !hasPassword {
		return nil, nil, denied
	}
	t, err := i.Issue(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	return t, accountOf(u), nil
}

// ErrBusy means password hashing is saturated: the caller should retry
// shortly (the server answers 429 with Retry-After).
var ErrBusy = errors.New("auth: too many password checks in progress; retry shortly")

// hashQueue runs argon2 — 19 MiB and ~20 ms of a core each — at most n at a
// time, so a flood of logins costs bounded memory and leaves cores for the
// API. At most n more callers wait, each for at most maxWait (3 s); anyone
// beyond that gets ErrBusy at once.

type hashQueue struct {
	slots   chan struct{}
	waiting atomic.Int32
	maxWait time.Duration
}

func newHashQueue(n int) *hashQueue {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return &hashQueue{slots: make(chan struct{}, n), maxWait: 3 * time.Second}
}

func (q *hashQueue) do(ctx context.Context, fn func()) error {
	select {
	case q.slots <- struct{}{}: // a free slot: no waiting
	default:
		if q.waiting.Add(1) > int32(cap(q.slots)) {
			q.waiting.Add(-1)
			return ErrBusy
		}
		t := time.NewTimer(q.maxWait)
		defer t.Stop()
		select {
		case q.slots <- struct{}{}:
			q.waiting.Add(-1)
		case <-t.C:
			q.waiting.Add(-1)
			return ErrBusy
		case <-ctx.Done():
			q.waiting.Add(-1)
			return ctx.Err()
		}
	}
	defer func() { <-q.slots }()
	fn()
	return nil
}

// Password hashes are argon2id in the PHC string format, with OWASP's
// minimum parameters (19 MiB, 2 passes): slow for an attacker, ~20 ms here.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// dummyHash is checked against when a user does not exist, so both paths
// cost the same. Made on first use: argon2 at init would cost every jan
// process 20 MB and 70 ms.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("not a real password")
	return h
})

func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func checkPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
