package responses

import (
	"encoding/json"
	"errors"
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

type textPart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations,omitempty"`
	Logprobs    []any  `json:"logprobs,omitempty"`
}

// MarshalJSON writes the item in OpenAI's shape: a message's text as one
// part (output_text for the assistant, input_text otherwise).
func (it Item) MarshalJSON() ([]byte, error) {
	status := it.Status
	if status == "" {
		status = "completed"
	}
	switch it.Type {
	case TypeMessage:
		part := textPart{Type: "input_text", Text: it.Text}
		if it.Role == "assistant" {
			part = textPart{Type: "output_text", Text: it.Text, Annotations: []any{}}
		}
		return json.Marshal(struct {
			Type    string     `json:"type"`
			ID      string     `json:"id,omitempty"`
			Status  string     `json:"status"`
			Role    string     `json:"role"`
			Content []textPart `json:"content"`
		}{it.Type, it.ID, status, it.Role, []textPart{part}})
	case TypeFunctionCall:
		return json.Marshal(struct {
			Type      string `json:"type"`
			ID        string `json:"id,omitempty"`
			Status    string `json:"status"`
			CallID    string `json:"call_id"`
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		}{it.Type, it.ID, status, it.CallID, it.Name, it.Arguments})
	case TypeFunctionCallOutput:
		return json.Marshal(struct {
			Type   string `json:"type"`
			ID     string `json:"id,omitempty"`
			Status string `json:"status"`
			CallID string `json:"call_id"`
			Output string `json:"output"`
		}{it.Type, it.ID, status, it.CallID, it.Output})
	}
	return nil, errors.New("responses: item of unknown type " + it.Type)
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
