// Package storetest is the conformance suite every store.Store backend must
// pass, so SQLite and Postgres are held to one behaviour. A backend's test
// calls Run with a function that opens a fresh, empty store, and RunOpen with
// one that names a fresh, empty database:
//
//	func TestSQLite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

// Run runs the suite. open must return a new, empty, migrated store that is
// closed when t ends; each subtest gets its own and runs in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, st store.Store)
	}{
		{"Users", testUsers},
		{"Accounts", testAccounts},
		{"RefreshTokens", testRefreshTokens},
		{"RefreshTokenRace", testRefreshTokenRace},
		{"PurgeGuests", testPurgeGuests},
		{"APIKeys", testAPIKeys},
		{"ListUsers", testListUsers},
		{"IdempotencyPurge", testIdempotencyPurge},
		{"Conversations", testConversations},
		{"UpdateConversation", testUpdateConversation},
		{"Projects", testProjects},
		{"LoginStates", testLoginStates},
		{"SigningKeys", testSigningKeys},
		{"RotateSigningKeys", testRotateSigningKeys},
		{"Metadata", testMetadata},
		{"Messages", testMessages},
		{"ConcurrentAppends", testConcurrentAppends},
		{"ConversationPages", testConversationPages},
		{"MessagePages", testMessagePages},
		{"PageBytes", testPageBytes},
		{"ConversationHistory", testConversationHistory},
		{"BadCursors", testBadCursors},
		{"Ownership", testOwnership},
		{"CascadeDelete", testCascadeDelete},
		{"Runs", testRuns},
		{"RecoverRuns", testRecoverRuns},
		{"Responses", testResponses},
		{"RecoverResponses", testRecoverResponses},
		{"Models", testModels},
		{"Idempotency", testIdempotency},
		{"IdempotencyExpiry", testIdempotencyExpiry},
		{"IdempotencyRace", testIdempotencyRace},
		{"ConcurrentMixedWrites", testConcurrentMixedWrites},
		{"CancelledWrite", testCancelledWrite},
		{"WriteAfterClose", testWriteAfterClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// ctx is the test's context with a generous deadline, so a hung database
// fails the test instead of the whole binary.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails t unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// equal fails t unless got and want are deeply equal; times must be equal
// instants (compare them with sameTime first, then zero them).
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// fresh checks a time the store filled in: set, UTC, recent, microseconds.
func fresh(t *testing.T, what string, ts time.Time) {
	t.Helper()
	switch {
	case ts.IsZero():
		t.Errorf("%s: not set", what)
	case ts.Location() != time.UTC:
		t.Errorf("%s: %v is not UTC", what, ts)
	case time.Since(ts) > time.Minute || time.Until(ts) > time.Minute:
		t.Errorf("%s: %v is not now", what, ts)
	case ts.Nanosecond()%1000 != 0:
		t.Errorf("%s: %v has sub-microsecond digits the database cannot keep", what, ts)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func wantPrefix(t *testing.T, what, id, prefix string) {
	t.Helper()
	if !strings.HasPrefix(id, prefix+"_") || len(id) != len(prefix)+1+24 {
		t.Errorf("%s: id %q is not %s_ + 24 characters", what, id, prefix)
	}
}

// newConversation creates a conversation of userID with the given messages.
func newConversation(t *testing.T, st store.Store, userID string, msgs ...string) (*store.Conversation, []*store.Message) {
	t.Helper()
	c := &store.Conversation{UserID: userID, Title: "chat"}
	var ms []*store.Message
	for i, content := range msgs {
		role := store.RoleUser
		if i%2 == 1 {
			role = store.RoleAssistant
		}
		ms = append(ms, &store.Message{Role: role, Content: content})
	}
	must(t, st.CreateConversation(ctx(t), c, ms))
	return c, ms
}

func ids[T any](list []T, id func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = id(v)
	}
	return out
}

func convID(c store.Conversation) string { return c.ID }
func msgID(m store.Message) string       { return m.ID }

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func nth(prefix string, i int) string { return fmt.Sprintf("%s-%03d", prefix, i) }

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
