package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/responses"
	"github.com/janhq/jan/internal/store"
)

// The Responses API (POST /v1/responses and the routes of a stored
// response): the third adapter over a turn. internal/responses owns the
// shapes; here a request becomes a turn — its context read from a
// previous_response_id chain or a conversation — and its answer becomes
// events, a stored response and, in a conversation, messages.

// responseJob is one response being made.
type responseJob struct {
	id      string
	uid     string
	req     *responses.Request
	rt      inference.Route
	engine  []byte // the engine request
	created time.Time
	newMsgs []*store.Message // the input, as the conversation's messages
	row     *store.Response  // nil when store: false
	// writing, while the row is being written, is where the write's
	// outcome arrives; stored takes it.
	writing   chan error
	createErr error
	stream    *responses.Stream
	hub       *eventHub // the events, for background responses
	eventsOut int       // events stored so far (background)
	flushedAt time.Time
}

func newItemID(prefix string) string { return store.NewID(prefix) }

// stored waits for the row's write (when one is under way) and says how
// it went; after a failure j.row is nil: nothing is stored.
func (j *responseJob) stored() error {
	if j.writing != nil {
		j.createErr = <-j.writing
		j.writing = nil
		if j.createErr != nil {
			j.row = nil
		}
	}
	return j.createErr
}

// object is the response as the API shows it, in status with output.
func (j *responseJob) object(status string, usage *store.Usage, fail *store.RunError, reason string) responses.Object {
	o := responses.Object{ID: j.id, CreatedAt: j.created.Unix(), Status: status, Model: j.rt.PublicID, Output: j.stream.Output(),
		PreviousResponseID: j.req.PreviousResponseID, Conversation: j.req.Conversation, Params: j.req.Params(), IncompleteReason: reason}
	if usage != nil {
		o.Usage = &responses.Usage{InputTokens: usage.PromptTokens, OutputTokens: usage.CompletionTokens}
	}
	if fail != nil {
		o.ErrorCode, o.ErrorMessage = fail.Code, fail.Message
	}
	if status != responses.StatusInProgress && status != responses.StatusQueued {
		t := time.Now().Unix()
		o.CompletedAt = &t
	}
	return o
}

// marshal is o's JSON, straight from its MarshalJSON (json.Marshal would
// scan it all again).
func marshal(o responses.Object) json.RawMessage {
	b, _ := o.MarshalJSON() // fixed shapes
	return b
}

// storedObject is a stored response as the API shows it.
func (s *Server) storedObject(ctx context.Context, r *store.Response) (responses.Object, error) {
	o := responses.Object{ID: r.ID, CreatedAt: r.CreatedAt.Unix(), Status: r.Status, Model: r.Model,
		PreviousResponseID: r.PreviousResponseID, Conversation: r.ConversationID, IncompleteReason: r.IncompleteReason}
	if err := json.Unmarshal(r.Params, &o.Params); err != nil {
		return o, fmt.Errorf("response %s: stored params: %w", r.ID, err)
	}
	if r.CompletedAt != nil {
		t := r.CompletedAt.Unix()
		o.CompletedAt = &t
	}
	if r.Usage != nil {
		o.Usage = &responses.Usage{InputTokens: r.Usage.PromptTokens, OutputTokens: r.Usage.CompletionTokens}
	}
	if r.Error != nil {
		o.ErrorCode, o.ErrorMessage = r.Error.Code, r.Error.Message
	}
	p := store.Page{Limit: 100, Order: store.OrderAsc}
	for {
		items, more, err := s.store.ListResponseItems(ctx, r.UserID, r.ID, false, p)
		if err != nil {
			return o, err
		}
		for _, it := range items {
			var item responses.Item
			if err := json.Unmarshal(it.Data, &item); err != nil {
				return o, fmt.Errorf("response %s: stored item %s: %w", r.ID, it.ID, err)
			}
			o.Output = append(o.Output, item)
		}
		if !more || len(items) == 0 {
			return o, nil
		}
		p.After = items[len(items)-1].ID
	}
}

func (s *Server) createResponse(w http.ResponseWriter, r *http.Request) {
	req, err := responses.ParseRequest(body(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := validateMetadata(req.Metadata); err != nil {
		writeError(w, r, err)
		return
	}
	rt, err := s.route(req.Model)
	if err != nil {
		writeError(w, r, err)
		return
	}
	uid := principal(r).ID
	history, err := s.responseContext(r.Context(), uid, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	instructions := ""
	if req.Instructions != nil {
		instructions = *req.Instructions
	}
	engine, err := responses.EngineRequest(req, responses.Messages(instructions, append(history, req.Input...)), rt.ServedName)
	if err != nil {
		writeError(w, r, err)
		return
	}
	j := &responseJob{id: store.NewID(store.PrefixResponse), uid: uid, req: req, rt: rt, engine: engine, created: time.Now(),
		stream: responses.NewStream(newItemID), flushedAt: time.Now()}
	input := make([]store.ResponseItem, len(req.Input))
	for i := range req.Input {
		it := &req.Input[i]
		it.ID = store.NewID(itemPrefix(it.Type))
		data, _ := it.MarshalJSON() // not json.Marshal: it would scan the text again
		input[i] = store.ResponseItem{ID: it.ID, Input: true, Data: data}
		if it.Type == responses.TypeMessage {
			role := it.Role
			if role == "developer" {
				role = store.RoleSystem
			}
			j.newMsgs = append(j.newMsgs, &store.Message{Role: role, Content: it.Text})
		}
	}
	// A stream, and a background response while it runs, holds one of the
	// principal's stream slots: without it, background responses would be
	// generations nobody bounds.
	var release func()
	if req.Stream || req.Background {
		if release, err = s.openStream(r); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if !req.Background && release != nil {
		defer release()
	}
	markExecuted(w)
	if req.Store {
		params, _ := json.Marshal(req.Params())
		j.row = &store.Response{ID: j.id, UserID: uid, Model: rt.PublicID, Status: responses.StatusInProgress,
			PreviousResponseID: req.PreviousResponseID, ConversationID: req.Conversation, Params: params,
			Owner: s.durability.Instance, CreatedAt: j.created.UTC().Truncate(time.Microsecond)}
		if req.Background {
			if err := s.store.CreateResponse(r.Context(), j.row, input); err != nil {
				release()
				writeError(w, r, err)
				return
			}
		} else {
			// Written while the engine starts answering: the client sees
			// nothing of the response before it is stored (makeResponse
			// waits), and its first token does not wait for the write.
			j.writing = make(chan error, 1)
			row := j.row
			go func() { j.writing <- s.store.CreateResponse(context.WithoutCancel(r.Context()), row, input) }()
		}
	}
	if req.Background {
		j.hub = newEventHub()
		accepted := marshal(j.object(responses.StatusInProgress, nil, nil, "")) // before the job touches j
		ctx, cancel := s.withStop(context.WithoutCancel(r.Context()))
		done := s.track(j.id, cancel, j.hub)
		go func() {
			defer done() // last: whoever waits on it finds the slot free
			defer release()
			defer cancel(nil)
			s.makeResponse(ctx, nil, nil, j)
		}()
		if req.Stream { // the stream follows the job; leaving does not stop it
			s.followEvents(w, r, j.hub, -1)
			return
		}
		writeRawJSON(w, http.StatusOK, accepted)
		return
	}
	j.stream.Transient = true // each event goes straight to the client
	ctx, cancel := s.withStop(r.Context())
	defer cancel(nil)
	if j.row != nil {
		defer s.track(j.id, cancel, nil)()
	}
	s.makeResponse(ctx, w, r, j)
}

// itemPrefix is the id prefix of an item of type typ.
func itemPrefix(typ string) string {
	switch typ {
	case responses.TypeFunctionCall:
		return "fc"
	case responses.TypeFunctionCallOutput:
		return "fco"
	}
	return "msg"
}

// responseContext is what the engine sees before the new input: the items
// of the previous_response_id chain, or the conversation's messages.
func (s *Server) responseContext(ctx context.Context, uid string, req *responses.Request) ([]responses.Item, error) {
	switch {
	case req.PreviousResponseID != "":
		stored, err := s.store.ResponseContext(ctx, uid, req.PreviousResponseID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "previous_response_not_found",
				Param: "previous_response_id", Message: fmt.Sprintf("previous response %q not found (or not stored)", req.PreviousResponseID)}
		}
		if err != nil {
			return nil, err
		}
		items := make([]responses.Item, 0, len(stored))
		for _, it := range stored {
			var item responses.Item
			if err := json.Unmarshal(it.Data, &item); err != nil {
				return nil, fmt.Errorf("stored item %s: %w", it.ID, err)
			}
			items = append(items, item)
		}
		return items, nil
	case req.Conversation != "":
		conv, history, err := s.store.ConversationHistory(ctx, uid, req.Conversation)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "conversation_not_found",
				Param: "conversation", Message: fmt.Sprintf("conversation %q not found", req.Conversation)}
		}
		if err != nil {
			return nil, err
		}
		if history, err = s.withInstruction(ctx, conv, history); err != nil {
			return nil, err
		}
		items := make([]responses.Item, len(history))
		for i, m := range history {
			items[i] = responses.Item{Type: responses.TypeMessage, Role: m.Role, Text: m.Content}
		}
		return items, nil
	}
	return nil, nil
}

// makeResponse runs j's turn. With w and r (a request waiting on it) it answers
// there, as a stream of events or the response object; without (a
// background response) it records the events in j.hub and the store. The
// response is stored before its last event is sent.
func (s *Server) makeResponse(ctx context.Context, w http.ResponseWriter, r *http.Request, j *responseJob) {
	var sse *sseWriter
	// emit sends events; with more (the engine's next chunk is here) the
	// last one waits in the buffer to leave with what follows.
	emit := func(more bool, evs ...responses.Event) {
		for i, ev := range evs {
			if sse != nil {
				sse.named(ev.Type, ev.Data, !more && i == len(evs)-1)
			}
			if j.hub != nil {
				j.hub.add(ev)
			}
		}
	}
	var cp *checkpointer
	if j.row != nil {
		cp = s.checkpoints(func(ctx context.Context, partial string) error {
			return s.store.CheckpointResponse(ctx, j.id, []byte(partial))
		})
	}
	lastSnap := time.Now()
	t := &turn{s: s, rt: j.rt, body: j.engine, streamed: true}
	t.answered = func() error {
		if err := j.stored(); err != nil {
			return err
		}
		if w != nil && j.req.Stream {
			sse = startSSE(w, s.keepalive)
		}
		emit(false, j.stream.Begin(marshal(j.object(responses.StatusInProgress, nil, nil, "")))...)
		return nil
	}
	t.each = func(acc *inference.Accumulator, more bool) {
		emit(more, j.stream.Add(acc)...)
		if cp != nil && time.Since(lastSnap) >= s.durability.Checkpoint {
			lastSnap = time.Now()
			cp.update(partialOutput(j.stream.Output()))
		}
		if j.hub != nil && time.Since(j.flushedAt) >= 250*time.Millisecond {
			s.flushEvents(ctx, j)
		}
	}
	ans := t.exchange(ctx)
	if cp != nil {
		cp.stop()
	}
	if err := j.stored(); err != nil { // nothing was sent: the row's write failed
		if w != nil {
			writeError(w, r, err)
		}
		return
	}
	if sse != nil {
		defer sse.close()
	}
	status, reason, fail := s.responseOutcome(ctx, ans)
	itemStatus := responses.StatusCompleted
	if status != responses.StatusCompleted {
		itemStatus = responses.StatusIncomplete
	}
	emit(true, j.stream.Close(itemStatus)...)
	final := j.object(status, ans.Usage, fail, reason)
	var end *responses.Event
	var saveErr error
	if status != responses.StatusCancelled { // a cancelled stream just ends
		ev := j.stream.End(terminalEvent(status), marshal(final))
		end = &ev
	}
	if j.row != nil {
		// A background response's events not stored yet are stored with
		// its outcome: a stream read from the store ends where it does.
		var events []store.ResponseEvent
		if j.hub != nil {
			events = storeEvents(j.hub.since(j.eventsOut - 1))
			if end != nil {
				events = append(events, storeEvents([]responses.Event{*end})...)
			}
		}
		j.row.Status, j.row.Usage, j.row.Error, j.row.IncompleteReason = status, ans.Usage, fail, reason
		err := s.persist(ctx, func(ctx context.Context) error { return s.finishResponse(ctx, j, events) })
		saveErr = err
		if err != nil {
			logFrom(ctx).Error("finish response", "response", j.id, "err", err)
			ae := toAPIError(ctx, err)
			fail = &store.RunError{Code: ae.Code, Message: "the response could not be saved: " + ae.Message}
			final = j.object(responses.StatusFailed, ans.Usage, fail, "")
			if end != nil {
				ev := responses.Terminal(end.Seq, responses.EventFailed, marshal(final))
				end = &ev
			}
			if w != nil && errors.Is(err, store.ErrUnavailable) {
				markRetryable(w)
			}
		}
	}
	if end != nil {
		emit(false, *end)
	}
	if j.hub != nil {
		j.hub.finish()
	}
	switch {
	case w == nil || sse != nil:
	case saveErr != nil:
		writeError(w, r, saveErr) // as chat completions: 503, retry with the same key
	case ans.Err != nil && status == responses.StatusFailed && len(j.stream.Output()) == 0 && !ans.Finished:
		writeError(w, r, ans.Err) // the engine failed before saying anything: an error, as chat completions
	default:
		writeRawJSON(w, http.StatusOK, marshal(final))
	}
}

// responseOutcome is how a response ends given its answer.
func (s *Server) responseOutcome(ctx context.Context, ans *answer) (status, reason string, fail *store.RunError) {
	switch {
	case ans.Finished && ans.FinishReason == "length":
		return responses.StatusIncomplete, "max_output_tokens", nil
	case ans.Finished:
		return responses.StatusCompleted, "", nil
	case errors.Is(ans.Err, errRunCancelled):
		return responses.StatusCancelled, "", nil
	case runError(ans.Err) == nil || errors.Is(ans.Err, errShuttingDown):
		return responses.StatusIncomplete, "interrupted", nil
	}
	ae := toAPIError(ctx, ans.Err)
	return responses.StatusFailed, "", &store.RunError{Code: ae.Code, Message: ae.Message}
}

func terminalEvent(status string) string {
	switch status {
	case responses.StatusCompleted:
		return responses.EventCompleted
	case responses.StatusFailed:
		return responses.EventFailed
	}
	return responses.EventIncomplete
}

// finishResponse stores j's outcome with its output items and, in a
// conversation, the new input and the answer as its messages. A retry
// after a commit whose reply was lost finds it done.
func (s *Server) finishResponse(ctx context.Context, j *responseJob, events []store.ResponseEvent) error {
	out := j.stream.Output()
	items := make([]store.ResponseItem, len(out))
	for i, it := range out {
		data, _ := it.MarshalJSON() // not json.Marshal: it would scan the text again
		items[i] = store.ResponseItem{ID: it.ID, Data: data}
	}
	var msgs []*store.Message
	if j.row.ConversationID != "" {
		msgs = append(msgs, j.newMsgs...)
		if text := j.stream.Text(); text != "" {
			st := store.StatusCompleted
			if j.row.Status != responses.StatusCompleted {
				st = store.StatusIncomplete
			}
			msgs = append(msgs, &store.Message{Role: store.RoleAssistant, Content: text, Status: st, Model: j.rt.PublicID, Usage: j.row.Usage})
		}
	}
	err := s.store.FinishResponse(ctx, j.row, store.ResponseEnd{Output: items, Messages: msgs, Events: events})
	if errors.Is(err, store.ErrConflict) {
		if got, gerr := s.store.GetResponse(ctx, j.uid, j.id); gerr == nil && got.Status == j.row.Status {
			return nil
		}
	}
	return err
}

// partialOutput is a checkpoint of the output so far: the items, marked
// incomplete (what they are if the process dies now).
func partialOutput(out []responses.Item) string {
	items := make([]responses.Item, len(out))
	for i, it := range out {
		it.Status = responses.StatusIncomplete
		items[i] = it
	}
	b, _ := json.Marshal(items)
	return string(b)
}

// flushEvents stores the background response's events not stored yet.
func (s *Server) flushEvents(ctx context.Context, j *responseJob) {
	evs := j.hub.since(j.eventsOut - 1)
	if len(evs) == 0 {
		return
	}
	if err := s.store.AppendResponseEvents(context.WithoutCancel(ctx), j.id, storeEvents(evs)); err != nil {
		logFrom(ctx).Warn("store response events", "response", j.id, "err", err)
		return // they stay in the hub: the next flush tries again
	}
	j.eventsOut += len(evs)
	j.flushedAt = time.Now()
}

func storeEvents(evs []responses.Event) []store.ResponseEvent {
	out := make([]store.ResponseEvent, len(evs))
	for i, ev := range evs {
		out[i] = store.ResponseEvent{Seq: ev.Seq, Type: ev.Type, Data: ev.Data}
	}
	return out
}

// track registers a response running here, for cancel and for resumed
// streams; done unregisters it.
func (s *Server) track(id string, cancel context.CancelCauseFunc, hub *eventHub) (done func()) {
	a := &activeRun{cancel: cancel, done: make(chan struct{}), hub: hub}
	s.runsMu.Lock()
	s.runs[id] = a
	s.runsMu.Unlock()
	return func() {
		s.runsMu.Lock()
		delete(s.runs, id)
		s.runsMu.Unlock()
		close(a.done)
	}
}

func (s *Server) active(id string) *activeRun {
	s.runsMu.Lock()
	defer s.runsMu.Unlock()
	return s.runs[id]
}

// loadResponse loads the {id} response of the caller; 404 otherwise.
func (s *Server) loadResponse(r *http.Request) (*store.Response, error) {
	id := r.PathValue("id")
	row, err := s.store.GetResponse(r.Context(), principal(r).ID, id)
	if err != nil {
		return nil, notFoundAs(err, "response_not_found", "response %q not found", id)
	}
	return row, nil
}

func (s *Server) getResponse(w http.ResponseWriter, r *http.Request) {
	stream, err := queryBool(r, "stream")
	if err != nil {
		writeError(w, r, err)
		return
	}
	// The official SDKs ask for the stream in a JSON body of the GET, which
	// readBody leaves alone (GETs have none): a small one is read here.
	if r.ContentLength > 0 && r.ContentLength <= 4096 {
		var b struct {
			Stream bool `json:"stream"`
		}
		if raw, err := io.ReadAll(io.LimitReader(r.Body, 4096)); err == nil && json.Unmarshal(raw, &b) == nil && b.Stream {
			stream = true
		}
	}
	row, err := s.loadResponse(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if stream {
		s.resumeResponse(w, r, row)
		return
	}
	s.writeStored(w, r, row)
}

// writeStored answers with a stored response as the API shows it.
func (s *Server) writeStored(w http.ResponseWriter, r *http.Request, row *store.Response) {
	o, err := s.storedObject(r.Context(), row)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, marshal(o))
}

// resumeResponse streams a background response's events after
// starting_after: live from the hub while it runs here, else from the
// store.
func (s *Server) resumeResponse(w http.ResponseWriter, r *http.Request, row *store.Response) {
	after := -1
	if v := r.URL.Query().Get("starting_after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			writeError(w, r, errInvalid("starting_after", "invalid_value", "starting_after must be a sequence number, got %q", v))
			return
		}
		after = n
	}
	var params responses.Params
	_ = json.Unmarshal(row.Params, &params)
	if !params.Background {
		writeError(w, r, errInvalid("stream", "not_background", "only background responses (background: true) can be streamed again"))
		return
	}
	release, err := s.openStream(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer release()
	if a := s.active(row.ID); a != nil && a.hub != nil {
		s.followEvents(w, r, a.hub, after)
		return
	}
	s.storedEvents(w, r, row, after)
}

// storedEvents streams a response's events from the store: those of one
// that ended, or of one running on another replica, followed until it
// ends or the client leaves.
func (s *Server) storedEvents(w http.ResponseWriter, r *http.Request, row *store.Response, after int) {
	uid := principal(r).ID
	var sse *sseWriter
	for {
		ended := row.Status != responses.StatusInProgress && row.Status != responses.StatusQueued
		evs, err := s.store.ResponseEvents(r.Context(), uid, row.ID, after)
		if err != nil && sse == nil {
			writeError(w, r, err)
			return
		}
		if err != nil {
			logFrom(r.Context()).Warn("read response events", "response", row.ID, "err", err)
		}
		if sse == nil {
			sse = startSSE(w, s.keepalive)
			defer sse.close()
		}
		for i, ev := range evs {
			sse.named(ev.Type, ev.Data, i == len(evs)-1)
			after = ev.Seq
		}
		if ended {
			return
		}
		select {
		case <-time.After(storedEventsPoll):
		case <-r.Context().Done():
			return
		}
		if got, err := s.store.GetResponse(r.Context(), uid, row.ID); err == nil {
			row = got
		} else if errors.Is(err, store.ErrNotFound) {
			return // deleted meanwhile
		}
	}
}

// storedEventsPoll is how often a stream of a response running on another
// replica looks for its new events.
const storedEventsPoll = 250 * time.Millisecond

// followEvents streams hub's events after after until the response ends or
// the client leaves (which does not stop the response).
func (s *Server) followEvents(w http.ResponseWriter, r *http.Request, hub *eventHub, after int) {
	sse := startSSE(w, s.keepalive)
	defer sse.close()
	for {
		evs, done, wake := hub.next(after)
		for i, ev := range evs {
			sse.named(ev.Type, ev.Data, i == len(evs)-1)
			after = ev.Seq
		}
		if done && len(evs) == 0 {
			return
		}
		if len(evs) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) deleteResponse(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if a := s.active(id); a != nil {
		if _, err := s.loadResponse(r); err == nil { // only its owner may stop it
			a.cancel(errRunCancelled)
			<-a.done
		}
	}
	if err := s.store.DeleteResponse(r.Context(), principal(r).ID, id); err != nil {
		writeError(w, r, notFoundAs(err, "response_not_found", "response %q not found", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "response", "deleted": true})
}

func (s *Server) listInputItems(w http.ResponseWriter, r *http.Request) {
	p, err := s.page(r, store.OrderDesc)
	if err != nil {
		writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	list, more, err := s.store.ListResponseItems(r.Context(), principal(r).ID, id, true, p)
	if err != nil {
		writeError(w, r, notFoundAs(err, "response_not_found", "response %q not found", id))
		return
	}
	out := make([]json.RawMessage, len(list))
	for i, it := range list {
		out[i] = it.Data
	}
	first, last := firstLast(list, func(it store.ResponseItem) string { return it.ID })
	writeJSON(w, http.StatusOK, newList(out, more, first, last))
}

// cancelResponse stops a response in progress (within 100 ms when it runs
// here) and returns it; a finished one is returned unchanged.
func (s *Server) cancelResponse(w http.ResponseWriter, r *http.Request) {
	row, err := s.loadResponse(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if a := s.active(row.ID); a != nil {
		a.cancel(errRunCancelled)
		select {
		case <-a.done:
		case <-time.After(5 * time.Second):
			writeError(w, r, fmt.Errorf("response %s did not stop within 5s", row.ID))
			return
		case <-r.Context().Done():
			return
		}
	} else if row.Status == responses.StatusInProgress || row.Status == responses.StatusQueued {
		// Running elsewhere: ask its replica (as for runs), end it if that
		// process is gone, and wait up to 2 s for it to end.
		if err := s.store.RequestResponseCancel(r.Context(), row.UserID, row.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			writeError(w, r, err)
			return
		}
		if _, err := s.Recover(r.Context(), false); err != nil {
			writeError(w, r, err)
			return
		}
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
			got, err := s.store.GetResponse(r.Context(), row.UserID, row.ID)
			if err != nil || (got.Status != responses.StatusInProgress && got.Status != responses.StatusQueued) {
				break
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if row, err = s.loadResponse(r); err != nil {
		writeError(w, r, err)
		return
	}
	s.writeStored(w, r, row)
}

// eventHub holds a background response's events while it runs, for the
// streams that follow it: each wakes when an event is added.
type eventHub struct {
	mu     sync.Mutex
	events []responses.Event
	done   bool
	wake   chan struct{}
}

func newEventHub() *eventHub { return &eventHub{wake: make(chan struct{})} }

func (h *eventHub) add(ev responses.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	close(h.wake)
	h.wake = make(chan struct{})
}

func (h *eventHub) finish() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	close(h.wake)
	h.wake = make(chan struct{})
}

// since is the events after sequence number after.
func (h *eventHub) since(after int) []responses.Event {
	evs, _, _ := h.next(after)
	return evs
}

// next is the events after after, whether the response ended, and a
// channel closed when more come.
func (h *eventHub) next(after int) ([]responses.Event, bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	start := after + 1 // events are numbered from 0, without gaps
	if start < 0 {
		start = 0
	}
	var evs []responses.Event
	if start < len(h.events) {
		evs = append(evs, h.events[start:]...)
	}
	return evs, h.done, h.wake
}
