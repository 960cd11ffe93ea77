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

	"github.com/janhq/jan/internal/rawjson"
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

	content strings.Builder    // Content is a view of it: appends stay linear
	args    []*strings.Builder // each ToolCalls[i].Arguments is a view of args[i]
	pending choiceFields       // the chunk being read
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
	Object  string             `json:"object"`
	Choices []completionChoice `json:"choices"`
	Usage   *Usage             `json:"usage"`
	Error   json.RawMessage    `json:"error"`
}

type completionChoice struct {
	Index   int `json:"index"`
	Message struct {
		Content string `json:"content"`
	} `json:"message"`
	Text         string  `json:"text"`
	FinishReason *string `json:"finish_reason"`
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
// structs it walks the fields it needs, checking that the chunk is one
// object as it goes (walkObject); the content of a token is appended without an
// intermediate string unless it has escapes.
func (a *Accumulator) AddChunk(data []byte) error {
	a.Delta = Delta{}
	if IsDone(data) {
		return nil
	}
	// One walk reads the fields and checks the shape; what choice 0 says is
	// kept aside (pending) and folded in only once the whole chunk is read.
	var id, model, usage []byte
	isError, badChoices := false, ""
	p := &a.pending
	*p = choiceFields{calls: p.calls[:0]}
	end, ok := walkObject(data, rawjson.SkipSpace(data, 0), func(name []byte, v int) int {
		switch string(name) {
		case "choices":
			switch data[v] {
			case 'n':
				return skipIt
			case '[':
			default:
				badChoices = "are not a list"
				return skipIt
			}
			end, ok := walkArray(data, v, func(c int) int {
				if data[c] != '{' {
					badChoices = "hold a choice that is not an object"
					return skipIt
				}
				return p.readChoice(data, c)
			})
			if !ok {
				return malformed
			}
			return end
		case "id":
			return take(data, v, &id)
		case "model":
			return take(data, v, &model)
		case "usage":
			return take(data, v, &usage)
		case "error":
			isError = isError || data[v] != 'n' // not null
		case "object":
			var obj []byte
			end := take(data, v, &obj)
			isError = isError || string(obj) == `"error"` // vLLM's error object
			return end
		}
		return skipIt
	})
	if !ok || rawjson.SkipSpace(data, end) != len(data) {
		return badResponse(a.Provider, "sent a stream event that is not a JSON object",
			fmt.Errorf("invalid chunk %q", oneLine(string(data), 100)))
	}
	if a.ID == "" && id != nil {
		a.ID = jsonString(id)
	}
	if a.Model == "" && model != nil {
		a.Model = jsonString(model)
	}
	if usage != nil && usage[0] == '{' {
		var u Usage
		if err := json.Unmarshal(usage, &u); err != nil {
			return badResponse(a.Provider, "sent usage that jan could not read", err)
		}
		a.Usage = &u
	}
	if isError {
		return upstreamErrorEvent(a.Provider, data)
	}
	if badChoices != "" {
		return badResponse(a.Provider, "sent a stream event whose choices "+badChoices, errors.New("malformed choices"))
	}
	a.fold(p)
	return nil
}

// choiceFields is what choice 0 of a chunk says, raw.
type choiceFields struct {
	content, text, role, finish []byte
	calls                       [][]byte // delta.tool_calls elements
}

// readChoice reads the choice object at b[i] (keeping choice 0's fields
// in p) and returns where it ends, or malformed.
func (p *choiceFields) readChoice(b []byte, i int) int {
	var c choiceFields
	c.calls = p.calls
	zero := true
	end, ok := walkObject(b, i, func(name []byte, v int) int {
		switch string(name) {
		case "index":
			var index []byte
			end := take(b, v, &index)
			zero = string(index) == "0"
			return end
		case "text":
			return take(b, v, &c.text)
		case "finish_reason":
			return take(b, v, &c.finish)
		case "delta":
			if b[v] != '{' {
				return skipIt
			}
			end, ok := walkObject(b, v, func(name []byte, v int) int {
				switch string(name) {
				case "content":
					return take(b, v, &c.content)
				case "role":
					return take(b, v, &c.role)
				case "tool_calls":
					if b[v] != '[' {
						return skipIt
					}
					end, ok := walkArray(b, v, func(t int) int {
						var call []byte
						end := take(b, t, &call)
						c.calls = append(c.calls, call)
						return end
					})
					if !ok {
						return malformed
					}
					return end
				}
				return skipIt
			})
			if !ok {
				return malformed
			}
			return end
		}
		return skipIt
	})
	if !ok {
		return malformed
	}
	if zero { // only choice 0 is kept (n > 1)
		*p = c
	} else {
		p.calls = c.calls[:len(p.calls)]
	}
	return end
}

// fold adds what choice 0 said to the answer.
func (a *Accumulator) fold(p *choiceFields) {
	before := len(a.Content)
	a.appendContent(p.content)
	for _, tc := range p.calls {
		a.addToolCall(tc)
	}
	a.appendContent(p.text)
	a.Delta.Content = a.Content[before:]
	if f := jsonString(p.finish); f != "" {
		a.FinishReason = f
	}
	if r := jsonString(p.role); r != "" {
		a.Role = r
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
		switch string(key) {
		case "index":
			if n, err := strconv.Atoi(string(val)); err == nil && n >= 0 && n < 128 {
				index = n
			}
		case "id":
			id = jsonString(val)
		case "function":
			if val[0] == '{' {
				for k, v := range objectFields(val, 0) {
					switch string(k) {
					case "name":
						name = jsonString(v)
					case "arguments":
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

// What a walk's callback returns for a value: where it ends when the
// callback read it, or one of these.
const (
	skipIt    = 0  // not read: the walk skips it
	malformed = -1 // the value is not what JSON allows: the walk fails
)

// walkObject calls field with the name (unquoted) and the index in b of
// the value of each member of the JSON object at b[i]. It returns where
// the object ends and whether it is well formed: keys and strings end,
// values are there, braces and brackets balance. That is not a full
// validation (json.Valid is, at a cost on every token): it is what the
// readers here need, in one pass, and it never reads past b whatever b
// holds; strings with escapes are decoded by encoding/json.
func walkObject(b []byte, i int, field func(name []byte, v int) int) (end int, ok bool) {
	if i >= len(b) || b[i] != '{' {
		return i, false
	}
	i = rawjson.SkipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		keyEnd := rawjson.SkipString(b, i)
		colon := rawjson.SkipSpace(b, keyEnd)
		if colon >= len(b) || b[colon] != ':' {
			return colon, false
		}
		v := rawjson.SkipSpace(b, colon+1)
		if v >= len(b) {
			return v, false
		}
		vEnd := field(keyName(b[i:keyEnd]), v)
		if vEnd == skipIt {
			vEnd = rawjson.SkipValue(b, v)
		}
		if vEnd <= v || vEnd >= len(b) { // an object's value is followed by at least its closing brace
			return v, false
		}
		i = rawjson.SkipSpace(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i = rawjson.SkipSpace(b, i+1)
		}
	}
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	return i, false
}

// walkArray is walkObject for the JSON array at b[i]: elem is called with
// the index of each element.
func walkArray(b []byte, i int, elem func(v int) int) (end int, ok bool) {
	if i >= len(b) || b[i] != '[' {
		return i, false
	}
	i = rawjson.SkipSpace(b, i+1)
	for i < len(b) && b[i] != ']' {
		vEnd := elem(i)
		if vEnd == skipIt {
			vEnd = rawjson.SkipValue(b, i)
		}
		if vEnd <= i || vEnd >= len(b) {
			return i, false
		}
		i = rawjson.SkipSpace(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i = rawjson.SkipSpace(b, i+1)
		}
	}
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	return i, false
}

// take sets *dst to the raw value at b[v] and returns where it ends (v
// itself, which a walk takes as malformed, when there is none).
func take(b []byte, v int, dst *[]byte) int {
	*dst = valueAt(b, v)
	return v + len(*dst)
}

// valueAt is the raw value starting at b[v] (possibly cut short, if b is
// malformed: a walk then fails).
func valueAt(b []byte, v int) []byte {
	return b[v:min(rawjson.SkipValue(b, v), len(b))]
}

// keyName is a quoted key without its quotes, unescaped.
func keyName(key []byte) []byte {
	name := key[1 : len(key)-1]
	if bytes.IndexByte(name, '\\') >= 0 {
		return []byte(jsonString(key))
	}
	return name
}

// objectFields yields the name and raw value of each member of the JSON
// object at b[i] (see walkObject); it stops at anything malformed.
func objectFields(b []byte, i int) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		stopped := false
		walkObject(b, i, func(name []byte, v int) int {
			if stopped || !yield(name, valueAt(b, v)) {
				stopped = true
			}
			return skipIt
		})
	}
}

// ParseCompletion reads a non-streamed chat.completion (content of
// choices[0].message) or text_completion (choices[0].text) body. An error
// envelope returns a 502 upstream_error *Error, a body that is not a
// completion a 502 upstream_bad_response *Error; set their Provider if you
// know it.
func ParseCompletion(body []byte) (content, finishReason string, usage *Usage, err error) {
	var c completion
	if !c.scan(body) { // anything unusual: encoding/json decides, and words the error
		c = completion{}
		if err := unmarshalObject(body, &c); err != nil {
			return "", "", nil, badResponse("", "sent a response that is not a JSON object", err)
		}
	}
	return c.answer(body)
}

// answer is what ParseCompletion returns for the decoded answer c of body.
func (c *completion) answer(body []byte) (content, finishReason string, usage *Usage, err error) {
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

// UsageOf reads the "usage" object of an OpenAI answer or stream chunk
// without decoding the rest: it is the last member engines write, so the
// search starts from the end. nil when there is none (or it is null).
func UsageOf(b []byte) *Usage {
	i := bytes.LastIndex(b, []byte(`"usage"`))
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(b[i+len(`"usage"`):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil
	}
	rest = rest[1:]
	v := rawjson.SkipSpace(rest, 0)
	var u *Usage
	if err := json.Unmarshal(rest[v:rawjson.SkipValue(rest, v)], &u); err != nil {
		return nil
	}
	return u
}
