package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/store"
)

// A turn is one exchange with an engine on top of a stored conversation:
// the one implementation under a chat completion on a conversation and a
// run (and the Responses API to come). It posts the engine request, relays
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
	// sse receives the engine's chunks; when nil, open (if set) makes it
	// once the engine has answered, so an engine that cannot be reached is
	// still a plain JSON error.
	sse      *sseWriter
	open     func() *sseWriter
	progress func(content string) // told the answer so far (checkpoints)
}

// answer is what the engine said, and how it ended.
type answer struct {
	Content  string
	Usage    *store.Usage
	Finished bool   // the engine completed its answer
	Err      error  // why not: an engine error, or the context's cause (client gone, cancelled, stopping)
	JSON     []byte // a non-streamed answer as the client gets it (model renamed)
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
		out, err := t.s.readAnswer(resp, t.rt)
		end(err)
		if err != nil {
			return &answer{Err: err}
		}
		content, _, usage, err := inference.ParseCompletion(out)
		if err != nil {
			return &answer{Err: err}
		}
		return &answer{Content: content, Usage: storeUsage(usage), Finished: true, JSON: out}
	}
	if t.sse == nil && t.open != nil {
		t.sse = t.open()
	}
	var acc inference.Accumulator
	finished, err := t.s.relay(ctx, resp, t.rt, t.sse, &acc, t.progress)
	end(err)
	return &answer{Content: acc.Content, Usage: storeUsage(acc.Usage), Finished: finished, Err: err}
}

// save stores the answer with write, retrying while the database is
// unavailable (persist). When it still cannot, nothing was stored: the
// request's Idempotency-Key is released so that a retry runs it again.
func (t *turn) save(ctx context.Context, w http.ResponseWriter, write func(context.Context) error) error {
	err := t.s.persist(ctx, write)
	if errors.Is(err, store.ErrUnavailable) {
		markRetryable(w)
	}
	return err
}
