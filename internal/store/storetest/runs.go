package storetest

import (
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

func testRuns(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv, _ := newConversation(t, st, user, "question")

	run := &store.Run{ConversationID: conv.ID, UserID: user, Model: "llama"}
	must(t, st.CreateRun(c, run))
	wantPrefix(t, "run id", run.ID, store.PrefixRun)
	fresh(t, "run CreatedAt", run.CreatedAt)
	if run.Status != store.StatusInProgress || run.CompletedAt != nil {
		t.Errorf("new run = %+v, want in_progress and not completed", run)
	}
	got, err := st.GetRun(c, user, conv.ID, run.ID)
	must(t, err)
	sameTime(t, "run CreatedAt", got.CreatedAt, run.CreatedAt)
	got.CreatedAt = run.CreatedAt
	equal(t, "GetRun", got, run)

	// Finishing with an answer appends it and links it both ways.
	time.Sleep(2 * time.Millisecond)
	usage := &store.Usage{PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30}
	run.Status, run.Usage = store.StatusCompleted, usage
	answer := &store.Message{Content: "the answer", Usage: usage}
	must(t, st.FinishRun(c, run, answer))
	if run.MessageID == "" || run.MessageID != answer.ID || answer.RunID != run.ID {
		t.Errorf("run.MessageID %q, answer.ID %q, answer.RunID %q: want them linked", run.MessageID, answer.ID, answer.RunID)
	}
	if answer.Role != store.RoleAssistant || answer.Model != "llama" || answer.Status != store.StatusCompleted {
		t.Errorf("answer = %+v, want an assistant message of llama, completed", answer)
	}
	got, err = st.GetRun(c, user, conv.ID, run.ID)
	must(t, err)
	if got.Status != store.StatusCompleted || got.MessageID != answer.ID || got.CompletedAt == nil || got.Error != nil {
		t.Fatalf("finished run read back as %+v", got)
	}
	fresh(t, "CompletedAt", *got.CompletedAt)
	equal(t, "run usage", got.Usage, usage)

	hist, err := st.History(c, user, conv.ID)
	must(t, err)
	if len(hist) != 2 || hist[1].ID != answer.ID || hist[1].RunID != run.ID || hist[1].Content != "the answer" {
		t.Fatalf("history after FinishRun = %+v", hist)
	}
	equal(t, "answer usage", hist[1].Usage, usage)
	conv2, err := st.GetConversation(c, user, conv.ID)
	must(t, err)
	if !conv2.UpdatedAt.After(conv.UpdatedAt) || conv2.Model != "llama" {
		t.Errorf("conversation after FinishRun: UpdatedAt %v (was %v), Model %q", conv2.UpdatedAt, conv.UpdatedAt, conv2.Model)
	}

	// A run finishes once; a late second finish changes nothing.
	late := *run
	late.Status = store.StatusIncomplete
	wantErr(t, "second FinishRun", st.FinishRun(c, &late, &store.Message{Content: "again"}), store.ErrConflict)
	hist, err = st.History(c, user, conv.ID)
	must(t, err)
	if len(hist) != 2 {
		t.Errorf("a rejected FinishRun appended a message: %d messages", len(hist))
	}

	// A failed run keeps its error and has no answer.
	failed := &store.Run{ConversationID: conv.ID, UserID: user, Model: "llama"}
	must(t, st.CreateRun(c, failed))
	failed.Status = store.StatusFailed
	failed.Error = &store.RunError{Code: "upstream_error", Message: "provider returned 502"}
	must(t, st.FinishRun(c, failed, nil))
	got, err = st.GetRun(c, user, conv.ID, failed.ID)
	must(t, err)
	if got.Status != store.StatusFailed || got.MessageID != "" || got.Usage != nil {
		t.Errorf("failed run read back as %+v", got)
	}
	equal(t, "run error", got.Error, failed.Error)

	// A cut-short run's answer is incomplete unless the caller says otherwise.
	cut := &store.Run{ConversationID: conv.ID, UserID: user}
	must(t, st.CreateRun(c, cut))
	cut.Status = store.StatusIncomplete
	partial := &store.Message{Content: "partial"}
	must(t, st.FinishRun(c, cut, partial))
	if m, err := st.GetMessage(c, user, conv.ID, partial.ID); err != nil || m.Status != store.StatusIncomplete {
		t.Errorf("answer of an incomplete run: %+v, %v; want status incomplete", m, err)
	}

	wantErr(t, "FinishRun of a missing run",
		st.FinishRun(c, &store.Run{ID: "run_missing", ConversationID: conv.ID, UserID: user}, nil), store.ErrNotFound)
	wantErr(t, "CreateRun in a missing conversation",
		st.CreateRun(c, &store.Run{ConversationID: "conv_missing", UserID: user}), store.ErrNotFound)
	_, err = st.GetRun(c, user, conv.ID, "run_missing")
	wantErr(t, "GetRun of a missing run", err, store.ErrNotFound)
	other, _ := newConversation(t, st, user)
	_, err = st.GetRun(c, user, other.ID, run.ID)
	wantErr(t, "GetRun through another conversation", err, store.ErrNotFound)
}

// Runs left in progress by a process that died end incomplete with their
// checkpointed answer: those of the process now starting under the same
// owner name at once, others once their heartbeat is stale. Live runs, and
// runs that finished meanwhile, are left alone.
func testRecoverRuns(t *testing.T, st store.Store) {
	c := ctx(t)
	user := store.NewID(store.PrefixUser)
	conv, _ := newConversation(t, st, user, "question")
	newRun := func(owner string) *store.Run {
		r := &store.Run{ConversationID: conv.ID, UserID: user, Model: "llama", Owner: owner}
		must(t, st.CreateRun(c, r))
		return r
	}
	mine, mineSilent, other, done := newRun("host/127.0.0.1:8080"), newRun("host/127.0.0.1:8080"), newRun("host2/10.0.0.2:8080"), newRun("host/127.0.0.1:8080")
	must(t, st.CheckpointRun(c, mine.ID, "the answer so"))
	must(t, st.CheckpointRun(c, mine.ID, "the answer so far"))
	must(t, st.CheckpointRun(c, other.ID, "other's answer"))
	done.Status = store.StatusCompleted
	must(t, st.FinishRun(c, done, &store.Message{Content: "finished"}))
	must(t, st.CheckpointRun(c, done.ID, "a late checkpoint")) // changes nothing

	got, err := st.RecoverRuns(c, "host/127.0.0.1:8080", time.Now().Add(-time.Hour))
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("recovered %d runs, want this owner's two in progress: %+v", len(got), got)
	}
	check := func(r *store.Run, status, answer string) {
		t.Helper()
		g, err := st.GetRun(c, user, conv.ID, r.ID)
		must(t, err)
		if g.Status != status {
			t.Fatalf("run %s: %s, want %s", r.ID, g.Status, status)
		}
		if answer == "" {
			if g.MessageID != "" {
				t.Fatalf("run %s has a message, want none", r.ID)
			}
			return
		}
		m, err := st.GetMessage(c, user, conv.ID, g.MessageID)
		must(t, err)
		if m.Content != answer || m.RunID != r.ID {
			t.Fatalf("run %s message = %+v, want %q", r.ID, m, answer)
		}
		if status == store.StatusIncomplete && (m.Status != store.StatusIncomplete || g.Error == nil || g.Error.Code != "interrupted") {
			t.Fatalf("recovered run %s: message %s, error %+v", r.ID, m.Status, g.Error)
		}
	}
	check(mine, store.StatusIncomplete, "the answer so far")
	check(mineSilent, store.StatusIncomplete, "")
	check(other, store.StatusInProgress, "")
	check(done, store.StatusCompleted, "finished")

	// Another owner's run is recovered once its heartbeat is stale.
	got, err = st.RecoverRuns(c, "host/127.0.0.1:8080", time.Now().Add(time.Second))
	must(t, err)
	if len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("stale recovery: %+v, want %s", got, other.ID)
	}
	check(other, store.StatusIncomplete, "other's answer")
	if got, err := st.RecoverRuns(c, "host/127.0.0.1:8080", time.Now().Add(time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("a second recovery: %+v, %v; want nothing", got, err)
	}
}
