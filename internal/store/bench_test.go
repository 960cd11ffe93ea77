package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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

// BenchmarkWriteStall measures how long writes wait while the checkpointer
// restarts the WAL: GOMAXPROCS×4 clients append chat turns to their own
// conversations, and each turn's time is recorded. "one-pass" is the
// RESTART straight after one passive checkpoint, waiting for a gap in the
// writes (the way before); "quick" runs passive ones until few pages are
// left and holds the committer for the RESTART (checkpoint.go). Compare
// p99.9, max and the pages each RESTART copied within one run.
//
//	go test -run '^$' -bench WriteStall -benchtime 5s ./internal/store
func BenchmarkWriteStall(b *testing.B) {
	for _, mode := range []struct {
		name  string
		quick bool
	}{{"one-pass", false}, {"quick", true}} {
		b.Run(mode.name, func(b *testing.B) {
			st := benchSQLite(b)
			store.QuickRestarts(st, mode.quick)
			user := store.NewID(store.PrefixUser)
			var mu sync.Mutex
			var took []time.Duration
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				conv := newBenchConversation(b, st, user)
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					appendTurn(b, st, user, conv)
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				took = append(took, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			slices.Sort(took)
			at := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))].Microseconds()) }
			_, restarts, _ := store.Checkpoints(st)
			b.ReportMetric(at(0.5), "p50-µs")
			b.ReportMetric(at(0.999), "p99.9-µs")
			b.ReportMetric(at(1), "max-µs")
			b.ReportMetric(float64(restarts), "restarts")
			if restarts > 0 {
				b.ReportMetric(float64(store.LeftToRestarts(st))/float64(restarts), "pages-left/restart")
			}
		})
	}
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

// benchBackends are the backends the store benchmarks compare.
var benchBackends = []struct {
	name string
	open func(b *testing.B) store.Store
}{
	{"sqlite", func(b *testing.B) store.Store { return benchSQLite(b) }},
	{"postgres", func(b *testing.B) store.Store { return openPostgres(b) }},
}

// benchResponse is a typical stored chat completion response.
var benchResponse = []byte(`{"id":"chatcmpl-7a1c9e","object":"chat.completion","created":1764154076,"model":"llama-3.2-1b",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris."},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}`)

// benchClient is one simulated client of the full-path benchmarks: a user
// who switches to a new conversation every 20 requests (as jan-bench's
// "jan full" column does), so stored histories stay at most 40 messages.
type benchClient struct {
	st    store.Store
	user  string
	conv  string
	turns int
}

func newBenchClient(_ *testing.B, st store.Store) *benchClient {
	return &benchClient{st: st, user: store.NewID(store.PrefixUser)}
}

// request makes the store calls of one chat completion with a conversation
// and an Idempotency-Key, in the server's order and with the server's
// contexts (the request's, cancellable; WithoutCancel for the append; a
// timeout for the completion); reads adds the history read.
func (c *benchClient) request(b *testing.B, reads bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if c.conv == "" || c.turns == 20 {
		c.conv, c.turns = newBenchConversation(b, c.st, c.user), 0
	}
	c.turns++
	k := store.IdempotencyKey{PrincipalID: c.user, Method: "POST", Path: "/v1/chat/completions", Key: store.NewID("idem")}
	prev, err := c.st.BeginIdempotent(ctx, &store.IdempotencyRecord{IdempotencyKey: k,
		BodyHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"})
	if err != nil || prev != nil {
		b.Errorf("BeginIdempotent = %v, %v", prev, err)
		return
	}
	if reads {
		if _, _, err := c.st.ConversationHistory(ctx, c.user, c.conv); err != nil {
			b.Error(err)
			return
		}
	}
	// The server records the key's answer in the turn's transaction
	// (store.WithIdempotentDone), and separately only if that did not.
	done := &store.IdempotentDone{Key: k, Status: 200, ContentType: "application/json", Body: benchResponse}
	err = c.st.AppendMessages(store.WithIdempotentDone(context.WithoutCancel(ctx), done), c.user, c.conv, []*store.Message{
		{Role: store.RoleUser, Content: "What is the capital of France?"},
		{Role: store.RoleAssistant, Content: "The capital of France is Paris.", Model: "llama-3.2-1b",
			Usage: &store.Usage{PromptTokens: 12, CompletionTokens: 8, TotalTokens: 20}},
	})
	if err != nil {
		b.Error(err)
		return
	}
	if done.Applied() {
		return
	}
	dbctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	if err := c.st.CompleteIdempotent(dbctx, k, 200, "application/json", benchResponse); err != nil {
		b.Error(err)
	}
}

// BenchmarkFullPathWAL counts the pages one full-path request adds to
// SQLite's WAL — what its commits write and a checkpoint copies back —
// with checkpoints paused so the WAL only grows: serially (a commit per
// write) and from 32 clients (the group commit shares pages between them).
// The conversations and users exist beforehand, as in jan-bench.
func BenchmarkFullPathWAL(b *testing.B) {
	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("%dclients", clients), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "jan.db")
			st, err := store.Open(context.Background(), path, store.Options{AutoMigrate: true})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			cs := make([]*benchClient, clients)
			for i := range cs {
				cs[i] = newBenchClient(b, st)
				cs[i].request(b, true) // the user's first conversation
			}
			store.PauseCheckpoints(st)
			if err := store.Checkpoint(st); err != nil { // the WAL starts over empty
				b.Fatal(err)
			}
			size := func() int64 {
				fi, err := os.Stat(path + "-wal")
				if err != nil {
					b.Fatal(err)
				}
				return fi.Size()
			}
			before := size()
			b.ResetTimer()
			var wg sync.WaitGroup
			next := make(chan struct{})
			for _, c := range cs {
				wg.Go(func() {
					for range next {
						c.request(b, true)
					}
				})
			}
			for b.Loop() {
				next <- struct{}{}
			}
			close(next)
			wg.Wait()
			const frame = 24 + 4096 // a frame's header and page
			b.ReportMetric(float64(size()-before)/frame/float64(b.N), "wal-pages/req")
		})
	}
}

// runFullPath runs request on every backend, serially and with GOMAXPROCS
// clients, reporting requests/s.
func runFullPath(b *testing.B, reads bool) {
	for _, be := range benchBackends {
		b.Run(be.name+"/serial", func(b *testing.B) {
			c := newBenchClient(b, be.open(b))
			cpu := cpuTime()
			for b.Loop() {
				c.request(b, reads)
			}
			reportRequests(b, cpu)
		})
		b.Run(be.name+"/parallel", func(b *testing.B) {
			st := be.open(b)
			b.ResetTimer()
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				c := newBenchClient(b, st)
				for pb.Next() {
					c.request(b, reads)
				}
			})
			reportRequests(b, cpu)
		})
		// As many clients as jan-bench's full-path column.
		b.Run(be.name+"/32clients", func(b *testing.B) {
			st := be.open(b)
			b.SetParallelism((32 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				c := newBenchClient(b, st)
				for pb.Next() {
					c.request(b, reads)
				}
			})
			reportRequests(b, cpu)
		})
	}
}

// BenchmarkFullPathWrites measures the writes of one "full path" chat
// request (a conversation and an Idempotency-Key): BeginIdempotent,
// AppendMessages of the user and assistant messages, CompleteIdempotent.
func BenchmarkFullPathWrites(b *testing.B) { runFullPath(b, false) }

// BenchmarkFullPath is BenchmarkFullPathWrites plus the history read
// (ConversationHistory) between BeginIdempotent and AppendMessages: all the
// store work of one full-path request.
func BenchmarkFullPath(b *testing.B) { runFullPath(b, true) }

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRequests reports requests/s and the CPU this process spent per
// request since cpu (for Postgres: the client side only, not the server's).
func reportRequests(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e3, "cpu-µs/req")
}

// BenchmarkConversationHistory measures the history read of a chat request:
// ConversationHistory of a conversation of 20 messages (10 turns), the
// average in jan-bench's full-path column.
func BenchmarkConversationHistory(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			user := store.NewID(store.PrefixUser)
			conv := newBenchConversation(b, st, user)
			for range 10 {
				appendTurn(b, st, user, conv)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for b.Loop() {
				if _, hist, err := st.ConversationHistory(ctx, user, conv); err != nil || len(hist) != 20 {
					b.Fatalf("ConversationHistory = %d messages, %v", len(hist), err)
				}
			}
		})
	}
}

// BenchmarkResponse is a stored response's writes on SQLite: created with
// its input item, finished with an output message of text bytes.
func BenchmarkResponse(b *testing.B) {
	for _, size := range []int{80, 1400} {
		b.Run(fmt.Sprintf("text=%d", size), func(b *testing.B) {
			st := benchSQLite(b)
			user := store.NewID(store.PrefixUser)
			ctx := context.Background()
			out := []byte(`{"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"` + strings.Repeat("x", size) + `","annotations":[]}]}`)
			for b.Loop() {
				r := &store.Response{UserID: user, Model: "m", Params: []byte(`{}`)}
				in := []store.ResponseItem{{ID: store.NewID("msg"), Input: true, Data: []byte(`{"type":"message","role":"user","content":[{"type":"input_text","text":"hello"}]}`)}}
				if err := st.CreateResponse(ctx, r, in); err != nil {
					b.Fatal(err)
				}
				r.Status = "completed"
				if err := st.FinishResponse(ctx, r, store.ResponseEnd{Output: []store.ResponseItem{{ID: store.NewID("msg"), Data: out}}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
