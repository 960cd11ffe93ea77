package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Usage is an answer's token counts, as OpenAI-compatible engines report them.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Accumulator folds a streamed answer into the message jan stores. Use one
// per stream, by pointer: it must not be copied after the first AddChunk.
type Accumulator struct {
	ID, Model, Role, Content, FinishReason string
	Usage                                  *Usage
	// ToolCalls are the function calls of the answer, in the engine's
	// order, their arguments as streamed so far.
	ToolCalls []ToolCall

	// Delta is what the last AddChunk added (for a caller that translates
	// the stream as it goes).
	Delta Delta

	// Provider, if set, is named in the messages of the errors AddChunk
	// returns.
	Provider string

	content strings.Builder // Content is a view of it: appends stay linear
	args    []*strings.Builder // each ToolCalls[i].Arguments is a view of args[i]
}

// ToolCall is a function call an engine made.
type ToolCall struct {
	ID, Name, Arguments string
}

// Delta is one chunk's addition: content text, and the tool calls it
// started or continued (Index into ToolCalls, Arguments the new part).
type Delta struct {
	Content   string
	ToolCalls []ToolCallDelta
}

// ToolCallDelta is one chunk's part of a tool call.
type ToolCallDelta struct {
	Index     int
	Arguments string
}

// completion is the part of a non-streamed chat.completion or
// text_completion that jan reads.
type completion struct {
	Object  string `json:"object"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// upstreamError is the *Error for an error event in a stream, or an error
// envelope in a 200 response.
func upstreamErrorEvent(provider string, body []byte) *Error {
	msg := upstreamMessage(body)
	if msg == "" {
		msg = "unknown error"
	}
	return &Error{
		Status:   http.StatusBadGateway,
		Code:     CodeUpstream,
		Message:  providerLabel(provider) + " reported an error: " + msg,
		Provider: provider,
		Err:      errors.New("upstream error event: " + msg),
	}
}

// AddChunk folds the data of one streamed event into the accumulator: the
// content of choice 0 (delta.content for chat, text for completions), the
// first id and model, the role, the last finish_reason and the usage. A
// "[DONE]" is ignored. An error event returns a 502 upstream_error *Error
// with the upstream's message; data that is not a JSON object returns a
// 502 upstream_bad_response *Error.
//
// It runs once per streamed token, so instead of decoding the chunk into
// structs it checks that it is one object (isObject) and then walks only
// the fields it needs; the content of a token is appended without an
// intermediate string unless it has escapes.
func (a *Accumulator) AddChunk(data []byte) error {
	a.Delta = Delta{}
	if IsDone(data) {
		return nil
	}
	start := skipSpace(data, 0)
	if !isObject(data, start) {
		return badResponse(a.Provider, "sent a stream event that is not a JSON object",
			fmt.Errorf("invalid chunk %q", oneLine(string(data), 100)))
	}
	var choices []byte
	isError := false
	for key, val := range objectFields(data, start) {
		switch {
		case keyIs(key, "choices"):
			choices = val
		case keyIs(key, "id"):
			if a.ID == "" {
				a.ID = jsonString(val)
			}
		case keyIs(key, "model"):
			if a.Model == "" {
				a.Model = jsonString(val)
			}
		case keyIs(key, "usage"):
			if val[0] == '{' {
				var u Usage
				if err := json.Unmarshal(val, &u); err != nil {
					return badResponse(a.Provider, "sent usage that jan could not read", err)
				}
				a.Usage = &u
			}
		case keyIs(key, "error"):
			isError = isError || val[0] != 'n' // not null
		case keyIs(key, "object"):
			isError = isError || jsonString(val) == "error" // vLLM's error object
		}
	}
	if isError {
		return upstreamErrorEvent(a.Provider, data)
	}
	if choices == nil || choices[0] == 'n' {
		return nil
	}
	if choices[0] != '[' {
		return badResponse(a.Provider, "sent a stream event whose choices are not a list", errors.New("choices is not an array"))
	}
	for choice := range arrayValues(choices) {
		if choice[0] != '{' {
			return badResponse(a.Provider, "sent a stream event with a malformed choice", errors.New("choice is not an object"))
		}
		a.addChoice(choice)
	}
	return nil
}

// addChoice folds one element of choices; only choice 0 is kept (n > 1).
func (a *Accumulator) addChoice(choice []byte) {
	var delta, text, finish []byte
	for key, val := range objectFields(choice, 0) {
		switch {
		case keyIs(key, "index"):
			if string(val) != "0" {
				return
			}
		case keyIs(key, "delta"):
			delta = val
		case keyIs(key, "text"):
			text = val
		case keyIs(key, "finish_reason"):
			finish = val
		}
	}
	before := len(a.Content)
	if delta != nil && delta[0] == '{' {
		for key, val := range objectFields(delta, 0) {
			switch {
			case keyIs(key, "content"):
				a.appendContent(val)
			case keyIs(key, "role"):
				if r := jsonString(val); r != "" {
					a.Role = r
				}
			case keyIs(key, "tool_calls"):
				if val[0] == '[' {
					for tc := range arrayValues(val) {
						a.addToolCall(tc)
					}
				}
			}
		}
	}
	a.appendContent(text)
	a.Delta.Content = a.Content[before:]
	if f := jsonString(finish); f != "" {
		a.FinishReason = f
	}
}

// addToolCall folds one element of delta.tool_calls: the first part of a
// call carries its id and name, every part a piece of the arguments.
func (a *Accumulator) addToolCall(tc []byte) {
	if tc[0] != '{' {
		return
	}
	index := -1
	var id, name, args string
	for key, val := range objectFields(tc, 0) {
		switch {
		case keyIs(key, "index"):
			if n, err := strconv.Atoi(string(val)); err == nil && n >= 0 && n < 128 {
				index = n
			}
		case keyIs(key, "id"):
			id = jsonString(val)
		case keyIs(key, "function"):
			if val[0] == '{' {
				for k, v := range objectFields(val, 0) {
					switch {
					case keyIs(k, "name"):
						name = jsonString(v)
					case keyIs(k, "arguments"):
						args = jsonString(v)
					}
				}
			}
		}
	}
	if index < 0 {
		index = len(a.ToolCalls) // engines that leave index out send one call per part
		if id == "" && index > 0 {
			index-- // a continuation of the last call
		}
	}
	for len(a.ToolCalls) <= index {
		a.ToolCalls = append(a.ToolCalls, ToolCall{})
		a.args = append(a.args, &strings.Builder{})
	}
	c := &a.ToolCalls[index]
	if id != "" {
		c.ID = id
	}
	if name != "" {
		c.Name += name
	}
	a.args[index].WriteString(args)
	c.Arguments = a.args[index].String()
	a.Delta.ToolCalls = append(a.Delta.ToolCalls, ToolCallDelta{Index: index, Arguments: args})
}

// appendContent appends a JSON string value (raw, quoted) to the content.
func (a *Accumulator) appendContent(raw []byte) {
	if len(raw) < 3 || raw[0] != '"' { // missing, null, non-string or ""
		return
	}
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		a.content.Write(inner)
	} else {
		a.content.WriteString(jsonString(raw))
	}
	a.Content = a.content.String()
}

// jsonString decodes a raw JSON string value; "" for anything else.
func jsonString(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(raw, &s) // invalid UTF-8 becomes U+FFFD; a malformed string reads as ""
	return s
}

// isObject says whether b[i:] is one JSON object and nothing after it but
// space: its strings end and its braces and brackets balance. That is not
// a full validation (json.Valid is, at a cost on every token): it is what
// the scanners below need, and they never yield an empty value nor read
// past the data, whatever it holds; strings with escapes are decoded by
// encoding/json.
func isObject(b []byte, i int) bool {
	if i >= len(b) || b[i] != '{' {
		return false
	}
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return false // unterminated
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return skipSpace(b, i+1) == len(b)
			}
		}
	}
	return false
}

// objectFields yields the raw key (quoted) and value of each field of the
// JSON object starting at b[i]; it stops at anything malformed.
func objectFields(b []byte, i int) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		i := skipSpace(b, i+1)
		for i < len(b) && b[i] == '"' {
			keyEnd := skipString(b, i)
			v := skipSpace(b, skipSpace(b, keyEnd)+1)
			vEnd := skipValue(b, v)
			if v >= vEnd || vEnd > len(b) || !yield(b[i:keyEnd], b[v:vEnd]) {
				return
			}
			i = skipSpace(b, vEnd)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
	}
}

// arrayValues yields each raw element of the JSON array b; it stops at
// anything malformed.
func arrayValues(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		i := skipSpace(b, 1)
		for i < len(b) && b[i] != ']' {
			end := skipValue(b, i)
			if i >= end || end > len(b) || !yield(b[i:end]) {
				return
			}
			i = skipSpace(b, end)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
	}
}

// ParseCompletion reads a non-streamed chat.completion (content of
// choices[0].message) or text_completion (choices[0].text) body. An error
// envelope returns a 502 upstream_error *Error, a body that is not a
// completion a 502 upstream_bad_response *Error; set their Provider if you
// know it.
func ParseCompletion(body []byte) (content, finishReason string, usage *Usage, err error) {
	var c completion
	if err := unmarshalObject(body, &c); err != nil {
		return "", "", nil, badResponse("", "sent a response that is not a JSON object", err)
	}
	if (len(c.Error) > 0 && string(c.Error) != "null") || c.Object == "error" {
		return "", "", nil, upstreamErrorEvent("", body)
	}
	if c.Choices == nil {
		return "", "", nil, badResponse("", "sent a response without choices", errors.New("no choices in completion"))
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		content = ch.Message.Content + ch.Text
		if ch.FinishReason != nil {
			finishReason = *ch.FinishReason
		}
		break
	}
	return content, finishReason, c.Usage, nil
}

// unmarshalObject is json.Unmarshal that also rejects a bare null, which
// would otherwise decode into a zero struct without error.
func unmarshalObject(data []byte, v any) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return errors.New("got null, want a JSON object")
	}
	return json.Unmarshal(data, v)
}
