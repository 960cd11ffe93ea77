package store_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
	"github.com/janhq/jan/internal/store/storetest"
)

func openSQLite(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, store.Options{AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "jan.db"))
	})
}

func TestSQLiteOpen(t *testing.T) {
	storetest.RunOpen(t, func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "jan.db")
	})
}

func TestSQLiteDSNForms(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "plain.db"),
		"sqlite:" + filepath.Join(dir, "prefixed.db"),
		"sqlite://" + filepath.Join(dir, "url.db"),
		"sqlite:" + filepath.Join(dir, "new", "dir", "nested.db"), // directories are created
	} {
		st := openSQLite(t, dsn)
		if err := st.Ping(context.Background()); err != nil {
			t.Errorf("%s: %v", dsn, err)
		}
	}
	for _, dsn := range []string{"", ":memory:", "sqlite::memory:", "mysql://u:p@h/db"} {
		if st, err := store.Open(context.Background(), dsn, store.Options{AutoMigrate: true}); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded, want an error", dsn)
		}
	}
}

func TestSQLiteUnavailable(t *testing.T) {
	// A path below a regular file can never be opened.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(context.Background(), filepath.Join(file, "jan.db"), store.Options{AutoMigrate: true})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open below a file: %v, want ErrUnavailable", err)
	}
}

// Two stores on one file (as two jan processes would be) write concurrently
// without SQLITE_BUSY errors: each transaction takes the write lock at BEGIN
// (_txlock=immediate) and waits for it (busy_timeout) instead of failing.
func TestSQLiteTwoStoresOneFile(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "jan.db")
	a, b := openSQLite(t, dsn), openSQLite(t, dsn)
	ctx := context.Background()
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user}
	if err := a.CreateConversation(ctx, conv, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for range 20 {
		go func() {
			done <- b.AppendMessages(ctx, user, conv.ID, []*store.Message{{Role: store.RoleUser, Content: "b"}})
		}()
		go func() {
			done <- a.AppendMessages(ctx, user, conv.ID, []*store.Message{{Role: store.RoleUser, Content: "a"}})
		}()
	}
	for range 40 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	hist, err := b.History(ctx, user, conv.ID)
	if err != nil || len(hist) != 40 {
		t.Errorf("History = %d messages, %v; want 40", len(hist), err)
	}
}

// crashChildEnv makes the test binary act as a writer that gets killed.
const crashChildEnv = "JAN_STORE_CRASH_CHILD_DB"

// crashChild appends turns forever from several goroutines (so that the
// writer commits them in groups), printing each message id once
// AppendMessages has returned, until it is killed.
func crashChild() {
	ctx := context.Background()
	st, err := store.Open(ctx, os.Getenv(crashChildEnv), store.Options{AutoMigrate: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	user := "user_crash"
	conv := &store.Conversation{ID: "conv_crash", UserID: user}
	if err := st.CreateConversation(ctx, conv, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for range 8 {
		go func() {
			for {
				q := &store.Message{Role: store.RoleUser, Content: "q"}
				a := &store.Message{Role: store.RoleAssistant, Content: "a"}
				if err := st.AppendMessages(ctx, user, conv.ID, []*store.Message{q, a}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Println(q.ID, a.ID) // os.Stdout is unbuffered: acknowledged now
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestSQLiteSurvivesKill: after kill -9, every write whose call had returned
// is still there (WAL + synchronous=NORMAL is durable across process crashes).
func TestSQLiteSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	db := filepath.Join(t.TempDir(), "jan.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+db)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		acked = append(acked, strings.Fields(lines.Text())...)
		if len(acked) == 400 {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	err = cmd.Wait()
	if len(acked) < 400 {
		t.Fatalf("child acknowledged only %d messages before exiting: %v", len(acked), err)
	}
	st := openSQLite(t, db)
	hist, err := st.History(context.Background(), "user_crash", "conv_crash")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, m := range hist {
		have[m.ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Fatalf("acknowledged message %s lost after kill -9 (%d acknowledged, %d stored)", id, len(acked), len(hist))
		}
	}
	t.Logf("%d acknowledged messages, %d stored after kill -9", len(acked), len(hist))
}

// The database and its WAL files are readable by their owner only, even
// when an earlier version left them open to others.
func TestAttackSQLiteFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jan.db")
	st := openSQLite(t, path)
	if err := st.CreateUser(context.Background(), &store.User{IsGuest: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(p), perm)
		}
	}
	st.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	openSQLite(t, path)
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("an existing 0644 database stayed %04o", fi.Mode().Perm())
	}
}

// TestSQLiteCheckpointsOffTheWriter: the writer never checkpoints (its
// automatic checkpoints are off); the checkpointer does, after writes, and
// keeps the WAL from growing under writes that never pause, which passive
// checkpoints alone cannot (see checkpoint.go). Closing the store folds the
// WAL into the database file and removes it.
func TestSQLiteCheckpointsOffTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jan.db")
	st, err := store.Open(context.Background(), path, store.Options{AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			st.Close()
		}
	}()
	if v, err := store.WriterPragma(st, "wal_autocheckpoint"); err != nil || v != "0" {
		t.Fatalf("writer's wal_autocheckpoint = %q, %v; want 0", v, err)
	}
	const restartAt = 64
	store.CheckpointAt(st, restartAt)
	ctx := context.Background()
	user := store.NewID(store.PrefixUser)
	convs := make([]*store.Conversation, 8)
	for i := range convs {
		convs[i] = &store.Conversation{UserID: user}
		if err := st.CreateConversation(ctx, convs[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	// Eight writers, never pausing, with readers beside them.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var writes, maxWAL atomic.Int64 // maxWAL: the -wal file's size in pages, for the log
	// repeat runs f until stop is closed or f fails.
	repeat := func(f func() error) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := f(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for _, conv := range convs {
		repeat(func() error {
			msg := &store.Message{Role: store.RoleUser, Content: strings.Repeat("x", 500)}
			if err := st.AppendMessages(ctx, user, conv.ID, []*store.Message{msg}); err != nil {
				return err
			}
			writes.Add(1)
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size()/4096 > maxWAL.Load() {
				maxWAL.Store(fi.Size() / 4096)
			}
			return nil
		})
		repeat(func() error {
			_, _, err := st.ListMessages(ctx, user, conv.ID, store.Page{Limit: 20})
			return err
		})
	}
	// Until the checkpointer has restarted the WAL and seen it start over,
	// or 20 s. (When the writes are slow — the race detector — a passive
	// checkpoint alone can catch up and the WAL start over before any
	// restart: that proves nothing about the restarts.)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, restarts, rewinds := store.Checkpoints(st); restarts > 0 && rewinds > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	passes, restarts, rewinds := store.Checkpoints(st)
	t.Logf("%d writes; %d passive checkpoints, %d restarts (%d pages left to them), %d times the WAL had started over; the WAL file reached %d pages",
		writes.Load(), passes, restarts, store.LeftToRestarts(st), rewinds, maxWAL.Load())
	// Passive checkpoints alone never let a writer that never pauses start
	// the WAL over: it would only grow.
	if restarts == 0 || rewinds == 0 {
		t.Errorf("in 20 s of writes the WAL never started over (%d restarting checkpoints)", restarts)
	}
	closed = true
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close the WAL is still there (%v)", err)
	}
}

// A RESTART checkpoint holds the committer between batches rather than
// waiting for a gap in its writes: while held, a write waits; released, it
// commits.
func TestSQLiteRestartHoldsTheCommitter(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "jan.db"), store.Options{AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	conv := &store.Conversation{UserID: store.NewID(store.PrefixUser)}
	if err := st.CreateConversation(ctx, conv, nil); err != nil {
		t.Fatal(err)
	}
	release := store.HoldCommitter(st)
	done := make(chan error, 1)
	go func() {
		done <- st.AppendMessages(ctx, conv.UserID, conv.ID, []*store.Message{{Role: store.RoleUser, Content: "held"}})
	}()
	select {
	case err := <-done:
		release()
		t.Fatalf("a write finished while the committer was held (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if msgs, _, err := st.ListMessages(ctx, conv.UserID, conv.ID, store.Page{Limit: 10}); err != nil || len(msgs) != 1 {
		t.Fatalf("after release: %d messages, %v", len(msgs), err)
	}
}

// The history cache stays true with two writers: two stores on one file
// (two processes) append to one conversation at once and each reads its
// history through its cache after every append; at the end, each cache's
// history is the database's, in its order.
func TestSQLiteHistoryCacheTwoWriters(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "jan.db")
	stores := []store.Store{openSQLite(t, dsn), openSQLite(t, dsn)}
	ctx := context.Background()
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user}
	if err := stores[0].CreateConversation(ctx, conv, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, st := range stores {
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 15 {
					m := &store.Message{Role: store.RoleUser, Content: fmt.Sprintf("store %d, writer %d, turn %d", i, g, n)}
					if err := st.AppendMessages(ctx, user, conv.ID, []*store.Message{m}); err != nil {
						t.Error(err)
						return
					}
					if _, _, err := st.ConversationHistory(ctx, user, conv.ID); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	want, err := stores[0].History(ctx, user, conv.ID) // never cached
	if err != nil || len(want) != 90 {
		t.Fatalf("History: %d messages, %v; want 90", len(want), err)
	}
	for i, st := range stores {
		_, got, err := st.ConversationHistory(ctx, user, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("store %d: its cached history has %d messages, the database %d", i, len(got), len(want))
			continue
		}
		for k := range want {
			if got[k].ID != want[k].ID || got[k].Content != want[k].Content {
				t.Errorf("store %d: message %d is %s %q, the database's %s %q", i, k, got[k].ID, got[k].Content, want[k].ID, want[k].Content)
				break
			}
		}
	}
}

// A conversation's history is served from the cache without a read once the
// writer has seen it current, and stops being so served by every change the
// cache does not follow: this store's other writes to the conversation, and
// any commit of another store (another process) on the file, seen before the
// next turn's history is served.
func TestSQLiteTrustedHistory(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "jan.db")
	a, b := openSQLite(t, dsn), openSQLite(t, dsn)
	ctx := context.Background()
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user, Title: "one"}
	if err := a.CreateConversation(ctx, conv, []*store.Message{{Role: store.RoleUser, Content: "m1"}}); err != nil {
		t.Fatal(err)
	}
	history := func(st store.Store) (*store.Conversation, []string, bool) {
		t.Helper()
		hits := store.TrustedHistories(st)
		c, msgs, err := st.ConversationHistory(ctx, user, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		var contents []string
		for _, m := range msgs {
			contents = append(contents, m.Content)
		}
		return c, contents, store.TrustedHistories(st) > hits
	}
	check := func(what string, st store.Store, title string, trusted bool, want ...string) {
		t.Helper()
		c, got, hit := history(st)
		if c.Title != title || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %q %v, want %q %v", what, c.Title, got, title, want)
		}
		if hit != trusted {
			t.Errorf("%s: served from the cache without a read: %v, want %v", what, hit, trusted)
		}
	}
	check("first read", a, "one", false, "m1")
	check("second (the writer sees the entry current)", a, "one", false, "m1")
	check("third", a, "one", true, "m1")
	if err := a.AppendMessages(ctx, user, conv.ID, []*store.Message{{Role: store.RoleAssistant, Content: "m2"}}); err != nil {
		t.Fatal(err)
	}
	check("after its own append", a, "one", true, "m1", "m2")

	title := "two"
	if _, err := a.UpdateConversation(ctx, user, conv.ID, store.ConversationUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	check("after its own rename", a, "two", false, "m1", "m2")
	check("then (the writer sees the entry current)", a, "two", false, "m1", "m2")
	check("then", a, "two", true, "m1", "m2")

	if err := b.AppendMessages(ctx, user, conv.ID, []*store.Message{{Role: store.RoleUser, Content: "m3"}}); err != nil {
		t.Fatal(err)
	}
	check("after another store's append", a, "two", false, "m1", "m2", "m3")
	check("then (the writer sees the entry current)", a, "two", false, "m1", "m2", "m3")
	check("then", a, "two", true, "m1", "m2", "m3")

	// Another store's write anywhere (here a new user) is a commit a cannot
	// tell from one to this conversation: it reads the row again.
	if err := b.CreateUser(ctx, &store.User{ID: store.NewID(store.PrefixUser), Username: "u"}); err != nil {
		t.Fatal(err)
	}
	check("after another store's unrelated write", a, "two", false, "m1", "m2", "m3")
	check("then", a, "two", true, "m1", "m2", "m3")

	if err := b.DeleteConversation(ctx, user, conv.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.ConversationHistory(ctx, user, conv.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after another store deleted it: %v, want ErrNotFound", err)
	}
}

// A request whose history read comes after a look at data_version that
// began after the request did (its Idempotency-Key's claim looks) is served
// a trusted entry without a trip through the committer — and only then:
// another process's commit made before the request is always seen.
func TestSQLiteTrustedHistoryAfterALook(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "jan.db")
	a, b := openSQLite(t, dsn), openSQLite(t, dsn)
	bg := context.Background()
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user, Title: "one"}
	if err := a.CreateConversation(bg, conv, []*store.Message{{Role: store.RoleUser, Content: "m1"}}); err != nil {
		t.Fatal(err)
	}
	claim := func(ctx context.Context) {
		t.Helper()
		k := store.IdempotencyKey{PrincipalID: user, Method: "POST", Path: "/v1/chat/completions", Key: store.NewID("k")}
		if live, err := a.BeginIdempotent(ctx, &store.IdempotencyRecord{IdempotencyKey: k}); err != nil || live != nil {
			t.Fatalf("BeginIdempotent = %v, %v", live, err)
		}
	}
	// check reads the history in a request that started now, after a claim
	// if claimed, and reports whether the committer ran an operation for it.
	check := func(what string, claimed, viaCommitter bool, want ...string) {
		t.Helper()
		ctx := store.WithStart(bg, time.Now())
		if claimed {
			claim(ctx)
		}
		_, ops0, _ := store.GroupCommits(a)
		_, msgs, err := a.ConversationHistory(ctx, user, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, ops1, _ := store.GroupCommits(a)
		var got []string
		for _, m := range msgs {
			got = append(got, m.Content)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
		if ran := ops1 > ops0; ran != viaCommitter {
			t.Errorf("%s: read through the committer: %v, want %v", what, ran, viaCommitter)
		}
	}
	check("first read", true, false, "m1") // nothing cached: a reader reads it
	check("second (the writer finds the entry current)", true, true, "m1")
	check("trusted, after a claim", true, false, "m1")
	check("trusted, no look since the request began", false, true, "m1")

	if err := b.AppendMessages(bg, user, conv.ID, []*store.Message{{Role: store.RoleAssistant, Content: "m2"}}); err != nil {
		t.Fatal(err)
	}
	check("another store appended, then a claim", true, true, "m1", "m2")
	check("then (the writer finds the entry current)", true, true, "m1", "m2")
	check("trusted again", true, false, "m1", "m2")

	if err := b.AppendMessages(bg, user, conv.ID, []*store.Message{{Role: store.RoleUser, Content: "m3"}}); err != nil {
		t.Fatal(err)
	}
	check("another store appended, no claim", false, true, "m1", "m2", "m3")
	check("then", false, true, "m1", "m2", "m3")
	check("trusted again, after a claim", true, false, "m1", "m2", "m3")

	// A look made before the request began is not enough, even if the
	// entry is trusted: b's commit came after it.
	claim(bg)
	if err := b.AppendMessages(bg, user, conv.ID, []*store.Message{{Role: store.RoleAssistant, Content: "m4"}}); err != nil {
		t.Fatal(err)
	}
	check("a look before the request, then another store's append", false, true, "m1", "m2", "m3", "m4")
}

// The commit delay waits for more writes only when writes come
// concurrently: a lone writer's writes are never held back. (How much it
// gathers is a matter for the benchmarks: BenchmarkFullPath, jan-bench.)
func TestSQLiteCommitDelay(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "jan.db"))
	ctx := context.Background()
	user := func() *store.User { return &store.User{ID: store.NewID(store.PrefixUser)} }
	b0, _, _ := store.GroupCommits(st)
	for range 30 {
		if err := st.CreateUser(ctx, user()); err != nil {
			t.Fatal(err)
		}
	}
	if b, _, lingered := store.GroupCommits(st); lingered != 0 || b-b0 != 30 {
		t.Errorf("a lone writer: %d batches for 30 writes, %d of them waited for more; want 30 and none", b-b0, lingered)
	}

	b0, o0, _ := store.GroupCommits(st)
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			for range 20 {
				if err := st.CreateUser(ctx, user()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	close(begin)
	wg.Wait()
	b, o, lingered := store.GroupCommits(st)
	if o-o0 != 320 {
		t.Errorf("%d operations committed, want 320", o-o0)
	}
	if lingered == 0 {
		t.Errorf("16 concurrent writers: %d batches, none waited for more", b-b0)
	}
	t.Logf("16 concurrent writers: %d batches, %.1f writes each, %d waited for more", b-b0, float64(o-o0)/float64(b-b0), lingered)

	// Two writers writing back to back are both in every batch moments
	// after it starts: the rest of a wait brings nothing, and after such a
	// wait the committer does not wait again for a while (it waited on every
	// batch: a fifth of the throughput).
	b0, _, l0 := store.GroupCommits(st)
	start := time.Now()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				if err := st.CreateUser(ctx, user()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b, _, lingered = store.GroupCommits(st)
	// Three waits (lingerWasted) per 100 ms (lingerQuiet), and the ones
	// while the two start — when both writers get the CPU whenever they
	// want it. On a busy machine (CI runs packages side by side on two
	// cores) a writer held off the CPU arrives late in a wait, which makes
	// that wait look useful, and the count goes up; what must not happen
	// is waiting on most batches, as the committer did before.
	waits, batches := lingered-l0, b-b0
	t.Logf("two writers, 600 writes in %v: %d batches, %d waited for more (at most %d with the CPU to spare)",
		time.Since(start), batches, waits, 2+3*(1+int64(time.Since(start)/(100*time.Millisecond))))
	if waits*4 > batches {
		t.Errorf("two writers: %d of %d batches waited for more, want at most a quarter", waits, batches)
	}
}

// The cached history is handed out without a copy: what a caller appends to
// its slice stays its own, and the cache's next append does not show
// through the caller's slice.
func TestSQLiteSharedHistory(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "jan.db"))
	ctx := context.Background()
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user}
	if err := st.CreateConversation(ctx, conv, []*store.Message{{Role: store.RoleUser, Content: "m1"}}); err != nil {
		t.Fatal(err)
	}
	var mine []store.Message
	for turn := range 6 {
		_, h, err := st.ConversationHistory(ctx, user, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1+turn {
			t.Fatalf("turn %d: %d messages, want %d", turn, len(h), 1+turn)
		}
		mine = append(h, store.Message{Content: fmt.Sprintf("caller's %d", turn)})
		if err := st.AppendMessages(ctx, user, conv.ID, []*store.Message{{Role: store.RoleAssistant, Content: fmt.Sprintf("stored %d", turn)}}); err != nil {
			t.Fatal(err)
		}
		if got := mine[len(mine)-1].Content; got != fmt.Sprintf("caller's %d", turn) {
			t.Fatalf("turn %d: the caller's appended message reads %q after the store's append", turn, got)
		}
	}
	_, h, err := st.ConversationHistory(ctx, user, conv.ID)
	if err != nil || len(h) != 7 || h[6].Content != "stored 5" || h[1].Content != "stored 0" {
		t.Fatalf("history after the turns: %d messages, %v", len(h), err)
	}
}
