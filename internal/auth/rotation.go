package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/janhq/jan/internal/store"
)

// keyCheck is how often an issuer on shared keys reads them again: it
// picks up a key another replica rotated in, rotates when the active key
// is due, and deletes retired keys whose tokens have all expired.
const keyCheck = time.Minute

// keys is the ring to sign and verify with. On shared keys, the first call
// after keyCheck starts a read of the database in the background; this
// call and those meanwhile use the ring they have.
func (i *Issuer) keys() *keyring {
	if i.keyStore != nil && time.Now().UnixNano()-i.keysChecked.Load() >= int64(keyCheck) && i.keysLoading.CompareAndSwap(false, true) {
		i.keysChecked.Store(time.Now().UnixNano()) // a failed read is tried again after keyCheck, not at once
		go func() {
			defer i.keysLoading.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := i.maintainKeys(ctx); err != nil {
				i.log.Warn("signing keys: keeping the ones in memory", "err", err)
			}
		}()
	}
	return i.ring.Load()
}

// retiredKeep is how long a retired key still verifies: until the last
// token it signed has expired. A replica may sign with it for up to
// keyCheck after the rotation (until it reads the keys again).
func (i *Issuer) retiredKeep() time.Duration { return i.accessTTL + 2*ClockSkew + 2*keyCheck }

// maintainKeys rotates the active key when it is due (one replica wins;
// the others read its key), deletes retired keys past retiredKeep, and
// reads the keys.
func (i *Issuer) maintainKeys(ctx context.Context) error {
	now := i.now()
	if ring := i.ring.Load(); i.rotation > 0 && now.Sub(ring.created) >= i.rotation {
		key, err := rsa.GenerateKey(rand.Reader, keyBits)
		if err != nil {
			return err
		}
		k, err := storedKey(key, now)
		if err != nil {
			return err
		}
		switch err := i.keyStore.RotateSigningKey(ctx, ring.kid, k); {
		case err == nil:
			i.log.Info("rotated the signing key; the old one verifies until its tokens expire", "kid", k.KID, "retired", ring.kid, "verifies_for", i.retiredKeep())
		case !errors.Is(err, store.ErrConflict): // ErrConflict: another replica rotated first
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if _, err := i.keyStore.PruneSigningKeys(ctx, now.Add(-i.retiredKeep())); err != nil {
		return fmt.Errorf("delete retired keys: %w", err)
	}
	ring, err := loadKeyring(ctx, i.keyStore)
	if err != nil {
		return err
	}
	if ring != nil {
		i.ring.Store(ring)
	}
	return nil
}

// reloadForUnknownKey reads the keys now, for a token naming a key this
// process does not know (another replica rotated it in within keyCheck):
// at most once a second, so tokens naming made-up keys cost little.
func (i *Issuer) reloadForUnknownKey(ctx context.Context) {
	if i.keyStore == nil {
		return
	}
	i.reloadMu.Lock()
	defer i.reloadMu.Unlock()
	if time.Since(i.lastReload) < time.Second {
		return
	}
	i.lastReload = time.Now()
	if ring, err := loadKeyring(ctx, i.keyStore); err == nil && ring != nil {
		i.ring.Store(ring)
	}
}

// issuerKeys verifies signatures with the issuer's ring (an oidc.KeySet).
type issuerKeys struct{ i *Issuer }

func (k issuerKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(jwt, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("a token must have one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	pub := k.i.keys().verify[kid]
	if pub == nil {
		k.i.reloadForUnknownKey(ctx)
		pub = k.i.ring.Load().verify[kid]
	}
	if pub == nil {
		return nil, fmt.Errorf("token signed by an unknown key %q", kid)
	}
	return jws.Verify(pub)
}
