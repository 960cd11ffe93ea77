package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/janhq/jan/internal/store"
)

// Paths of the embedded issuer, relative to its URL.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
	// TokenPath is the token endpoint the discovery document advertises
	// (grant_type refresh_token, form-encoded, as Keycloak's; password arrives with accounts).
	TokenPath = "/auth/token"
)

// IssuerOptions configure the embedded issuer. Zero values get defaults.
type IssuerOptions struct {
	URL     string // e.g. "http://127.0.0.1:8080"; tokens' iss; a trailing "/" is dropped
	KeyFile string // PEM signing key; created (0600, dir 0700) if missing; with Keys, moved there on first start
	// Keys, when set, keeps the signing keys in the database: every
	// replica on it signs and verifies with the same keys.
	Keys KeyStore
	// KeyRotation, with Keys, replaces the active key when it is this old
	// (0: never); a retired key verifies until its tokens have expired.
	KeyRotation time.Duration
	Audience    string           // default "jan"
	AccessTTL   time.Duration    // default 1h
	RefreshTTL  time.Duration    // default 30 days
	Now         func() time.Time // default time.Now; for tests
	Admins      []string         // usernames that get the admin role once they are users
	Logger      *slog.Logger     // warnings (a replayed refresh token); default slog.Default()
	// PasswordHashes is how many argon2 hashes run at once (default: the
	// number of CPUs); as many more callers may wait, the rest get ErrBusy.
	PasswordHashes int
}

// Tokens is what guest creation, refresh and upgrade return to the client.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// UserStore is the part of store.Store the issuer needs.
type UserStore interface {
	GetUser(ctx context.Context, id string) (*store.User, error)
	GetUserByUsername(ctx context.Context, username string) (*store.User, error)
	UpdateUser(ctx context.Context, u *store.User) error
	SignIn(ctx context.Context, guest *store.User, t *store.RefreshToken) error
	RotateRefreshToken(ctx context.Context, hash string, next *store.RefreshToken) (*store.RefreshToken, error)
	EndSession(ctx context.Context, hash string) error
	RevokeSessions(ctx context.Context, userID string) error
	RevokedSessions(ctx context.Context, since time.Time) ([]store.RevokedSession, error)
}

// Issuer is jan's built-in OIDC issuer: it signs RS256 access tokens shaped
// like Keycloak's, hands out opaque rotating refresh tokens (stored by hash
// only), and publishes its discovery document and JWKS.
type Issuer struct {
	url, audience         string
	accessTTL, refreshTTL time.Duration
	now                   func() time.Time
	users                 UserStore
	admins                []string // lower-case usernames
	hashing               *hashQueue
	log                   *slog.Logger

	ring      atomic.Pointer[keyring] // the signing keys now
	verifier  *oidcVerifier
	ended     *revocations // sessions that ended: their access tokens are refused
	discovery []byte

	// Shared keys (IssuerOptions.Keys): read again every keyCheck, rotated
	// every rotation (0: never).
	keyStore    KeyStore
	rotation    time.Duration
	keysChecked atomic.Int64 // time.Now().UnixNano() of the last read
	keysLoading atomic.Bool
	reloadMu    sync.Mutex
	lastReload  time.Time // of a read for a token naming an unknown key
}

// NewIssuer loads (or creates) the signing key and prepares the issuer.
func NewIssuer(opts IssuerOptions, users UserStore) (*Issuer, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auth: issuer URL %q must be an absolute http(s) URL", opts.URL)
	}
	if opts.KeyFile == "" {
		return nil, errors.New("auth: issuer needs a signing key file path")
	}
	i := &Issuer{
		url:        strings.TrimSuffix(opts.URL, "/"),
		audience:   orDefault(opts.Audience, "jan"),
		accessTTL:  orDefault(opts.AccessTTL, time.Hour),
		refreshTTL: orDefault(opts.RefreshTTL, 30*24*time.Hour),
		now:        opts.Now,
		users:      users,
		hashing:    newHashQueue(opts.PasswordHashes),
		log:        opts.Logger,
	}
	if i.log == nil {
		i.log = slog.Default()
	}
	for _, a := range opts.Admins {
		i.admins = append(i.admins, strings.ToLower(a))
	}
	if i.now == nil {
		i.now = time.Now
	}

	var ring *keyring
	if opts.Keys != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ring, err = sharedKeys(ctx, opts.Keys, opts.KeyFile, i.now())
		cancel()
		i.keyStore, i.rotation = opts.Keys, opts.KeyRotation
		i.keysChecked.Store(time.Now().UnixNano())
	} else {
		var key *rsa.PrivateKey
		if key, err = loadOrCreateKey(opts.KeyFile); err == nil {
			ring, err = newKeyring(key, time.Time{})
		}
	}
	if err != nil {
		return nil, err
	}
	i.ring.Store(ring)
	i.verifier = newVerifier(i.url, i.audience, issuerKeys{i}, i.now, defaultCacheSize)
	i.ended = newRevocations(users, i.now, i.accessTTL, i.log)
	i.verifier.ended = i.ended.ended

	i.discovery, err = json.Marshal(map[string]any{
		"issuer":                                i.url,
		"jwks_uri":                              i.url + JWKSPath,
		"token_endpoint":                        i.url + TokenPath,
		"grant_types_supported":                 []string{"refresh_token"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		"scopes_supported":                      []string{ScopeGuest, ScopeUser},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid",
			"typ", "preferred_username", "guest", "scope", "realm_access"},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: encode discovery document: %w", err)
	}
	return i, nil
}

// orDefault returns v, or def if v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// URL is the issuer identifier (tokens' iss), without a trailing slash.
func (i *Issuer) URL() string { return i.url }

// Verifier verifies this issuer's access tokens, offline, with the same
// go-oidc code path as NewOIDCVerifier. It is shared: its cache serves every
// caller.
func (i *Issuer) Verifier() Verifier { return i.verifier }

// Guest creates a guest user and returns its first tokens. The user and its
// first session are stored together: no guest is left without a token.
func (i *Issuer) Guest(ctx context.Context) (*Tokens, *Account, error) {
	for attempt := 0; ; attempt++ {
		name, err := randomName()
		if err != nil {
			return nil, nil, err
		}
		u := &store.User{Username: "guest-" + name, IsGuest: true}
		t, err := i.signIn(ctx, u, u)
		if err == nil {
			return t, accountOf(u), nil
		}
		// A taken name is unlikely (32^6 names); try another a few times.
		if !errors.Is(err, store.ErrConflict) || attempt == 4 {
			return nil, nil, fmt.Errorf("auth: create guest: %w", err)
		}
	}
}

func accountOf(u *store.User) *Account {
	return &Account{ID: u.ID, Username: u.Username, Email: u.Email, Guest: u.IsGuest}
}

// Issue starts a session for u and returns its first tokens, e.g. after a
// guest upgrades or a password login. The claims reflect u as given (guest
// or not).
func (i *Issuer) Issue(ctx context.Context, u *store.User) (*Tokens, error) {
	if u.ID == "" {
		return nil, errors.New("auth: cannot issue a token for a user without an id")
	}
	return i.signIn(ctx, nil, u)
}

// signIn stores a new session for u (creating guest first when non-nil)
// and signs its tokens.
func (i *Issuer) signIn(ctx context.Context, guest, u *store.User) (*Tokens, error) {
	refresh, t, err := i.newRefreshToken(u.ID)
	if err != nil {
		return nil, err
	}
	if err := i.users.SignIn(ctx, guest, t); err != nil {
		return nil, fmt.Errorf("auth: start session: %w", err)
	}
	return i.tokens(u, t.SessionID, refresh)
}

// newRefreshToken makes a refresh token for userID: the secret for the
// client, and what the store keeps (its hash).
func (i *Issuer) newRefreshToken(userID string) (string, *store.RefreshToken, error) {
	refresh, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	return refresh, &store.RefreshToken{Hash: hashRefreshToken(refresh), UserID: userID, ExpiresAt: i.now().Add(i.refreshTTL)}, nil
}

// tokens signs an access token for u in session sid and returns it with
// the refresh token.
func (i *Issuer) tokens(u *store.User, sid, refresh string) (*Tokens, error) {
	access, err := i.sign(u, sid)
	if err != nil {
		return nil, err
	}
	return &Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(i.accessTTL / time.Second)}, nil
}

// Refresh trades a refresh token for new tokens in the same session. The
// token works once (rotation); using a spent one again ends the session
// (whoever holds its successor is signed out too: one of the two is not
// the user). An unknown, spent, revoked or expired token, or one whose
// user is gone, is *Error invalid_token; other errors are the store's
// (wrapped), for the server to answer as unavailable.
func (i *Issuer) Refresh(ctx context.Context, refreshToken string) (*Tokens, *Account, error) {
	t, a, _, err := i.refresh(ctx, refreshToken)
	return t, a, err
}

// refresh is Refresh, saying whether the token is certainly not one of
// this issuer's: the store has never heard of it (a spent one it has; and
// when the store fails, nobody can say).
func (i *Issuer) refresh(ctx context.Context, refreshToken string) (_ *Tokens, _ *Account, foreign bool, _ error) {
	if refreshToken == "" {
		return nil, nil, false, errMissing()
	}
	refresh, next, err := i.newRefreshToken("")
	if err != nil {
		return nil, nil, false, err
	}
	old, err := i.users.RotateRefreshToken(ctx, hashRefreshToken(refreshToken), next)
	if errors.Is(err, store.ErrTokenReused) {
		i.log.Warn("a spent refresh token was used again: its session is ended", "err", err)
		i.ended.load() // its access tokens are refused here at once
		return nil, nil, false, errInvalidRefresh()
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, true, errInvalidRefresh()
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("auth: use refresh token: %w", err)
	}
	u, err := i.users.GetUser(ctx, old.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, false, errInvalidRefresh()
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("auth: load user: %w", err)
	}
	t, err := i.tokens(u, next.SessionID, refresh)
	if err != nil {
		return nil, nil, false, err
	}
	return t, accountOf(u), false, nil
}

// Logout ends the session of a refresh token: the token, the others of its
// session and the access tokens issued from it stop working. Unknown or
// already used tokens are not an error: the outcome is the same.
func (i *Issuer) Logout(ctx context.Context, refreshToken string) error {
	_, err := i.endSession(ctx, refreshToken)
	return err
}

// endSession is Logout, saying whether the token was one of this issuer's.
func (i *Issuer) endSession(ctx context.Context, refreshToken string) (found bool, err error) {
	if refreshToken == "" {
		return false, nil
	}
	err = i.users.EndSession(ctx, hashRefreshToken(refreshToken))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("auth: end session: %w", err)
	}
	i.ended.load() // refused here at once, not at the next poll
	return true, nil
}

func errInvalidRefresh() *Error {
	return &Error{Code: CodeInvalidToken, Message: "invalid or expired refresh token"}
}

// accessClaims is the access token payload, shaped like Keycloak's so one
// verifier reads both.
type accessClaims struct {
	Issuer            string      `json:"iss"`
	Subject           string      `json:"sub"`
	Audience          string      `json:"aud"`
	Expiry            int64       `json:"exp"`
	IssuedAt          int64       `json:"iat"`
	NotBefore         int64       `json:"nbf"`
	ID                string      `json:"jti"`
	Session           string      `json:"sid,omitempty"`
	Type              string      `json:"typ"`
	PreferredUsername string      `json:"preferred_username"`
	Guest             bool        `json:"guest"`
	Scope             string      `json:"scope"`
	RealmAccess       realmAccess `json:"realm_access"`
}

type realmAccess struct {
	Roles []string `json:"roles"`
}

func (i *Issuer) sign(u *store.User, sid string) (string, error) {
	if u.ID == "" {
		return "", errors.New("auth: cannot issue a token for a user without an id")
	}
	jti, err := randomToken()
	if err != nil {
		return "", err
	}
	now := i.now()
	role := ScopeUser
	if u.IsGuest {
		role = ScopeGuest
	}
	roles := []string{role}
	if !u.IsGuest && slices.Contains(i.admins, strings.ToLower(u.Username)) {
		roles = append(roles, ScopeAdmin)
	}
	payload, err := json.Marshal(accessClaims{
		Issuer:            i.url,
		Subject:           u.ID,
		Audience:          i.audience,
		Expiry:            now.Add(i.accessTTL).Unix(),
		IssuedAt:          now.Unix(),
		NotBefore:         now.Unix(),
		ID:                jti,
		Session:           sid,
		Type:              "Bearer",
		PreferredUsername: u.Username,
		Guest:             u.IsGuest,
		Scope:             strings.Join(roles, " "),
		RealmAccess:       realmAccess{Roles: roles},
	})
	if err != nil {
		return "", fmt.Errorf("auth: encode claims: %w", err)
	}
	jws, err := i.keys().signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return jws.CompactSerialize()
}

// DiscoveryHandler serves the OpenID Provider metadata; mount it at
// GET {URL}/.well-known/openid-configuration.
func (i *Issuer) DiscoveryHandler() http.Handler { return jsonDocument(i.discovery) }

// JWKSHandler serves the public signing key; mount it at
// GET {URL}/.well-known/jwks.json.
func (i *Issuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonDocument(i.keys().jwks).ServeHTTP(w, r)
	})
}

func jsonDocument(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(body)
	})
}

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// randomName returns 6 random characters from [a-z2-7]: 32 symbols, so a
// byte maps to one without bias.
func randomName() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	for k := range b {
		b[k] = alphabet[int(b[k])%len(alphabet)]
	}
	return string(b), nil
}

// hashRefreshToken is what the store keeps instead of the token: SHA-256, hex.
func hashRefreshToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}
