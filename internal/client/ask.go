package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/janhq/jan/internal/safetext"
)

// AskParams is one prompt: to Conversation (a new one, titled after the
// prompt, when ""), with Model (the conversation's or the server's default
// when "").
type AskParams struct {
	Conversation string
	Model        string
	Prompt       string
	Project      string // a new conversation goes into this project (id)
}

// Ask sends a prompt as a user message and runs the conversation, handing
// each event of the run's stream to each (which may stop it by returning an
// error). It returns the conversation's id (for the caller to continue
// it) and how the answer ended: nil when it completed. A model the server
// does not serve is refused before anything is created. When ctx ends, the
// run is cancelled on the server (keeping what was generated) and the
// error is ctx's.
func (c *Client) Ask(ctx context.Context, p AskParams, each func(Event) error) (string, error) {
	if p.Model != "" {
		models, err := c.Models(ctx)
		if err != nil {
			return "", err
		}
		if !slices.ContainsFunc(models, func(m Model) bool { return m.ID == p.Model }) {
			return "", fmt.Errorf("model %q is not served by %s; list the models with `jan models`", p.Model, c.base)
		}
	}
	convID := p.Conversation
	if convID == "" {
		conv, err := c.CreateConversation(ctx, ConversationParams{Title: safetext.Title(p.Prompt), ProjectID: p.Project}, "")
		if err != nil {
			return "", err
		}
		convID = conv.ID
	}
	if _, err := c.CreateMessage(ctx, convID, MessageParams{Role: RoleUser, Content: p.Prompt}, ""); err != nil {
		return convID, err
	}
	stream, err := c.StreamRun(ctx, convID, RunParams{Model: p.Model, Background: true}, "") // resumed if the connection drops
	if err != nil {
		return convID, err
	}
	defer stream.Close()
	var final *Run
	var eventErr *Error
	for stream.Next() {
		ev := stream.Event()
		if err := each(ev); err != nil {
			return convID, err
		}
		switch ev.Type {
		case EventRun:
			if ev.Run.Status != StatusInProgress {
				final = ev.Run
			}
		case EventError:
			eventErr = ev.Error
		}
	}
	switch err := stream.Err(); {
	case ctx.Err() != nil:
		// Interrupted: stop the generation on the server, keeping what came.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		_, _ = c.CancelRun(cctx, convID, stream.RunID())
		return convID, ctx.Err()
	case err != nil:
		return convID, fmt.Errorf("the answer was cut short (%w); what arrived is kept in conversation %s", err, convID)
	case eventErr != nil:
		return convID, fmt.Errorf("the answer failed: %w", eventErr)
	case final == nil:
		return convID, errors.New("the server ended the run without its final state")
	case final.Status == StatusFailed:
		if final.Error != nil {
			return convID, fmt.Errorf("the answer failed: %s (%s)", final.Error.Message, final.Error.Code)
		}
		return convID, errors.New("the answer failed")
	case final.Status == StatusIncomplete:
		return convID, fmt.Errorf("the answer is incomplete (run %s was stopped)", final.ID)
	}
	return convID, nil
}
