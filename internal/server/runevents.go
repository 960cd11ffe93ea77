package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/janhq/jan/internal/store"
)

// runEvents resumes a run's stream on any replica:
// GET /v1/conversations/{id}/runs/{run_id}/events with Last-Event-ID (or
// ?after=) set to the last event id the client got — the bytes of answer it
// has. It sends the run object, then the rest of the answer as chunks, live
// while the run goes on (from this process's memory when it runs here,
// else from its checkpoints), then the run in its final state and [DONE]:
// no gap and no duplicate, since ids are offsets into one answer.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) {
	uid, convID, id := principal(r).ID, r.PathValue("id"), r.PathValue("run_id")
	after, err := resumeOffset(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx := r.Context()
	progress := func() (*store.Run, string, error) {
		run, partial, err := s.store.RunProgress(ctx, uid, convID, id)
		if err != nil {
			return nil, "", notFoundAs(err, "run_not_found", "run %q not found in conversation %q", id, convID)
		}
		if run.Status != store.StatusInProgress {
			if run.MessageID == "" {
				return run, "", nil
			}
			msg, err := s.store.GetMessage(ctx, uid, convID, run.MessageID)
			if err != nil {
				return nil, "", err
			}
			return run, msg.Content, nil
		}
		s.runsMu.Lock()
		active := s.runs[id]
		s.runsMu.Unlock()
		if active != nil {
			if c := active.content.Load(); c != nil && len(*c) > len(partial) {
				partial = *c
			}
		}
		return run, partial, nil
	}
	run, text, err := progress()
	if err != nil {
		writeError(w, r, err)
		return
	}
	if after > len(text) && run.Status != store.StatusInProgress || after < len(text) && after > 0 && !utf8.RuneStart(text[after]) {
		writeError(w, r, errInvalid("Last-Event-ID", "invalid_value", "Last-Event-ID %d is not an event id of this run's stream", after))
		return
	}
	release, err := s.openStream(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer release()
	w.Header().Set("X-Run-Id", run.ID)
	sse := startSSE(w, s.keepalive)
	defer sse.close()
	sent := after
	sse.id = func() string { return strconv.Itoa(sent) }
	sse.event(toRunJSON(run, nil))
	for {
		if len(text) > sent && (sent == 0 || utf8.RuneStart(text[sent])) {
			chunk, _ := json.Marshal(resumedChunk(run, text[sent:]))
			sent = len(text)
			sse.data(chunk)
		}
		if run.Status != store.StatusInProgress {
			var msg *store.Message
			if run.MessageID != "" {
				msg, _ = s.store.GetMessage(ctx, uid, convID, run.MessageID)
			}
			sse.event(toRunJSON(run, msg))
			sse.done()
			return
		}
		wait := 250 * time.Millisecond // another replica's run: its checkpoints come at most once a second
		s.runsMu.Lock()
		if s.runs[id] != nil {
			wait = 20 * time.Millisecond
		}
		s.runsMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if run, text, err = progress(); err != nil {
			if !errors.Is(err, ctx.Err()) {
				s.endStream(ctx, sse, err)
			}
			return
		}
	}
}

// resumeOffset reads where a resumed stream starts: Last-Event-ID, else
// ?after=, else 0.
func resumeOffset(r *http.Request) (int, error) {
	v, param := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		v, param = r.URL.Query().Get("after"), "after"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errInvalid(param, "invalid_value", "%s must be an event id of this run's stream (a number), got %q", param, v)
	}
	return n, nil
}

type resumedChoice struct {
	Index        int               `json:"index"`
	Delta        map[string]string `json:"delta"`
	FinishReason *string           `json:"finish_reason"`
}

// resumedChunk is the rest of an answer as one chat.completion.chunk.
func resumedChunk(run *store.Run, text string) map[string]any {
	return map[string]any{"id": run.ID, "object": "chat.completion.chunk", "created": run.CreatedAt.Unix(), "model": run.Model,
		"choices": []resumedChoice{{Delta: map[string]string{"content": text}}}}
}
