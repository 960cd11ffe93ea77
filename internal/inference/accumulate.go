package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/janhq/jan/internal/store"
)

// Accumulator folds a streamed answer into the message jan stores. Use one
// per stream, by pointer: it must not be copied after the first AddChunk.
type Accumulator struct {
	ID, Model, Role, Content, FinishReason string
	Usage                                  *store.Usage

	// Provider, if set, is named in the messages of the errors AddChunk
	// returns.
	Provider string

	content strings.Builder // Content is a view of it: appends stay linear
}

// chunk is the part of a chat.completion.chunk or text_completion chunk
// jan reads; everything else is relayed without being looked at.
type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		Message struct { // non-streamed chat.completion
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage   *store.Usage    `json:"usage"`
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"` // vLLM's {"object":"error","message":...}
}

// errorMessage returns the upstream's message if c is an error event or
// envelope, and whether it is one.
func (c *chunk) errorMessage(raw []byte) (string, bool) {
	if len(c.Error) > 0 && string(c.Error) != "null" {
		if msg := upstreamMessage(raw); msg != "" {
			return msg, true
		}
		return "unknown error", true
	}
	if c.Object == "error" {
		return oneLine(c.Message, 500), true
	}
	return "", false
}

func upstreamErrorEvent(provider, msg string) *Error {
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
func (a *Accumulator) AddChunk(data []byte) error {
	if IsDone(data) {
		return nil
	}
	var c chunk
	if err := unmarshalObject(data, &c); err != nil {
		return badResponse(a.Provider, "sent a stream event that is not a JSON object", err)
	}
	if msg, ok := c.errorMessage(data); ok {
		return upstreamErrorEvent(a.Provider, msg)
	}
	if a.ID == "" {
		a.ID = c.ID
	}
	if a.Model == "" {
		a.Model = c.Model
	}
	if c.Usage != nil {
		u := *c.Usage
		a.Usage = &u
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // n > 1: jan keeps the first choice
		}
		if ch.Delta.Role != "" {
			a.Role = ch.Delta.Role
		}
		if s := ch.Delta.Content + ch.Text; s != "" {
			a.content.WriteString(s)
			a.Content = a.content.String()
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			a.FinishReason = *ch.FinishReason
		}
	}
	return nil
}

// ParseCompletion reads a non-streamed chat.completion (content of
// choices[0].message) or text_completion (choices[0].text) body. An error
// envelope returns a 502 upstream_error *Error, a body that is not a
// completion a 502 upstream_bad_response *Error; set their Provider if you
// know it.
func ParseCompletion(body []byte) (content, finishReason string, usage *store.Usage, err error) {
	var c chunk
	if err := unmarshalObject(body, &c); err != nil {
		return "", "", nil, badResponse("", "sent a response that is not a JSON object", err)
	}
	if msg, ok := c.errorMessage(body); ok {
		return "", "", nil, upstreamErrorEvent("", msg)
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
