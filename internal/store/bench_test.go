package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/janhq/jan/internal/store"
)

// BenchmarkAppendTurn measures chat turns per second: one AppendMessages of a
// user and an assistant message, in one transaction, the write every chat
// request makes. "serial" is one client; "parallel" is GOMAXPROCS clients,
// each on its own conversation. Compare backends within one run: absolute
// figures depend on the machine (and Postgres on JAN_TEST_PG_FSYNC, see pgtest).
func BenchmarkAppendTurn(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite", func(b *testing.B) store.Store { return benchSQLite(b) }},
		{"postgres", func(b *testing.B) store.Store { return openPostgres(b) }},
	}
	for _, be := range backends {
		b.Run(be.name+"/serial", func(b *testing.B) {
			st := be.open(b)
			user := store.NewID(store.PrefixUser)
			conv := newBenchConversation(b, st, user)
			for b.Loop() {
				appendTurn(b, st, user, conv)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
		})
		b.Run(be.name+"/parallel", func(b *testing.B) {
			st := be.open(b)
			user := store.NewID(store.PrefixUser)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				conv := newBenchConversation(b, st, user)
				for pb.Next() {
					appendTurn(b, st, user, conv)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
		})
	}
}

func benchSQLite(b *testing.B) store.Store {
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "jan.db"), store.Options{AutoMigrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func newBenchConversation(b *testing.B, st store.Store, user string) string {
	conv := &store.Conversation{UserID: user, Title: "bench"}
	if err := st.CreateConversation(context.Background(), conv, nil); err != nil {
		b.Fatal(err)
	}
	return conv.ID
}

func appendTurn(b *testing.B, st store.Store, user, conv string) {
	err := st.AppendMessages(context.Background(), user, conv, []*store.Message{
		{Role: store.RoleUser, Content: "What is the capital of France?"},
		{Role: store.RoleAssistant, Content: "The capital of France is Paris.", Model: "llama-3.2-1b",
			Usage: &store.Usage{PromptTokens: 12, CompletionTokens: 8, TotalTokens: 20}},
	})
	if err != nil {
		b.Error(err)
	}
}
