// Package fakeengine is a deterministic OpenAI-compatible engine for tests
// and benchmarks. It serves GET /v1/models, POST /v1/chat/completions and
// POST /v1/completions, streamed or not, in the shapes OpenAI (and the
// official SDKs) expect. Answers are Answer(n): the same tokens every time,
// sent with a configurable time to first token and inter-token delay.
//
// Failures are scripted in two ways. In-process tests queue Steps with
// Engine.Script; each completion request consumes one. Black-box tests that
// only reach the engine through jan put directives in the last user message
// (or the prompt of a text completion):
//
//	[fake:tokens=50]     answer with 50 tokens (capped by max_tokens)
//	[fake:delay=20ms]    20ms between tokens
//	[fake:ttft=100ms]    100ms before the first token (or the whole answer)
//	[fake:status=500]    reply HTTP 500 with an OpenAI error envelope
//	[fake:disconnect=3]  stream 3 tokens then drop the connection (no [DONE]);
//	                     disconnect=0 (or non-streaming) drops it before answering
//	[fake:garbage]       reply 200 with a body that is not JSON
//	[fake:hang]          never answer; wait until the client goes away
//	[fake:error]         stream one token then a data: {"error":...} event
//	[fake:tool=NAME]     call the function NAME, if the request offers it in
//	                     tools, with arguments {"city":"Paris"}
//	[fake:linger=50ms]   stream: keep the response open 50ms after [DONE]
//	                     before ending it (as a slow or misbehaving engine)
//
// A request whose last message is a tool result is answered with the
// tokens of "The tool said: " and the result's words.
//
// An unknown directive is answered with 400, so typos do not go unnoticed.
// Only the last user message is read, so directives in a conversation's
// history do not fire again.
//
// Usage counts are deterministic: prompt_tokens is the number of
// whitespace-separated words of all messages (or of the prompt),
// completion_tokens the number of tokens sent.
package fakeengine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures an Engine. The zero value serves "fake-model" with
// 8-token answers and no delays.
type Options struct {
	Models     []string      // default ["fake-model"]
	Tokens     int           // tokens per answer when the request has no max_tokens; default 8
	TTFT       time.Duration // delay before the first token (streaming) or the response (non-streaming)
	TokenDelay time.Duration // delay between tokens
	APIKey     string        // if set, require Authorization: Bearer <key>
	// ContextLength, if set, is reported as each model's max_model_len in
	// GET /v1/models, as vLLM does.
	ContextLength int
}

// Step scripts the behaviour of one completion request. Zero fields mean
// normal behaviour.
type Step struct {
	Status          int           // non-zero: reply with this HTTP status and an OpenAI error envelope
	Garbage         bool          // 200 with a non-JSON body
	DisconnectAfter int           // stream: send this many tokens then close the connection abruptly (no [DONE]); < 0, or any value on a non-streamed request: close before answering
	Hang            bool          // never answer until the client goes away
	ErrorEvent      bool          // stream: send one token then a data: {"error":...} event
	Tool            string        // call this function (when the request offers it) instead of answering
	Linger          time.Duration // stream: end the response this long after [DONE] (or when the client goes away)

	// Overrides of Options for this request; zero keeps the option.
	Tokens     int
	TTFT       time.Duration
	TokenDelay time.Duration
}

// Engine is the fake engine; it is an http.Handler, safe for concurrent use.
type Engine struct {
	opts     Options
	requests atomic.Int64
	ids      atomic.Int64
	cancels  chan time.Time

	mu     sync.Mutex
	script []Step
}

// New returns an engine; serve it with httptest.NewServer or http.Server.
func New(o Options) *Engine {
	if len(o.Models) == 0 {
		o.Models = []string{"fake-model"}
	}
	if o.Tokens <= 0 {
		o.Tokens = 8
	}
	return &Engine{opts: o, cancels: make(chan time.Time, 1024)}
}

// Requests is the number of completion requests received.
func (e *Engine) Requests() int64 { return e.requests.Load() }

// Cancellations receives, for each request whose client went away before
// the answer was complete, the time the engine noticed. Sends never block:
// events beyond the buffer (1024) are dropped.
func (e *Engine) Cancellations() <-chan time.Time { return e.cancels }

// Script queues steps; each of the next completion requests consumes one,
// in order.
func (e *Engine) Script(s ...Step) {
	e.mu.Lock()
	e.script = append(e.script, s...)
	e.mu.Unlock()
}

func (e *Engine) nextStep() Step {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.script) == 0 {
		return Step{}
	}
	s := e.script[0]
	e.script = e.script[1:]
	return s
}

var words = []string{"Hello", " from", " the", " fake", " engine", "."}

// Answer is the n tokens of an n-token answer: "Hello", " from", " the",
// " fake", " engine", ".", " Hello", ... An answer's text is
// strings.Join(Answer(n), "").
func Answer(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = token(i)
	}
	return out
}

func token(i int) string {
	w := words[i%len(words)]
	if i > 0 && i%len(words) == 0 {
		return " " + w
	}
	return w
}

// ServeHTTP serves the OpenAI routes.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+e.opts.APIKey {
		if strings.HasSuffix(r.URL.Path, "completions") {
			e.requests.Add(1)
		}
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
		return
	}
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /v1/models":
		e.serveModels(w)
	case "POST /v1/chat/completions":
		e.serveCompletion(w, r, true)
	case "POST /v1/completions":
		e.serveCompletion(w, r, false)
	default:
		switch r.URL.Path {
		case "/v1/models", "/v1/chat/completions", "/v1/completions":
			writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
		default:
			writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "no route "+route)
		}
	}
}

func (e *Engine) serveModels(w http.ResponseWriter) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
		MaxLen  int    `json:"max_model_len,omitempty"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, m := range e.opts.Models {
		list.Data = append(list.Data, model{ID: m, Object: "model", Created: 1700000000, OwnedBy: "fakeengine", MaxLen: e.opts.ContextLength})
	}
	writeJSON(w, http.StatusOK, list)
}

// request is the part of a completion request the engine reads.
type request struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int `json:"max_tokens"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
}

// plan is what one request will do.
type plan struct {
	Step
	chat         bool
	stream       bool
	includeUsage bool
	model        string
	id           string
	created      int64
	tokens       int
	finishReason string
	promptTokens int
	start        time.Time
	ttft, delay  time.Duration
	words        []string // the answer's tokens, when not Answer(tokens)
	call         string   // the function to call, when the request offered it
}

// token is the answer's i-th token.
func (p *plan) token(i int) string {
	if p.words != nil {
		return p.words[i]
	}
	return token(i)
}

func (e *Engine) serveCompletion(w http.ResponseWriter, r *http.Request, chat bool) {
	e.requests.Add(1)
	start := time.Now()
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "invalid request body: "+err.Error())
		return
	}
	if !slices.Contains(e.opts.Models, req.Model) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist.", req.Model))
		return
	}
	text, prompt := req.texts(chat)
	if chat && len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_request", "messages must not be empty")
		return
	}
	directives, err := parseDirectives(text)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_directive", err.Error())
		return
	}
	p := e.newPlan(req, chat, merge(directives, e.nextStep()))
	p.promptTokens = len(strings.Fields(prompt))
	if n := len(req.Messages); chat && n > 0 && req.Messages[n-1].Role == "tool" {
		p.words = strings.SplitAfter("The tool said: "+contentText(req.Messages[n-1].Content), " ")
		p.tokens, p.finishReason = len(p.words), "stop"
	}
	for _, t := range req.Tools {
		if p.Tool != "" && t.Function.Name == p.Tool && p.words == nil {
			p.call, p.finishReason = p.Tool, "tool_calls"
		}
	}
	p.start = start
	e.run(w, r, p)
}

// texts returns the text directives are read from (the last user message,
// or the prompt) and the whole prompt, whose words are counted.
func (req *request) texts(chat bool) (last, all string) {
	if !chat {
		s := promptText(req.Prompt)
		return s, s
	}
	var b strings.Builder
	for _, m := range req.Messages {
		s := contentText(m.Content)
		b.WriteString(s)
		b.WriteByte(' ')
		if m.Role == "user" {
			last = s
		}
	}
	return last, b.String()
}

func (e *Engine) newPlan(req request, chat bool, s Step) *plan {
	p := &plan{
		Step:         s,
		chat:         chat,
		stream:       req.Stream,
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		model:        req.Model,
		created:      time.Now().Unix(),
		ttft:         e.opts.TTFT,
		delay:        e.opts.TokenDelay,
		tokens:       e.opts.Tokens,
		finishReason: "stop",
	}
	if s.TTFT > 0 {
		p.ttft = s.TTFT
	}
	if s.TokenDelay > 0 {
		p.delay = s.TokenDelay
	}
	limit := req.MaxTokens
	if req.MaxCompletionTokens != nil {
		limit = req.MaxCompletionTokens
	}
	switch {
	case s.Tokens > 0:
		p.tokens = s.Tokens
		if limit != nil && *limit > 0 && *limit < p.tokens {
			p.tokens, p.finishReason = *limit, "length"
		}
	case limit != nil && *limit > 0:
		// A model asked for at most N tokens runs until the limit.
		p.tokens, p.finishReason = *limit, "length"
	}
	n := e.ids.Add(1)
	if chat {
		p.id = "chatcmpl-fake" + strconv.FormatInt(n, 10)
	} else {
		p.id = "cmpl-fake" + strconv.FormatInt(n, 10)
	}
	return p
}

// merge lays the non-zero fields of b over a.
func merge(a, b Step) Step {
	if b.Status != 0 {
		a.Status = b.Status
	}
	a.Garbage = a.Garbage || b.Garbage
	if b.DisconnectAfter != 0 {
		a.DisconnectAfter = b.DisconnectAfter
	}
	a.Hang = a.Hang || b.Hang
	a.ErrorEvent = a.ErrorEvent || b.ErrorEvent
	if b.Tool != "" {
		a.Tool = b.Tool
	}
	if b.Tokens != 0 {
		a.Tokens = b.Tokens
	}
	if b.TTFT != 0 {
		a.TTFT = b.TTFT
	}
	if b.TokenDelay != 0 {
		a.TokenDelay = b.TokenDelay
	}
	return a
}

var directiveRE = regexp.MustCompile(`\[fake:([a-z_]+)(?:=([^\]\s]*))?\]`)

func parseDirectives(text string) (Step, error) {
	var s Step
	if !strings.Contains(text, "[fake:") {
		return s, nil
	}
	for _, m := range directiveRE.FindAllStringSubmatch(text, -1) {
		key, val := m[1], m[2]
		var err error
		switch key {
		case "tokens":
			s.Tokens, err = positive(val)
		case "delay":
			s.TokenDelay, err = time.ParseDuration(val)
		case "ttft":
			s.TTFT, err = time.ParseDuration(val)
		case "status":
			s.Status, err = strconv.Atoi(val)
			if err == nil && (s.Status < 100 || s.Status > 599) {
				err = errors.New("not an HTTP status")
			}
		case "disconnect":
			s.DisconnectAfter, err = strconv.Atoi(val)
			if err == nil && s.DisconnectAfter == 0 {
				s.DisconnectAfter = -1
			}
		case "garbage":
			s.Garbage = true
		case "hang":
			s.Hang = true
		case "error":
			s.ErrorEvent = true
		case "linger":
			s.Linger, err = time.ParseDuration(val)
		case "tool":
			s.Tool = val
			if val == "" {
				err = errors.New("name the function")
			}
		default:
			return s, fmt.Errorf("unknown fake engine directive %q", m[0])
		}
		if err != nil {
			return s, fmt.Errorf("fake engine directive %q: %v", m[0], err)
		}
	}
	return s, nil
}

func positive(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil && n <= 0 {
		err = errors.New("must be positive")
	}
	return n, err
}

// contentText is a message's text: a string, or the text parts of an
// array of content parts.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// promptText is a completion prompt's text: a string, a list of strings,
// or token arrays (each token counts as a word).
func promptText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return ""
	}
	var b strings.Builder
	for _, item := range list {
		if json.Unmarshal(item, &s) == nil {
			b.WriteString(s)
		} else {
			b.WriteString(" t") // a token id
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// run carries out a plan.
func (e *Engine) run(w http.ResponseWriter, r *http.Request, p *plan) {
	ctx := r.Context()
	if p.Hang {
		<-ctx.Done()
		e.cancelled()
		return
	}
	if !e.sleepUntil(r, p.start.Add(p.ttft)) {
		return
	}
	switch {
	case p.DisconnectAfter < 0 || (p.DisconnectAfter > 0 && !p.stream):
		drop(w)
	case p.Status != 0:
		typ := "invalid_request_error"
		if p.Status >= 500 {
			typ = "server_error"
		}
		writeError(w, p.Status, typ, "scripted", fmt.Sprintf("fake engine: scripted HTTP %d", p.Status))
	case p.Garbage && p.stream:
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: garbage, not JSON\n\ndata: [DONE]\n\n")
	case p.Garbage:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "garbage: this is not JSON")
	case p.stream:
		e.stream(w, r, p)
	default:
		e.respond(w, r, p)
	}
}

// sleepUntil waits until t, or returns false if the client went away.
func (e *Engine) sleepUntil(r *http.Request, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		if r.Context().Err() != nil {
			e.cancelled()
			return false
		}
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		e.cancelled()
		return false
	}
}

func (e *Engine) cancelled() {
	select {
	case e.cancels <- time.Now():
	default:
	}
}

// respond sends a non-streamed answer once the last token would have been
// generated.
func (e *Engine) respond(w http.ResponseWriter, r *http.Request, p *plan) {
	if p.tokens > 1 && !e.sleepUntil(r, p.start.Add(p.ttft+time.Duration(p.tokens-1)*p.delay)) {
		return
	}
	if p.ErrorEvent {
		writeJSON(w, http.StatusOK, errorEnvelope("server_error", "scripted", "fake engine: scripted error"))
		return
	}
	text := ""
	for i := 0; i < p.tokens; i++ {
		text += p.token(i)
	}
	u := usage{p.promptTokens, p.tokens, p.promptTokens + p.tokens}
	if p.chat && p.call != "" {
		call := map[string]any{"id": "call_" + p.id, "type": "function", "function": map[string]string{"name": p.call, "arguments": fakeArguments}}
		msg := map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{call}}
		writeJSON(w, http.StatusOK, completionBody{p.id, "chat.completion", p.created, p.model,
			[]any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": "tool_calls"}}, usage{p.promptTokens, 2, p.promptTokens + 2}})
		return
	}
	if p.chat {
		type message struct {
			Role    string  `json:"role"`
			Content string  `json:"content"`
			Refusal *string `json:"refusal"`
		}
		type choice struct {
			Index        int     `json:"index"`
			Message      message `json:"message"`
			Logprobs     any     `json:"logprobs"`
			FinishReason string  `json:"finish_reason"`
		}
		writeJSON(w, http.StatusOK, completionBody{p.id, "chat.completion", p.created, p.model,
			[]choice{{Message: message{Role: "assistant", Content: text}, FinishReason: p.finishReason}}, u})
		return
	}
	type choice struct {
		Index        int    `json:"index"`
		Text         string `json:"text"`
		Logprobs     any    `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
	}
	writeJSON(w, http.StatusOK, completionBody{p.id, "text_completion", p.created, p.model,
		[]choice{{Text: text, FinishReason: p.finishReason}}, u})
}

// completionBody is a non-streamed answer, chat or text; Choices differ.
type completionBody struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices any    `json:"choices"`
	Usage   usage  `json:"usage"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// stream sends the answer as server-sent events, flushing each one, with
// token i due at start + ttft + i*delay (so delays do not drift).
func (e *Engine) stream(w http.ResponseWriter, r *http.Request, p *plan) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	ev := &eventWriter{w: w, rc: rc}

	head := p.chunkHead()
	if p.chat {
		ev.send(head, `"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`)
	}
	if p.call != "" {
		name, _ := json.Marshal(p.call)
		ev.send(head, `"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_`, p.id, `","type":"function","function":{"name":`, string(name), `,"arguments":""}}]},"logprobs":null,"finish_reason":null}]}`)
		half := len(fakeArguments) / 2
		for _, part := range []string{fakeArguments[:half], fakeArguments[half:]} {
			arg, _ := json.Marshal(part)
			ev.send(head, `"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":`, string(arg), `}}]},"logprobs":null,"finish_reason":null}]}`)
		}
		ev.send(head, `"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}`)
		if p.includeUsage {
			ev.send(head, fmt.Sprintf(`"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":2,"total_tokens":%d}}`, p.promptTokens, p.promptTokens+2))
		}
		ev.send("[DONE]")
		return
	}
	for i := 0; i < p.tokens; i++ {
		if i > 0 && !e.sleepUntil(r, p.start.Add(p.ttft+time.Duration(i)*p.delay)) {
			return
		}
		if p.DisconnectAfter > 0 && i == p.DisconnectAfter {
			drop(w)
			return
		}
		tok, _ := json.Marshal(p.token(i))
		if p.chat {
			ev.send(head, `"choices":[{"index":0,"delta":{"content":`, string(tok), `},"logprobs":null,"finish_reason":null}]}`)
		} else {
			ev.send(head, `"choices":[{"index":0,"text":`, string(tok), `,"logprobs":null,"finish_reason":null}]}`)
		}
		if p.ErrorEvent {
			ev.send(`{"error":{"message":"fake engine: scripted error event","type":"server_error","param":null,"code":"scripted"}}`)
			ev.send("[DONE]")
		}
		if ev.err != nil {
			e.cancelled()
			return
		}
		if p.ErrorEvent {
			return
		}
	}
	if p.DisconnectAfter > 0 { // asked to drop after as many tokens as the answer has, or more
		drop(w)
		return
	}
	if p.chat {
		ev.send(head, `"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"`, p.finishReason, `"}]}`)
	} else {
		ev.send(head, `"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"`, p.finishReason, `"}]}`)
	}
	if p.includeUsage {
		ev.send(head, fmt.Sprintf(`"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			p.promptTokens, p.tokens, p.promptTokens+p.tokens))
	}
	ev.send("[DONE]")
	if ev.err != nil {
		e.cancelled()
		return
	}
	if p.Linger > 0 { // a client leaving now cancels nothing: the answer is complete
		t := time.NewTimer(p.Linger)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
	}
}

// chunkHead is the start of every chunk of the stream, up to "choices".
func (p *plan) chunkHead() string {
	model, _ := json.Marshal(p.model)
	object := "chat.completion.chunk"
	if !p.chat {
		object = "text_completion"
	}
	return fmt.Sprintf(`{"id":%q,"object":%q,"created":%d,"model":%s,`, p.id, object, p.created, model)
}

// eventWriter writes "data: ...\n\n" events, flushing each; after the first
// write error it does nothing.
type eventWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
	err error
}

func (ev *eventWriter) send(parts ...string) {
	if ev.err != nil {
		return
	}
	ev.buf = append(ev.buf[:0], "data: "...)
	for _, s := range parts {
		ev.buf = append(ev.buf, s...)
	}
	ev.buf = append(ev.buf, "\n\n"...)
	if _, ev.err = ev.w.Write(ev.buf); ev.err == nil {
		ev.err = ev.rc.Flush()
	}
}

// fakeArguments are the arguments of every function call the engine makes.
const fakeArguments = `{"city":"Paris"}`

// drop closes the connection without finishing the response.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: reset the stream instead
	}
	conn.Close()
}

func errorEnvelope(typ, code, msg string) any {
	type body struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	}
	return map[string]body{"error": {Message: msg, Type: typ, Code: code}}
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(w, status, errorEnvelope(typ, code, msg))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed shapes are marshalled
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
