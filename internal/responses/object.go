package responses

import (
	"encoding/json"
	"strings"

	"github.com/janhq/jan/internal/inference"
)

// Statuses of a response.
const (
	StatusQueued     = "queued"
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusIncomplete = "incomplete"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
)

// Params are what a response keeps of its request, to show it back: the
// part of Request that is neither input nor context.
type Params struct {
	Instructions      *string           `json:"instructions,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	Temperature       *float64          `json:"temperature,omitempty"`
	TopP              *float64          `json:"top_p,omitempty"`
	MaxOutputTokens   *int              `json:"max_output_tokens,omitempty"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolChoice        json.RawMessage   `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool             `json:"parallel_tool_calls,omitempty"`
	Format            *Format           `json:"format,omitempty"`
	Background        bool              `json:"background,omitempty"`
	Store             bool              `json:"store"`
}

// Params is what r keeps to show back.
func (r *Request) Params() Params {
	return Params{Instructions: r.Instructions, Metadata: r.Metadata, Temperature: r.Temperature, TopP: r.TopP,
		MaxOutputTokens: r.MaxOutputTokens, Tools: r.Tools, ToolChoice: r.ToolChoice, ParallelToolCalls: r.ParallelToolCalls,
		Format: r.Format, Background: r.Background, Store: r.Store}
}

// Usage is a response's token counts, in the Responses API's names.
type Usage struct {
	InputTokens  int
	OutputTokens int
}

// Object is a response as the API shows it.
type Object struct {
	ID                 string
	CreatedAt          int64
	CompletedAt        *int64
	Status             string
	Model              string
	Output             []Item
	Usage              *Usage
	PreviousResponseID string
	Conversation       string
	ErrorCode          string // failed: why
	ErrorMessage       string
	IncompleteReason   string // incomplete: max_output_tokens, or interrupted
	Params             Params
}

// MarshalJSON writes OpenAI's response object, every field the SDKs read
// present (null or their defaults when unset).
func (o Object) MarshalJSON() ([]byte, error) {
	type usage struct {
		InputTokens         int            `json:"input_tokens"`
		InputTokensDetails  map[string]int `json:"input_tokens_details"`
		OutputTokens        int            `json:"output_tokens"`
		OutputTokensDetails map[string]int `json:"output_tokens_details"`
		TotalTokens         int            `json:"total_tokens"`
	}
	type named struct {
		ID string `json:"id"`
	}
	out := struct {
		ID                 string            `json:"id"`
		Object             string            `json:"object"`
		CreatedAt          int64             `json:"created_at"`
		CompletedAt        *int64            `json:"completed_at"`
		Status             string            `json:"status"`
		Background         bool              `json:"background"`
		Model              string            `json:"model"`
		Usage              *usage            `json:"usage"`
		PreviousResponseID *string           `json:"previous_response_id"`
		Conversation       *named            `json:"conversation"`
		Instructions       *string           `json:"instructions"`
		Metadata           map[string]string `json:"metadata"`
		Error              any               `json:"error"`
		IncompleteDetails  any               `json:"incomplete_details"`
		Temperature        float64           `json:"temperature"`
		TopP               float64           `json:"top_p"`
		MaxOutputTokens    *int              `json:"max_output_tokens"`
		Tools              []any             `json:"tools"`
		ToolChoice         json.RawMessage   `json:"tool_choice"`
		ParallelToolCalls  bool              `json:"parallel_tool_calls"`
		Text               any               `json:"text"`
		Store              bool              `json:"store"`
		Truncation         string            `json:"truncation"`
	}{
		ID: o.ID, Object: "response", CreatedAt: o.CreatedAt, CompletedAt: o.CompletedAt, Status: o.Status, Background: o.Params.Background,
		Model: o.Model, Instructions: o.Params.Instructions, Metadata: o.Params.Metadata,
		Temperature: 1, TopP: 1, MaxOutputTokens: o.Params.MaxOutputTokens, Tools: []any{}, ToolChoice: o.Params.ToolChoice,
		ParallelToolCalls: true, Store: o.Params.Store, Truncation: "disabled",
	}
	if o.Usage != nil {
		out.Usage = &usage{InputTokens: o.Usage.InputTokens, OutputTokens: o.Usage.OutputTokens, TotalTokens: o.Usage.InputTokens + o.Usage.OutputTokens,
			InputTokensDetails: map[string]int{"cached_tokens": 0}, OutputTokensDetails: map[string]int{"reasoning_tokens": 0}}
	}
	if o.PreviousResponseID != "" {
		out.PreviousResponseID = &o.PreviousResponseID
	}
	if o.Conversation != "" {
		out.Conversation = &named{ID: o.Conversation}
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if o.ErrorCode != "" {
		out.Error = map[string]string{"code": o.ErrorCode, "message": o.ErrorMessage}
	}
	if o.IncompleteReason != "" {
		out.IncompleteDetails = map[string]string{"reason": o.IncompleteReason}
	}
	if p := o.Params; p.Temperature != nil {
		out.Temperature = *p.Temperature
	}
	if p := o.Params; p.TopP != nil {
		out.TopP = *p.TopP
	}
	for _, t := range o.Params.Tools {
		out.Tools = append(out.Tools, struct {
			Type string `json:"type"`
			Tool
		}{"function", t})
	}
	if len(out.ToolChoice) == 0 {
		out.ToolChoice = json.RawMessage(`"auto"`)
	}
	if o.Params.ParallelToolCalls != nil {
		out.ParallelToolCalls = *o.Params.ParallelToolCalls
	}
	format := &Format{Type: "text"}
	if o.Params.Format != nil {
		format = o.Params.Format
	}
	out.Text = map[string]*Format{"format": format}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	// The output and its text, the bulk of a response, are written by
	// hand after the rest (see Item.appendJSON).
	b = append(b[:len(b)-1], `,"output":[`...)
	var text strings.Builder
	for i, it := range o.Output {
		if i > 0 {
			b = append(b, ',')
		}
		b = it.appendJSON(b)
		if it.Type == TypeMessage {
			text.WriteString(it.Text)
		}
	}
	b = inference.AppendJSONString(append(b, `],"output_text":`...), text.String())
	return append(b, '}'), nil
}
