// Package responses owns the OpenAI Responses API's shapes in jan: reading
// a POST /v1/responses body into a Request, input and output items and
// their JSON, turning items into the chat messages and the chat completion
// request an engine takes, and turning the engine's streamed answer into
// the Responses events and output items (Stream).
//
// It knows nothing of HTTP, the store or who asks: the server validates
// ownership, stores items, and writes what this package builds.
package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Request is a POST /v1/responses body as jan reads it. Fields it passes to
// the engine stay raw.
type Request struct {
	Model              string
	Input              []Item
	Instructions       *string
	PreviousResponseID string
	Conversation       string
	Stream             bool
	Store              bool
	Background         bool
	Temperature        *float64
	TopP               *float64
	MaxOutputTokens    *int
	Tools              []Tool
	ToolChoice         json.RawMessage // as given: "auto", "none", "required" or {"type":"function","name"}
	ParallelToolCalls  *bool
	Format             *Format // text.format
	Metadata           map[string]string
}

// Tool is a function the model may call.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Format is text.format: "text", "json_object" or "json_schema" (with Name,
// Schema, Strict).
type Format struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// FieldError is a request that cannot be taken, naming the field as the
// client wrote it (input[2].content[0].type).
type FieldError struct {
	Param, Code, Message string
}

func (e *FieldError) Error() string { return e.Message }

func fieldErr(param, code, format string, args ...any) *FieldError {
	return &FieldError{Param: param, Code: code, Message: fmt.Sprintf(format, args...)}
}

// maxInputItems bounds the items of one request, as OpenAI's does.
const maxInputItems = 2048

// ParseRequest reads and checks a POST /v1/responses body. Every refusal is
// a *FieldError.
func ParseRequest(body []byte) (*Request, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return nil, fieldErr("", "invalid_json", "request body must be a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fieldErr("", "invalid_json", "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	r := &Request{Store: true}
	f := fields{raw}
	var err error
	if r.Model, err = f.text("model", true); err != nil {
		return nil, err
	}
	if r.Input, err = parseInput(raw["input"]); err != nil {
		return nil, err
	}
	if s, err := f.text("instructions", false); err != nil {
		return nil, err
	} else if present(raw["instructions"]) {
		r.Instructions = &s
	}
	if r.PreviousResponseID, err = f.text("previous_response_id", false); err != nil {
		return nil, err
	}
	if r.Conversation, err = parseConversation(raw["conversation"]); err != nil {
		return nil, err
	}
	if r.PreviousResponseID != "" && r.Conversation != "" {
		return nil, fieldErr("conversation", "conflicting_fields", "previous_response_id and conversation cannot both be set: one chain of context at a time")
	}
	for name, dst := range map[string]*bool{"stream": &r.Stream, "store": &r.Store, "background": &r.Background} {
		if err := f.boolean(name, dst); err != nil {
			return nil, err
		}
	}
	if r.Background && !r.Store {
		return nil, fieldErr("background", "invalid_value", "background responses must be stored: drop store: false")
	}
	if r.Temperature, err = f.number("temperature", 0, 2); err != nil {
		return nil, err
	}
	if r.TopP, err = f.number("top_p", 0, 1); err != nil {
		return nil, err
	}
	if v, err := f.number("max_output_tokens", 1, 1<<30); err != nil {
		return nil, err
	} else if v != nil {
		n := int(*v)
		r.MaxOutputTokens = &n
	}
	if present(raw["parallel_tool_calls"]) {
		var v bool
		if err := f.boolean("parallel_tool_calls", &v); err != nil {
			return nil, err
		}
		r.ParallelToolCalls = &v
	}
	if r.Tools, err = parseTools(raw["tools"]); err != nil {
		return nil, err
	}
	if r.ToolChoice, err = parseToolChoice(raw["tool_choice"]); err != nil {
		return nil, err
	}
	if r.Format, err = parseText(raw["text"]); err != nil {
		return nil, err
	}
	if present(raw["metadata"]) {
		if err := json.Unmarshal(raw["metadata"], &r.Metadata); err != nil {
			return nil, fieldErr("metadata", "invalid_type", "metadata: expected an object of string values")
		}
		for k, v := range r.Metadata {
			if err := checkText("metadata", k+v); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// checkText refuses text jan cannot store: invalid UTF-8 or a NUL.
func checkText(param, s string) error {
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return fieldErr(param, "invalid_text", "%s must be UTF-8 text without NUL characters", param)
	}
	return nil
}

type fields struct{ raw map[string]json.RawMessage }

func (f fields) text(name string, required bool) (string, error) {
	raw := f.raw[name]
	if !present(raw) {
		if required {
			return "", fieldErr(name, "missing_field", "%s is required", name)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fieldErr(name, "invalid_type", "%s: expected a string", name)
	}
	if required && s == "" {
		return "", fieldErr(name, "missing_field", "%s must not be empty", name)
	}
	return s, checkText(name, s)
}

func (f fields) boolean(name string, dst *bool) error {
	raw := f.raw[name]
	if !present(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fieldErr(name, "invalid_type", "%s: expected true or false", name)
	}
	return nil
}

func (f fields) number(name string, lo, hi float64) (*float64, error) {
	raw := f.raw[name]
	if !present(raw) {
		return nil, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fieldErr(name, "invalid_type", "%s: expected a number", name)
	}
	if v < lo || v > hi {
		return nil, fieldErr(name, "invalid_value", "%s must be between %g and %g", name, lo, hi)
	}
	return &v, nil
}

// parseConversation reads "conv_…" or {"id": "conv_…"}.
func parseConversation(raw json.RawMessage) (string, error) {
	if !present(raw) {
		return "", nil
	}
	var id string
	if raw[0] == '{' {
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil || obj.ID == "" {
			return "", fieldErr("conversation", "invalid_type", `conversation: expected "conv_…" or {"id": "conv_…"}`)
		}
		id = obj.ID
	} else if err := json.Unmarshal(raw, &id); err != nil || id == "" {
		return "", fieldErr("conversation", "invalid_type", `conversation: expected "conv_…" or {"id": "conv_…"}`)
	}
	return id, checkText("conversation", id)
}

// parseInput reads input: a string (one user message) or an array of items.
func parseInput(raw json.RawMessage) ([]Item, error) {
	if !present(raw) {
		return nil, fieldErr("input", "missing_field", "input is required: a string or an array of items")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fieldErr("input", "invalid_type", "input: expected a string or an array of items")
		}
		if strings.TrimSpace(s) == "" {
			return nil, fieldErr("input", "empty_input", "input must not be empty")
		}
		if err := checkText("input", s); err != nil {
			return nil, err
		}
		return []Item{{Type: TypeMessage, Role: "user", Text: s}}, nil
	}
	var list []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, fieldErr("input", "invalid_type", "input: expected a string or an array of items")
	}
	if len(list) == 0 {
		return nil, fieldErr("input", "empty_input", "input must hold at least one item")
	}
	if len(list) > maxInputItems {
		return nil, fieldErr("input", "too_many_items", "input may hold at most %d items, got %d", maxInputItems, len(list))
	}
	items := make([]Item, 0, len(list))
	for i, r := range list {
		it, err := parseItem(r, fmt.Sprintf("input[%d]", i))
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// inputItem is every field an input item may have.
type inputItem struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

var roles = map[string]bool{"user": true, "assistant": true, "system": true, "developer": true}

func parseItem(raw json.RawMessage, param string) (Item, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return Item{}, fieldErr(param, "invalid_type", "%s: expected an object", param)
	}
	var in inputItem
	if err := json.Unmarshal(raw, &in); err != nil {
		return Item{}, fieldErr(param, "invalid_type", "%s: %s", param, strings.TrimPrefix(err.Error(), "json: "))
	}
	switch in.Type {
	case "", TypeMessage:
		if !roles[in.Role] {
			return Item{}, fieldErr(param+".role", "invalid_role", "%s.role: must be user, assistant, system or developer, got %q", param, in.Role)
		}
		text, err := contentText(in.Content, param+".content")
		if err != nil {
			return Item{}, err
		}
		return Item{Type: TypeMessage, Role: in.Role, Text: text}, nil
	case TypeFunctionCall:
		if in.CallID == "" || in.Name == "" {
			return Item{}, fieldErr(param, "missing_field", "%s: a function_call needs call_id and name", param)
		}
		for _, s := range []string{in.CallID, in.Name, in.Arguments} {
			if err := checkText(param, s); err != nil {
				return Item{}, err
			}
		}
		return Item{Type: TypeFunctionCall, CallID: in.CallID, Name: in.Name, Arguments: in.Arguments}, nil
	case TypeFunctionCallOutput:
		if in.CallID == "" {
			return Item{}, fieldErr(param+".call_id", "missing_field", "%s.call_id is required", param)
		}
		var out string
		if !present(in.Output) {
			return Item{}, fieldErr(param+".output", "missing_field", "%s.output is required", param)
		}
		if in.Output[0] == '"' {
			_ = json.Unmarshal(in.Output, &out)
		} else if text, err := contentText(in.Output, param+".output"); err == nil {
			out = text
		} else {
			return Item{}, err
		}
		if err := checkText(param+".output", out+in.CallID); err != nil {
			return Item{}, err
		}
		return Item{Type: TypeFunctionCallOutput, CallID: in.CallID, Output: out}, nil
	}
	return Item{}, fieldErr(param+".type", "unknown_item_type",
		"%s.type: %q items are not supported (message, function_call, function_call_output)", param, in.Type)
}

// contentText reads a message's content: a string, or text parts
// (input_text, output_text, text).
func contentText(raw json.RawMessage, param string) (string, error) {
	if !present(raw) {
		return "", fieldErr(param, "missing_field", "%s is required", param)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fieldErr(param, "invalid_type", "%s: expected a string or an array of content parts", param)
		}
		return s, checkText(param, s)
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if raw[0] != '[' || json.Unmarshal(raw, &parts) != nil {
		return "", fieldErr(param, "invalid_type", "%s: expected a string or an array of content parts", param)
	}
	var b strings.Builder
	for i, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "text":
			if p.Text == nil {
				return "", fieldErr(fmt.Sprintf("%s[%d].text", param, i), "missing_field", "%s[%d].text is required", param, i)
			}
			b.WriteString(*p.Text)
		default:
			return "", fieldErr(fmt.Sprintf("%s[%d].type", param, i), "unsupported_content",
				"%s[%d].type: %q parts are not supported; send text (input_text)", param, i, p.Type)
		}
	}
	return b.String(), checkText(param, b.String())
}

func parseTools(raw json.RawMessage) ([]Tool, error) {
	if !present(raw) {
		return nil, nil
	}
	var list []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, fieldErr("tools", "invalid_type", "tools: expected an array")
	}
	if len(list) > 128 {
		return nil, fieldErr("tools", "too_many_tools", "tools may hold at most 128 functions")
	}
	tools := make([]Tool, 0, len(list))
	for i, r := range list {
		var t struct {
			Tool
			Type string `json:"type"`
		}
		param := fmt.Sprintf("tools[%d]", i)
		if json.Unmarshal(r, &t) != nil {
			return nil, fieldErr(param, "invalid_type", "%s: expected a function tool", param)
		}
		if t.Type != "function" {
			return nil, fieldErr(param+".type", "unsupported_tool", "%s.type: %q tools are not supported; jan offers function tools", param, t.Type)
		}
		if t.Name == "" {
			return nil, fieldErr(param+".name", "missing_field", "%s.name is required", param)
		}
		if err := checkText(param+".name", t.Name+t.Description); err != nil {
			return nil, err
		}
		if len(t.Parameters) > 0 && t.Parameters[0] != '{' && string(t.Parameters) != "null" {
			return nil, fieldErr(param+".parameters", "invalid_type", "%s.parameters: expected a JSON schema object", param)
		}
		tools = append(tools, t.Tool)
	}
	return tools, nil
}

func parseToolChoice(raw json.RawMessage) (json.RawMessage, error) {
	if !present(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none", "required":
			return raw, nil
		}
		return nil, fieldErr("tool_choice", "invalid_value", `tool_choice: want "auto", "none", "required" or {"type":"function","name":…}`)
	}
	var obj struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Type != "function" || obj.Name == "" {
		return nil, fieldErr("tool_choice", "invalid_value", `tool_choice: want "auto", "none", "required" or {"type":"function","name":…}`)
	}
	return raw, nil
}

func parseText(raw json.RawMessage) (*Format, error) {
	if !present(raw) {
		return nil, nil
	}
	var t struct {
		Format *Format `json:"format"`
	}
	if raw[0] != '{' || json.Unmarshal(raw, &t) != nil {
		return nil, fieldErr("text", "invalid_type", "text: expected an object with a format")
	}
	if t.Format == nil {
		return nil, nil
	}
	switch t.Format.Type {
	case "text", "json_object":
	case "json_schema":
		if t.Format.Name == "" || len(t.Format.Schema) == 0 || t.Format.Schema[0] != '{' {
			return nil, fieldErr("text.format", "missing_field", "text.format: a json_schema format needs a name and a schema object")
		}
	default:
		return nil, fieldErr("text.format.type", "invalid_value", "text.format.type: want text, json_object or json_schema, got %q", t.Format.Type)
	}
	return t.Format, nil
}
