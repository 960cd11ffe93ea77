package store

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// Id prefixes of the objects the store creates. An id's prefix says what it
// names, so a cursor of the wrong kind is rejected before any query runs.
const (
	PrefixUser         = "user"
	PrefixConversation = "conv"
	PrefixMessage      = "msg"
	PrefixRun          = "run"
	PrefixAPIKey       = "key"
	PrefixSession      = "sess"
	PrefixResponse     = "resp"
	PrefixProject      = "proj"
)

// NewID returns prefix + "_" + 24 URL-safe characters (144 random bits from
// crypto/rand), e.g. NewID("conv") = "conv_3q2-7wEvrnJ0bmA3kYcX_1Zb". A
// trailing "_" on prefix is accepted: NewID("conv_") gives the same shape.
func NewID(prefix string) string {
	var b [18]byte         // 18 bytes = exactly 24 base64 characters, no padding
	_, _ = rand.Read(b[:]) // never fails: crypto/rand aborts the program instead
	return strings.TrimSuffix(prefix, "_") + "_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// hasPrefix reports whether id looks like an id NewID(prefix) made.
func hasPrefix(id, prefix string) bool {
	return strings.HasPrefix(id, prefix+"_") && len(id) > len(prefix)+1
}
