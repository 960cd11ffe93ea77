package store

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
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

// NewID returns prefix + "_" + 24 URL-safe characters: the time in
// milliseconds (48 bits), then 96 random bits from crypto/rand, e.g.
// NewID("conv") = "conv_0PxR4vG2dH8a0xTqYb1n9zKc". A trailing "_" on prefix
// is accepted: NewID("conv_") gives the same shape.
//
// The characters are base64's URL-safe set in byte order, so ids sort by
// the millisecond they were made in. The point is the indexes: an id made
// now lands at the end of every B-tree keyed by it (messages and
// conversations by id, messages by conversation, idempotency records by
// principal), where the rows a burst of requests writes share a few pages,
// instead of one random page each: fewer pages for each commit to write to
// the WAL and for each checkpoint to copy (docs/BENCHMARKS.md). Ninety-six
// random bits keep ids unguessable; what an id gives away is when it was
// made, which created_at says anyway.
func NewID(prefix string) string {
	var b [18]byte // 18 bytes = exactly 24 base64 characters, no padding
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	_, _ = rand.Read(b[6:]) // never fails: crypto/rand aborts the program instead
	return strings.TrimSuffix(prefix, "_") + "_" + idEncoding.EncodeToString(b[:])
}

// idEncoding is base64 with the URL-safe characters in byte order.
var idEncoding = base64.NewEncoding("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz").WithPadding(base64.NoPadding)

// hasPrefix reports whether id looks like an id NewID(prefix) made.
func hasPrefix(id, prefix string) bool {
	return strings.HasPrefix(id, prefix+"_") && len(id) > len(prefix)+1
}
