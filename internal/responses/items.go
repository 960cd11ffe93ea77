package responses

import (
	"encoding/json"
	"errors"

	"github.com/janhq/jan/internal/inference"
)

// Item types jan reads and writes.
const (
	TypeMessage            = "message"
	TypeFunctionCall       = "function_call"
	TypeFunctionCallOutput = "function_call_output"
)

// Item is an input or output item of a response.
type Item struct {
	Type   string
	ID     string
	Status string // completed, incomplete, in_progress ("" on input items: completed)
	// Messages.
	Role string
	Text string
	// Function calls (CallID, Name, Arguments) and their outputs (CallID, Output).
	CallID, Name, Arguments string
	Output                  string
}

// MarshalJSON writes the item in OpenAI's shape: a message's text as one
// part (output_text for the assistant, input_text otherwise).
func (it Item) MarshalJSON() ([]byte, error) {
	switch it.Type {
	case TypeMessage, TypeFunctionCall, TypeFunctionCallOutput:
		return it.appendJSON(nil), nil
	}
	return nil, errors.New("responses: item of unknown type " + it.Type)
}

// appendJSON appends the item's JSON (see MarshalJSON) by hand: items
// carry the whole text, and the stream writes them at its end.
func (it Item) appendJSON(b []byte) []byte {
	status := it.Status
	if status == "" {
		status = "completed"
	}
	b = append(b, `{"type":`...)
	b = inference.AppendJSONString(b, it.Type)
	if it.ID != "" {
		b = inference.AppendJSONString(append(b, `,"id":`...), it.ID)
	}
	b = inference.AppendJSONString(append(b, `,"status":`...), status)
	switch it.Type {
	case TypeMessage:
		part := "input_text"
		if it.Role == "assistant" {
			part = "output_text"
		}
		b = inference.AppendJSONString(append(b, `,"role":`...), it.Role)
		b = appendPart(append(b, `,"content":[`...), part, inference.AppendJSONString(nil, it.Text))
		b = append(b, ']')
	case TypeFunctionCall:
		b = inference.AppendJSONString(append(b, `,"call_id":`...), it.CallID)
		b = inference.AppendJSONString(append(b, `,"name":`...), it.Name)
		b = inference.AppendJSONString(append(b, `,"arguments":`...), it.Arguments)
	case TypeFunctionCallOutput:
		b = inference.AppendJSONString(append(b, `,"call_id":`...), it.CallID)
		b = inference.AppendJSONString(append(b, `,"output":`...), it.Output)
	}
	return append(b, '}')
}

// appendPart appends a content part of type typ ("input_text",
// "output_text") whose text is quoted, already JSON; an output_text part
// has its (empty) annotations.
func appendPart(b []byte, typ string, quoted []byte) []byte {
	b = append(append(append(b, `{"type":"`...), typ...), `","text":`...)
	b = append(b, quoted...)
	if typ == "output_text" {
		b = append(b, `,"annotations":[]`...)
	}
	return append(b, '}')
}

// UnmarshalJSON reads an item MarshalJSON wrote (as the store keeps them).
func (it *Item) UnmarshalJSON(b []byte) error {
	var in struct {
		inputItem
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*it = Item{Type: in.Type, ID: in.ID, Status: in.Status, Role: in.Role, CallID: in.CallID, Name: in.Name, Arguments: in.Arguments}
	switch in.Type {
	case TypeMessage:
		text, err := contentText(in.Content, "content")
		if err != nil {
			return err
		}
		it.Text = text
	case TypeFunctionCallOutput:
		_ = json.Unmarshal(in.Output, &it.Output)
	}
	return nil
}

// Messages turns items into an engine's chat messages, oldest first, after
// a system message of instructions (when not empty). Consecutive function
// calls become one assistant message with tool_calls; a function call's
// output becomes a tool message.
func Messages(instructions string, items []Item) []json.RawMessage {
	type call struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	var out []json.RawMessage
	add := func(v any) {
		b, _ := json.Marshal(v) // fixed shapes of strings
		out = append(out, b)
	}
	if instructions != "" {
		add(map[string]string{"role": "system", "content": instructions})
	}
	var calls []call
	flush := func() {
		if len(calls) > 0 {
			add(map[string]any{"role": "assistant", "content": nil, "tool_calls": calls})
			calls = nil
		}
	}
	for _, it := range items {
		switch it.Type {
		case TypeFunctionCall:
			c := call{ID: it.CallID, Type: "function"}
			c.Function.Name, c.Function.Arguments = it.Name, it.Arguments
			calls = append(calls, c)
			continue
		}
		flush()
		switch it.Type {
		case TypeMessage:
			add(map[string]string{"role": it.Role, "content": it.Text})
		case TypeFunctionCallOutput:
			add(map[string]string{"role": "tool", "tool_call_id": it.CallID, "content": it.Output})
		}
	}
	flush()
	return out
}

// EngineRequest is the chat completion request for r with its context
// (messages from Messages), for the engine's servedName. It always
// streams, with usage: a response that is cancelled or cut short keeps
// what was generated.
func EngineRequest(r *Request, messages []json.RawMessage, servedName string) ([]byte, error) {
	type function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Strict      *bool           `json:"strict,omitempty"`
	}
	type tool struct {
		Type     string   `json:"type"`
		Function function `json:"function"`
	}
	body := struct {
		Model             string            `json:"model"`
		Messages          []json.RawMessage `json:"messages"`
		Stream            bool              `json:"stream"`
		StreamOptions     map[string]bool   `json:"stream_options"`
		Temperature       *float64          `json:"temperature,omitempty"`
		TopP              *float64          `json:"top_p,omitempty"`
		MaxTokens         *int              `json:"max_tokens,omitempty"`
		Tools             []tool            `json:"tools,omitempty"`
		ToolChoice        json.RawMessage   `json:"tool_choice,omitempty"`
		ParallelToolCalls *bool             `json:"parallel_tool_calls,omitempty"`
		ResponseFormat    any               `json:"response_format,omitempty"`
	}{Model: servedName, Messages: messages, Stream: true, StreamOptions: map[string]bool{"include_usage": true},
		Temperature: r.Temperature, TopP: r.TopP, MaxTokens: r.MaxOutputTokens, ParallelToolCalls: r.ParallelToolCalls}
	for _, t := range r.Tools {
		body.Tools = append(body.Tools, tool{Type: "function", Function: function(t)})
	}
	if len(r.ToolChoice) > 0 {
		var named struct {
			Name string `json:"name"`
		}
		if r.ToolChoice[0] == '{' && json.Unmarshal(r.ToolChoice, &named) == nil {
			// Responses names the function at the top; chat completions under "function".
			body.ToolChoice, _ = json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": named.Name}})
		} else {
			body.ToolChoice = r.ToolChoice
		}
	}
	if f := r.Format; f != nil {
		switch f.Type {
		case "json_object":
			body.ResponseFormat = map[string]string{"type": "json_object"}
		case "json_schema":
			body.ResponseFormat = map[string]any{"type": "json_schema", "json_schema": struct {
				Name        string          `json:"name"`
				Description string          `json:"description,omitempty"`
				Schema      json.RawMessage `json:"schema"`
				Strict      *bool           `json:"strict,omitempty"`
			}{f.Name, f.Description, f.Schema, f.Strict}}
		}
	}
	return json.Marshal(body)
}
