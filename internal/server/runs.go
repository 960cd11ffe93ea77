package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

// A run takes a conversation's messages through a model and stores the
// answer once, at the end: completed, or incomplete when cancelled or the
// client left (the partial answer is kept), or failed on an engine error.

// errRunCancelled is the cause of a run stopped by the cancel endpoint.
var errRunCancelled = errors.New("run cancelled")

// activeRun is a run executing in this process.
type activeRun struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
	hub    *eventHub // a background response's events; nil for runs
	// content is a run's answer so far, for a stream resumed on this
	// process (others read the checkpoint); sent, of a streamed run, the
	// bytes of it sent to its client.
	content atomic.Pointer[string]
	sent    *atomic.Int64
}

type runJSON struct {
	ID             string          `json:"id"`
	Object         string          `json:"object"`
	ConversationID string          `json:"conversation_id"`
	Status         string          `json:"status"`
	Model          string          `json:"model"`
	Message        *messageJSON    `json:"message"`
	Usage          *store.Usage    `json:"usage"`
	Error          *store.RunError `json:"error"`
	CreatedAt      int64           `json:"created_at"`
	CompletedAt    *int64          `json:"completed_at"`
}

func toRunJSON(r *store.Run, msg *store.Message) runJSON {
	j := runJSON{ID: r.ID, Object: "run", ConversationID: r.ConversationID, Status: r.Status, Model: r.Model,
		Usage: r.Usage, Error: r.Error, CreatedAt: r.CreatedAt.Unix()}
	if msg != nil {
		m := toMessageJSON(msg)
		j.Message = &m
	}
	if r.CompletedAt != nil {
		t := r.CompletedAt.Unix()
		j.CompletedAt = &t
	}
	return j
}

type runRequest struct {
	Model        *string  `json:"model"`
	Stream       *bool    `json:"stream"`
	Temperature  *float64 `json:"temperature"`
	MaxTokens    *int     `json:"max_tokens"`
	Instructions *string  `json:"instructions"`
	// Background keeps the run going when its client leaves (and, without
	// stream, answers at once); GET …/events resumes it.
	Background *bool `json:"background"`
}

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) {
	var req runRequest
	if len(body(r)) > 0 {
		if err := decodeJSON(r, &req); err != nil {
			writeError(w, r, err)
			return
		}
	}
	stream, err := queryBool(r, "stream")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if req.Stream != nil {
		stream = *req.Stream
	}
	if req.MaxTokens != nil && *req.MaxTokens < 1 {
		writeError(w, r, errInvalid("max_tokens", "invalid_value", "max_tokens must be at least 1"))
		return
	}
	if req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2) {
		writeError(w, r, errInvalid("temperature", "invalid_value", "temperature must be between 0 and 2"))
		return
	}
	id := r.PathValue("id")
	conv, history, err := s.store.ConversationHistory(r.Context(), principal(r).ID, id)
	if err != nil {
		writeError(w, r, notFoundAs(err, "conversation_not_found", "conversation %q not found", id))
		return
	}
	model := conv.Model
	if req.Model != nil {
		model = *req.Model
	}
	if model == "" {
		if model = s.models.DefaultModel(); model == "" {
			writeError(w, r, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
				Message: "no model is served here: start a local engine (Ollama, LM Studio, vLLM) or configure providers.yaml"})
			return
		}
	}
	rt, err := s.route(model)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if len(history) == 0 {
		writeError(w, r, errInvalid("", "empty_conversation", "the conversation has no messages; add one with POST /v1/conversations/{id}/messages first"))
		return
	}
	if history, err = s.withInstruction(r.Context(), conv, history); err != nil {
		writeError(w, r, err)
		return
	}
	upstreamBody, err := runBody(rt, history, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	background := req.Background != nil && *req.Background
	release := func() {}
	if stream || background {
		if release, err = s.openStream(r); err != nil {
			writeError(w, r, err)
			return
		}
	}

	run := &store.Run{ConversationID: conv.ID, UserID: conv.UserID, Model: rt.PublicID, Status: store.StatusInProgress, Owner: s.durability.Instance}
	markExecuted(w)
	if err := s.store.CreateRun(r.Context(), run); err != nil {
		release()
		writeError(w, r, err)
		return
	}
	// A background run outlives its client: only a cancel or the server
	// stopping ends it early.
	base := r.Context()
	if background {
		base = context.WithoutCancel(base)
	}
	ctx, cancel := s.withStop(base)
	active := &activeRun{cancel: cancel, done: make(chan struct{})}
	s.runsMu.Lock()
	s.runs[run.ID] = active
	s.runsMu.Unlock()
	finish := func() {
		s.runsMu.Lock()
		delete(s.runs, run.ID)
		s.runsMu.Unlock()
		close(active.done)
		cancel(nil)
		release()
	}

	if background && !stream {
		// Answered at once; GET …/runs/{run_id} or …/events follows it.
		go func() {
			defer finish()
			s.executeRun(ctx, nil, nil, run, rt, upstreamBody, active)
		}()
		writeJSON(w, http.StatusOK, toRunJSON(run, nil))
		return
	}
	defer finish()
	var sse *sseWriter
	if stream {
		w.Header().Set("X-Run-Id", run.ID)
		sse = startSSE(w, s.keepalive)
		defer sse.close()
		var sent atomic.Int64 // bytes of answer sent: each event's id
		sse.id = func() string { return strconv.FormatInt(sent.Load(), 10) }
		active.sent = &sent
		sse.event(toRunJSON(run, nil))
	}
	msg, err := s.executeRun(ctx, w, sse, run, rt, upstreamBody, active)
	if stream {
		sse.event(toRunJSON(run, msg))
		s.endStream(ctx, sse, runError(err))
		return
	}
	if run.Status == store.StatusFailed {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRunJSON(run, msg))
}

// executeRun runs the turn of a run (its chunks to sse when there is one;
// w is nil for a background run nobody waits on),
// keeps the answer so far in active and checkpointed, and stores the final
// state before returning the run's message and how it ended.
func (s *Server) executeRun(ctx context.Context, w http.ResponseWriter, sse *sseWriter, run *store.Run, rt inference.Route, body []byte, active *activeRun) (*store.Message, error) {
	// The engine always streams, so a run that is cancelled or cut short
	// keeps what was generated; the client sees it only when it streams.
	cp := s.checkpoints(func(ctx context.Context, partial string) error { return s.store.CheckpointRun(ctx, run.ID, partial) })
	t := &turn{s: s, rt: rt, body: body, streamed: true, sse: sse,
		each: func(acc *inference.Accumulator, _ bool) {
			cp.update(acc.Content)
			content := acc.Content
			active.content.Store(&content)
			if active.sent != nil {
				active.sent.Store(int64(len(content)))
			}
		}}
	ans := t.exchange(ctx)
	cp.stop()
	err := ans.Err
	msg := s.finishRun(ctx, run, ans)
	// The run's final state is told only once it is stored.
	if ferr := t.save(ctx, w, func(c context.Context) error { return s.finishStored(c, run, msg) }); ferr != nil {
		logFrom(ctx).Error("finish run", "run", run.ID, "err", ferr)
		err = ferr
		s.unsaved(ctx, run, msg, ferr)
	}
	return msg, err
}

// finishStored stores the run's final state. A conflict after a retry may
// be the first attempt's commit, whose answer was lost with the connection:
// the stored run then holds this very message (its id is random) and the
// write is done.
func (s *Server) finishStored(ctx context.Context, run *store.Run, msg *store.Message) error {
	err := s.store.FinishRun(ctx, run, msg)
	if errors.Is(err, store.ErrConflict) {
		if got, gerr := s.store.GetRun(ctx, run.UserID, run.ConversationID, run.ID); gerr == nil &&
			got.Status == run.Status && got.MessageID == run.MessageID && (msg == nil || got.MessageID != "") {
			return nil
		}
	}
	return err
}

// unsaved turns a run whose final write failed into what the client is
// told: failed, with the error, and the answer (not stored, so without an
// id) in its message. The run stays in progress in the database until it
// is recovered with its last checkpoint.
func (s *Server) unsaved(ctx context.Context, run *store.Run, msg *store.Message, err error) {
	ae := toAPIError(ctx, err)
	run.Status, run.MessageID = store.StatusFailed, ""
	run.Error = &store.RunError{Code: ae.Code, Message: "the answer could not be saved: " + ae.Message}
	if msg != nil {
		msg.ID, msg.Status = "", store.StatusIncomplete
	}
}

// runError is the error a run's stream reports: none when it was stopped on
// purpose (cancel endpoint, client gone).
func runError(err error) error {
	if err == nil || errors.Is(err, errRunCancelled) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// finishRun sets the run's final state from how its answer ended and
// returns the assistant message to store (nil when there is nothing to
// keep).
func (s *Server) finishRun(ctx context.Context, run *store.Run, ans *answer) *store.Message {
	now := time.Now()
	run.CompletedAt = &now
	run.Usage = ans.Usage
	msg := &store.Message{Role: store.RoleAssistant, Content: ans.Content, Model: run.Model, RunID: run.ID, Usage: run.Usage}
	switch {
	case ans.Finished:
		run.Status, msg.Status = store.StatusCompleted, store.StatusCompleted
	case runError(ans.Err) == nil || errors.Is(ans.Err, errShuttingDown):
		run.Status, msg.Status = store.StatusIncomplete, store.StatusIncomplete
	default:
		ae := toAPIError(ctx, ans.Err)
		run.Status, msg.Status = store.StatusFailed, store.StatusIncomplete
		run.Error = &store.RunError{Code: ae.Code, Message: ae.Message}
		if ans.Content == "" {
			return nil
		}
	}
	return msg
}

// runBody builds the engine request for a run: instructions as a system
// message, then the conversation. Runs always stream from the engine so that
// a cancelled run keeps what was generated.
func runBody(rt inference.Route, history []store.Message, req runRequest) ([]byte, error) {
	return json.Marshal(struct {
		Model         string          `json:"model"`
		Messages      json.RawMessage `json:"messages"`
		Stream        bool            `json:"stream"`
		StreamOptions map[string]bool `json:"stream_options"`
		Temperature   *float64        `json:"temperature,omitempty"`
		MaxTokens     *int            `json:"max_tokens,omitempty"`
	}{rt.ServedName, messagesJSON(req.Instructions, encodeHistory(nil, history), nil), true, map[string]bool{"include_usage": true}, req.Temperature, req.MaxTokens})
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	run, msg, err := s.loadRun(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRunJSON(run, msg))
}

func (s *Server) loadRun(r *http.Request) (*store.Run, *store.Message, error) {
	uid, conv, id := principal(r).ID, r.PathValue("id"), r.PathValue("run_id")
	run, err := s.store.GetRun(r.Context(), uid, conv, id)
	if err != nil {
		return nil, nil, notFoundAs(err, "run_not_found", "run %q not found in conversation %q", id, conv)
	}
	var msg *store.Message
	if run.MessageID != "" {
		if msg, err = s.store.GetMessage(r.Context(), uid, conv, run.MessageID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
	}
	return run, msg, nil
}

// cancelRun stops a running generation and returns the run in its final
// state; a run that already ended is returned unchanged.
// awaitRunEnd waits up to 2 s for a run another process runs to leave
// in_progress. An owner that does not stop it in time (hung, or slow to
// hear) still will when it next polls, or the run is recovered once its
// heartbeat is stale: the caller gets the run as it is.
func (s *Server) awaitRunEnd(r *http.Request, run *store.Run) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, err := s.store.GetRun(r.Context(), run.UserID, run.ConversationID, run.ID)
		if err != nil || got.Status != store.StatusInProgress || time.Now().After(deadline) {
			return err
		}
		select {
		case <-r.Context().Done():
			return r.Context().Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// WatchCancels stops the runs of this process whose cancel another replica
// requests: at once on a notification (Postgres), and every second from
// the requests recorded, in case one was lost. It returns when ctx ends.
func (s *Server) WatchCancels(ctx context.Context) { s.watchCancels(ctx, s.store) }

func (s *Server) watchCancels(ctx context.Context, st store.Store) {
	go func() {
		if err := st.WatchCancels(ctx, s.cancelLocal); err != nil && ctx.Err() == nil {
			s.log.Warn("cancel notifications", "err", err)
		}
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids, err := st.CancelRequests(ctx, s.durability.Instance)
		if err != nil {
			continue // the database blinks: the next tick tries again
		}
		for _, id := range ids {
			s.cancelLocal(id)
		}
	}
}

// cancelLocal stops the run if this process runs it.
func (s *Server) cancelLocal(runID string) {
	s.runsMu.Lock()
	active := s.runs[runID]
	s.runsMu.Unlock()
	if active != nil {
		active.cancel(errRunCancelled)
	}
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	run, _, err := s.loadRun(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.runsMu.Lock()
	active := s.runs[run.ID]
	s.runsMu.Unlock()
	if active == nil && run.Status == store.StatusInProgress {
		// Not running here: ask the replica that runs it (it hears at
		// once on Postgres, within a second otherwise), and if that
		// process is gone (its heartbeat is stale), end it now, keeping
		// its answer so far. Then wait for it to end.
		if err := s.store.RequestCancel(r.Context(), run.UserID, run.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			writeError(w, r, err)
			return
		}
		if _, err := s.Recover(r.Context(), false); err != nil {
			writeError(w, r, err)
			return
		}
		if err := s.awaitRunEnd(r, run); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if active != nil {
		active.cancel(errRunCancelled)
		select {
		case <-active.done:
		case <-time.After(5 * time.Second):
			writeError(w, r, fmt.Errorf("run %s did not stop within 5s", run.ID))
			return
		case <-r.Context().Done():
			return
		}
	}
	s.getRun(w, r)
}
