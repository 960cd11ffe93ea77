package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

// A turn is one exchange with an engine on top of a stored conversation:
// the one implementation under a chat completion on a conversation and a
// run and a response (the Responses API). It posts the engine request, relays
// the answer to the client as it streams (model renamed) or reads it whole,
// folds it into an answer, and stores it through the adapter's write —
// retried while the database blinks — before the response ends. The
// adapter decides what the client sees around it (run events, the engine's
// own JSON).
type turn struct {
	s        *Server
	rt       inference.Route
	body     []byte // the engine request
	streamed bool   // the engine request asks for a stream
	// sse receives the engine's chunks as they are (chat, runs); nil
	// relays none.
	sse *sseWriter
	// answered, if set, runs once the engine has answered and before any
	// chunk, so an engine that cannot be reached is still a plain JSON
	// error: adapters open their stream there. An error from it ends the
	// turn with that error, the engine's answer unread.
	answered func() error
	// each, if set, is told every chunk, once acc has folded it
	// (checkpoints, the Responses events); more says the engine's next
	// chunk is already here, so a write to the client can wait for it.
	each func(acc *inference.Accumulator, more bool)
}

// answer is what the engine said, and how it ended.
type answer struct {
	Content      string
	FinishReason string
	Usage        *store.Usage
	Finished     bool   // the engine completed its answer
	Err          error  // why not: an engine error, or the context's cause (client gone, cancelled, stopping)
	JSON         []byte // a non-streamed answer as the client gets it (model renamed)
}

// status is the stored message's status for this answer.
func (a *answer) status() string {
	if a.Finished {
		return store.StatusCompleted
	}
	return store.StatusIncomplete
}

// exchange posts the request and takes the answer.
func (t *turn) exchange(ctx context.Context) *answer {
	resp, end, err := t.s.post(ctx, t.rt, "/chat/completions", t.body)
	if err != nil {
		return &answer{Err: err}
	}
	defer resp.Body.Close()
	if !t.streamed {
		// Parsed once: the parse validates the JSON and gives the usage
		// (readAnswer, for a plain relay, does both with a scan each).
		out, err := readRawAnswer(resp, t.rt)
		var content, finish string
		var usage *inference.Usage
		if err == nil {
			if content, finish, usage, err = inference.ParseCompletion(out); err != nil && !json.Valid(out) {
				err = notJSON(t.rt)
			}
		}
		end(err)
		if err != nil {
			return &answer{Err: err}
		}
		t.s.metrics.usage(t.rt, usage)
		out = inference.RewriteModel(out, t.rt.ServedName, t.rt.PublicID)
		return &answer{Content: content, FinishReason: finish, Usage: storeUsage(usage), Finished: true, JSON: out}
	}
	if t.answered != nil {
		if err := t.answered(); err != nil {
			end(nil) // the engine did nothing wrong
			return &answer{Err: err}
		}
	}
	var acc inference.Accumulator
	finished, err := t.s.relay(ctx, resp, t.rt, t.sse, &acc, t.each)
	end(err)
	return &answer{Content: acc.Content, FinishReason: acc.FinishReason, Usage: storeUsage(acc.Usage), Finished: finished, Err: err}
}

// save stores the answer with write, retrying while the database is
// unavailable (persist). When it still cannot, nothing was stored: the
// request's Idempotency-Key is released so that a retry runs it again.
func (t *turn) save(ctx context.Context, w http.ResponseWriter, write func(context.Context) error) error {
	err := t.s.persist(ctx, write)
	if errors.Is(err, store.ErrUnavailable) && w != nil {
		markRetryable(w)
	}
	return err
}
