package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/janhq/jan/internal/inference"
	"github.com/janhq/jan/internal/rawjson"
	"github.com/janhq/jan/internal/store"
)

// usageKey marks the chunk that carries a stream's token usage.
var usageKey = []byte(`"usage":{`)

// maxUpstreamBody bounds a non-streamed engine response held in memory.
const maxUpstreamBody = 64 << 20

// chatRoles are the roles a chat completion request may carry; only the
// ones in validRoles are stored in a conversation.
var chatRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// chatRequest is what jan reads of a chat completion request; every other
// field passes through to the engine untouched.
type chatRequest struct {
	fields       map[string]json.RawMessage
	Model        string
	Stream       bool
	Conversation string // the id of a stored conversation to chat in
	// NewConversation: "conversation" was an object without an id, so the
	// chat starts a conversation, titled NewTitle when that is set.
	NewConversation bool
	NewTitle        string
	Store           bool
	Messages        []json.RawMessage // as the client sent them
	parsed          []chatMessage     // what parseChatRequest read of each
}

// chatMessage is what parseChatRequest read of a message: its role and its
// content, raw.
type chatMessage struct {
	Role    string
	Content json.RawMessage
}

// parseConversation reads "conversation": a conversation id, or (as
// jan-server's clients send it) an object, {"id":…} to use one and
// without an id to start one.
func (req *chatRequest) parseConversation() error {
	raw, ok := req.fields["conversation"]
	if !ok || string(raw) == "null" {
		return nil
	}
	if raw[0] == '{' {
		var obj struct {
			ID    *string `json:"id"`
			Title *string `json:"title"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return errInvalid("conversation", "invalid_type", "conversation: expected an id or an object with an optional id and title")
		}
		switch {
		case obj.ID != nil && *obj.ID != "":
			req.Conversation = *obj.ID
		case !req.Store:
			return errInvalid("store", "invalid_value", "a chat with store: false cannot start a conversation")
		default:
			req.NewConversation = true
			if obj.Title != nil {
				if err := checkTitle(*obj.Title); err != nil {
					return errInvalid("conversation.title", "invalid_title", "conversation.%s", err.Error())
				}
				req.NewTitle = *obj.Title
			}
		}
	} else if err := stringField(req.fields, "conversation", false, &req.Conversation); err != nil {
		return errInvalid("conversation", "invalid_type", "conversation: expected an id or an object with an optional id and title")
	}
	return checkText("conversation", req.Conversation)
}

// parseChatRequest validates a chat completion body. The checks name the
// field a client wrote (messages[1].role), and nothing is rewritten here.
// The body is checked once (json.Valid) and then walked without decoding
// (rawjson): this runs on every chat request, where encoding/json's
// reflection and its check before each decode cost several times as much.
// What it accepts and the errors it gives are encoding/json's
// (TestParseChatRequestAsDecoded).
func parseChatRequest(b []byte, streamQuery bool) (*chatRequest, error) {
	req := &chatRequest{Store: true, Stream: streamQuery}
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
		return nil, errInvalid("", "invalid_json", "request body must be a JSON object")
	}
	if !json.Valid(b) {
		var v any
		return nil, jsonError(json.Unmarshal(b, &v), "") // the same syntax error, with its offset
	}
	req.fields = make(map[string]json.RawMessage, 8)
	rawjson.Object(b, func(name, v []byte) bool {
		req.fields[string(name)] = v // the last of a repeated name, as encoding/json
		return true
	})
	if err := stringField(req.fields, "model", true, &req.Model); err != nil {
		return nil, err
	}
	raw, ok := req.fields["messages"]
	if !ok {
		return nil, errInvalid("messages", "missing_field", "messages is required")
	}
	if !rawjson.Array(raw, func(m []byte) bool {
		req.Messages = append(req.Messages, m)
		return true
	}) {
		return nil, errInvalid("messages", "invalid_type", "messages: expected an array of messages")
	}
	if len(req.Messages) == 0 {
		return nil, errInvalid("messages", "empty_messages", "messages must contain at least one message")
	}
	req.parsed = make([]chatMessage, len(req.Messages))
	for i, m := range req.Messages {
		p := "messages[" + strconv.Itoa(i) + "]"
		var roleRaw, content []byte
		if !rawjson.Object(m, func(name, v []byte) bool {
			// encoding/json matches a struct's field names ignoring case.
			switch {
			case bytes.EqualFold(name, []byte("role")):
				roleRaw = v
			case bytes.EqualFold(name, []byte("content")):
				content = v
			}
			return true
		}) {
			return nil, errInvalid(p, "invalid_type", "%s: expected an object with role and content", p)
		}
		if len(roleRaw) == 0 {
			return nil, errInvalid(p+".role", "missing_field", "%s.role is required", p)
		}
		var role string // null leaves it empty, as json.Unmarshal does
		if !rawjson.IsNull(roleRaw) {
			if role, ok = rawjson.String(roleRaw); !ok {
				return nil, errInvalid(p+".role", "invalid_type", "%s.role: expected a string", p)
			}
		}
		if !chatRoles[role] {
			return nil, errInvalid(p+".role", "invalid_role", "%s.role: unknown role %q (want system, developer, user, assistant or tool)", p, role)
		}
		if len(content) > 0 && content[0] != '"' && content[0] != '[' && !rawjson.IsNull(content) {
			return nil, errInvalid(p+".content", "invalid_type", "%s.content: expected a string or an array of content parts", p)
		}
		req.parsed[i] = chatMessage{Role: role, Content: content}
	}
	if err := boolField(req.fields, "stream", &req.Stream); err != nil {
		return nil, err
	}
	if err := boolField(req.fields, "store", &req.Store); err != nil {
		return nil, err
	}
	if err := req.parseConversation(); err != nil {
		return nil, err
	}
	if raw, ok := req.fields["stream_options"]; ok && string(raw) != "null" && (len(raw) == 0 || raw[0] != '{') {
		return nil, errInvalid("stream_options", "invalid_type", "stream_options: expected an object")
	}
	return req, nil
}

func stringField(fields map[string]json.RawMessage, name string, required bool, dst *string) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		if required {
			return errInvalid(name, "missing_field", "%s is required", name)
		}
		return nil
	}
	v, ok := rawjson.String(raw)
	if !ok {
		return errInvalid(name, "invalid_type", "%s: expected a string", name)
	}
	*dst = v
	if required && *dst == "" {
		return errInvalid(name, "missing_field", "%s must not be empty", name)
	}
	return nil
}

func boolField(fields map[string]json.RawMessage, name string, dst *bool) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	switch string(raw) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return errInvalid(name, "invalid_type", "%s: expected true or false", name)
	}
	return nil
}

// route finds the engine serving a public model id.
func (s *Server) route(model string) (inference.Route, error) {
	rt, ok := s.models.Lookup(model)
	if !ok {
		return rt, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
			Message: fmt.Sprintf("model %q is not served here; GET /v1/models lists the models", model)}
	}
	return rt, nil
}

// post sends a request to the engine inside a client span; end finishes the
// span when the response has been consumed.
func (s *Server) post(ctx context.Context, rt inference.Route, path string, b []byte) (resp *http.Response, end func(error), err error) {
	ctx, span := s.tracer.Start(ctx, "upstream POST "+path, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("jan.provider", rt.Provider.Name), attribute.String("gen_ai.request.model", rt.ServedName)))
	start := requestStart(ctx)
	end = func(err error) {
		s.metrics.generation(rt, start)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			if ue := (*inference.Error)(nil); errors.As(err, &ue) {
				s.metrics.upstreamError(rt.Provider.Name, ue.Code)
			}
		}
		span.End()
	}
	resp, err = s.upstream.Post(ctx, rt, path, b)
	if err != nil {
		end(err)
		return nil, nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	return resp, end, nil
}

// withStop derives a context that also ends when the server shuts down, so a
// stream can tell "client left" from "server stopping" via context.Cause.
func (s *Server) withStop(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.shutdown, func() { cancel(context.Cause(s.shutdown)) })
	return ctx, func(cause error) { stop(); cancel(cause) }
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	streamQ, err := queryBool(r, "stream")
	if err != nil {
		writeError(w, r, err)
		return
	}
	req, err := parseChatRequest(body(r), streamQ)
	if err != nil {
		writeError(w, r, err)
		return
	}
	rt, err := s.route(req.Model)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if req.Conversation != "" || req.NewConversation {
		s.chatInConversation(w, r, req, rt)
		return
	}
	b := body(r)
	if streamQ {
		req.fields["stream"] = json.RawMessage("true")
		b = encodeObject(req.fields)
	}
	s.proxy(w, r, rt, "/chat/completions", b, req.Stream)
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  json.RawMessage `json:"model"`
		Prompt json.RawMessage `json:"prompt"`
		Stream json.RawMessage `json:"stream"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	fields := map[string]json.RawMessage{"model": req.Model}
	if req.Stream != nil {
		fields["stream"] = req.Stream
	}
	var model string
	if err := stringField(fields, "model", true, &model); err != nil {
		writeError(w, r, err)
		return
	}
	stream, err := queryBool(r, "stream")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := boolField(fields, "stream", &stream); err != nil {
		writeError(w, r, err)
		return
	}
	if len(req.Prompt) == 0 || string(req.Prompt) == "null" {
		writeError(w, r, errInvalid("prompt", "missing_field", "prompt is required"))
		return
	}
	if req.Prompt[0] != '"' && req.Prompt[0] != '[' {
		writeError(w, r, errInvalid("prompt", "invalid_type", "prompt: expected a string or an array of strings"))
		return
	}
	rt, err := s.route(model)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.proxy(w, r, rt, "/completions", body(r), stream)
}

// proxy relays a request to the engine and its answer back, stream or not,
// with the model name rewritten both ways.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, rt inference.Route, path string, b []byte, stream bool) {
	if stream {
		release, err := s.openStream(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		defer release()
	}
	ctx, cancel := s.withStop(r.Context())
	defer cancel(nil)
	markExecuted(w)
	resp, end, err := s.post(ctx, rt, path, b)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer resp.Body.Close()
	if !stream {
		out, err := s.readAnswer(resp, rt)
		end(err)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeRawJSON(w, http.StatusOK, out)
		return
	}
	sse := startSSE(w, s.keepalive)
	defer sse.close()
	_, err = s.relay(ctx, resp, rt, sse, nil, nil)
	end(err)
	s.endStream(ctx, sse, err)
}

// readAnswer reads a non-streamed engine answer: valid JSON, model rewritten.
func (s *Server) readAnswer(resp *http.Response, rt inference.Route) ([]byte, error) {
	out, err := readRawAnswer(resp, rt)
	if err != nil {
		return nil, err
	}
	if !json.Valid(out) {
		return nil, notJSON(rt)
	}
	s.metrics.usage(rt, inference.UsageOf(out))
	return inference.RewriteModel(out, rt.ServedName, rt.PublicID), nil
}

// readRawAnswer reads a non-streamed engine answer as it came, up to
// maxUpstreamBody.
func readRawAnswer(resp *http.Response, rt inference.Route) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return nil, &inference.Error{Status: http.StatusBadGateway, Code: "upstream_unreachable", Provider: rt.Provider.Name, Err: err,
			Message: fmt.Sprintf("provider %q closed the connection before sending its full answer", rt.Provider.Name)}
	}
	return out, nil
}

// notJSON is the error for an engine answer that is not JSON.
func notJSON(rt inference.Route) error {
	return &inference.Error{Status: http.StatusBadGateway, Code: "upstream_bad_response", Provider: rt.Provider.Name,
		Message: fmt.Sprintf("provider %q sent an answer that is not JSON", rt.Provider.Name)}
}

// relay forwards the engine's SSE events to the client (model rewritten)
// when sse is not nil, folding them into acc when it is non-nil and telling
// each (when non-nil) after every one. It returns whether the engine
// finished its answer, and why not otherwise: an engine error, or the
// context's cause (client gone, run cancelled, server stopping).
func (s *Server) relay(ctx context.Context, resp *http.Response, rt inference.Route, sse *sseWriter, acc *inference.Accumulator, each func(acc *inference.Accumulator, more bool)) (finished bool, err error) {
	events := inference.NewEventReader(resp.Body)
	start, first := requestStart(ctx), true
	var usage *inference.Usage
	defer func() {
		if acc != nil {
			usage = acc.Usage
		}
		s.metrics.usage(rt, usage)
	}()
	for {
		data, err := events.Next()
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return false, cause
			}
			if err == io.EOF && acc != nil && acc.FinishReason != "" {
				return true, nil // some engines end without [DONE]
			}
			return false, &inference.Error{Status: http.StatusBadGateway, Code: "upstream_disconnected", Provider: rt.Provider.Name, Err: err,
				Message: fmt.Sprintf("provider %q ended the stream before the answer was complete", rt.Provider.Name)}
		}
		if inference.IsDone(data) {
			inference.Complete(resp.Body) // its Close keeps the connection for the next request
			return true, nil
		}
		if first {
			s.metrics.firstToken(rt, start)
			first = false
		}
		if acc == nil && bytes.Contains(data, usageKey) {
			usage = inference.UsageOf(data)
		}
		if acc != nil {
			if err := acc.AddChunk(data); err != nil {
				return false, err
			}
			if each != nil {
				each(acc, events.Ready())
			}
		}
		if sse != nil {
			// Flush unless the engine's next event is already here.
			sse.send(inference.RewriteModel(data, rt.ServedName, rt.PublicID), !events.Ready())
		}
	}
}

// endStream finishes a stream: an error event when it failed, then [DONE].
// (To a client that went away the writes fail quietly.)
func (s *Server) endStream(ctx context.Context, sse *sseWriter, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away: there is no one to send an event to
	}
	if err != nil {
		ae := toAPIError(ctx, err)
		sse.event(ae.body(requestID(ctx)))
	}
	sse.done()
}

// chatInConversation runs a chat completion on top of a stored conversation:
// the stored messages are prepended and, unless "store": false, the request's
// messages and the answer are appended before the response ends.
func (s *Server) chatInConversation(w http.ResponseWriter, r *http.Request, req *chatRequest, rt inference.Route) {
	uid := principal(r).ID
	conv, history := &store.Conversation{UserID: uid, Title: req.NewTitle}, []store.Message(nil)
	var instruction *string // the project's, sent as a system message before the history
	if req.NewConversation {
		// Created with the answer, so a failed chat leaves nothing behind;
		// the id is known now, for the response's first chunk.
		conv.ID = store.NewID(store.PrefixConversation)
	} else {
		var err error
		if conv, history, err = s.store.ConversationHistory(r.Context(), uid, req.Conversation); err != nil {
			err = notFoundAs(err, "conversation_not_found", "conversation %q not found", req.Conversation)
			var ae *apiError
			if errors.As(err, &ae) {
				ae.Param = "conversation"
			}
			writeError(w, r, err)
			return
		}
		if instruction, err = s.instruction(r.Context(), conv); err != nil {
			writeError(w, r, err)
			return
		}
	}
	var newMsgs []*store.Message
	for i, m := range req.parsed {
		if !validRoles[m.Role] {
			continue // tool and developer messages go to the engine, not into the history
		}
		text, err := contentText(m.Content, "messages["+strconv.Itoa(i)+"].content")
		if err != nil {
			writeError(w, r, err)
			return
		}
		newMsgs = append(newMsgs, &store.Message{Role: m.Role, Content: text, Status: store.StatusCompleted})
	}
	if req.NewConversation && conv.Title == "" {
		conv.Title = titleFrom(newMsgs)
	}
	// The response names the conversation, as jan-server's did: in the
	// JSON answer and in the stream's first chunk.
	tag := inference.AppendJSONString([]byte(`"conversation":{"id":`), conv.ID)
	tag = append(inference.AppendJSONString(append(tag, `,"title":`...), conv.Title), '}')
	if req.Stream {
		release, err := s.openStream(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		defer release()
	}
	fields := req.fields
	delete(fields, "conversation")
	delete(fields, "store")
	fields["messages"] = messagesJSON(instruction, s.histories.encoded(conv.ID, history), req.Messages)
	if req.Stream {
		fields["stream"] = json.RawMessage("true")
	}
	if rt.ServedName != "" {
		// The model as the engine knows it, so that Post need not copy the
		// body to set it.
		fields["model"] = inference.AppendJSONString(nil, rt.ServedName)
	}
	t := &turn{s: s, rt: rt, body: encodeObject(fields), streamed: req.Stream}
	t.answered = func() error {
		t.sse = startSSE(w, s.keepalive)
		t.sse.first = tag
		return nil
	}

	ctx, cancel := s.withStop(r.Context())
	defer cancel(nil)
	markExecuted(w)
	ans := t.exchange(ctx)
	if t.sse != nil {
		defer t.sse.close()
	}
	err := ans.Err
	var out []byte // the JSON answer, when there is one
	if t.sse == nil && err == nil {
		out = withMember(ans.JSON, tag)
	}
	if req.Store && (t.sse != nil || err == nil) { // the engine answered: keep what it said
		all := append(newMsgs, &store.Message{Role: store.RoleAssistant, Content: ans.Content, Status: ans.status(), Model: rt.PublicID, Usage: ans.Usage})
		write := func(ctx context.Context) error { return s.appendOnce(ctx, uid, conv.ID, all) }
		if req.NewConversation {
			conv.Model = rt.PublicID
			write = func(ctx context.Context) error { return s.createOnce(ctx, conv, all) }
		}
		wctx := ctx
		if out != nil {
			wctx = recordWith(ctx, w, http.StatusOK, out) // the turn and the Idempotency-Key's record: one commit
		}
		if serr := t.save(wctx, w, write); serr != nil && err == nil {
			err = serr
		}
	}
	switch {
	case t.sse != nil:
		s.endStream(ctx, t.sse, err)
	case err != nil:
		writeError(w, r, err)
	default:
		writeRawJSON(w, http.StatusOK, out)
	}
}

// createOnce creates the conversation with msgs; a retry after a commit
// whose reply was lost finds it there and is done.
func (s *Server) createOnce(ctx context.Context, conv *store.Conversation, msgs []*store.Message) error {
	err := s.store.CreateConversation(ctx, conv, msgs)
	if errors.Is(err, store.ErrConflict) {
		if _, gerr := s.store.GetConversation(ctx, conv.UserID, conv.ID); gerr == nil {
			return nil
		}
	}
	return err
}

// titleFrom names a conversation a chat starts after its first user
// message: its first line, cut to 60 characters.
func titleFrom(msgs []*store.Message) string {
	for _, m := range msgs {
		if m.Role != store.RoleUser {
			continue
		}
		line, _, _ := strings.Cut(strings.TrimSpace(m.Content), "\n")
		line = strings.Join(strings.Fields(line), " ")
		if r := []rune(line); len(r) > 60 {
			line = strings.TrimSpace(string(r[:59])) + "…"
		}
		return line
	}
	return ""
}

// withMember adds a member (`"name":value`) to the JSON object obj.
func withMember(obj, member []byte) []byte {
	i := bytes.IndexByte(obj, '{')
	if i < 0 || len(member) == 0 {
		return obj
	}
	out := make([]byte, 0, len(obj)+len(member)+1)
	out = append(append(out, obj[:i+1]...), member...)
	if rest := bytes.TrimLeft(obj[i+1:], " \t\r\n"); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, obj[i+1:]...)
}

// appendOnce appends msgs to the conversation (AppendMessages also records
// the model as the conversation's last). A retry after a commit whose reply
// was lost finds them there (their ids were set by the first attempt) and
// is done.
func (s *Server) appendOnce(ctx context.Context, uid, convID string, msgs []*store.Message) error {
	err := s.store.AppendMessages(ctx, uid, convID, msgs)
	if errors.Is(err, store.ErrConflict) {
		if _, gerr := s.store.GetMessage(ctx, uid, convID, msgs[0].ID); gerr == nil {
			return nil
		}
	}
	return err
}

// encodeObject writes a JSON object from already-valid raw field values.
func encodeObject(fields map[string]json.RawMessage) []byte {
	size := 2
	for k, v := range fields {
		size += len(k) + len(v) + 4
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for k, v := range fields {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = inference.AppendJSONString(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}')
}
