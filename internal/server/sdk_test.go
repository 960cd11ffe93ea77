package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/janhq/jan/internal/fakeengine"
)

// The official SDK is the conformance client for /v1.
func TestOpenAISDK(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: db == "postgres"})
			client := openai.NewClient(option.WithBaseURL(e.URL+"/v1"), option.WithAPIKey(e.guest()), option.WithMaxRetries(0))
			ctx := context.Background()

			models, err := client.Models.List(ctx)
			if err != nil {
				t.Fatalf("list models: %v", err)
			}
			if len(models.Data) != 1 || models.Data[0].ID != testModel || models.Data[0].Created < 1700000000 {
				t.Fatalf("models = %+v, want [%s]", models.Data, testModel)
			}

			want := strings.Join(fakeengine.Answer(8), "")
			chat, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    testModel,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
			})
			if err != nil {
				t.Fatalf("chat completion: %v", err)
			}
			if got := chat.Choices[0].Message.Content; got != want {
				t.Errorf("content = %q, want %q", got, want)
			}
			if chat.Model != testModel {
				t.Errorf("model = %q, want the public id %q", chat.Model, testModel)
			}

			stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:         testModel,
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			var acc openai.ChatCompletionAccumulator
			var content strings.Builder
			for stream.Next() {
				chunk := stream.Current()
				acc.AddChunk(chunk)
				if len(chunk.Choices) > 0 {
					content.WriteString(chunk.Choices[0].Delta.Content)
				}
				if chunk.Model != testModel {
					t.Errorf("chunk model = %q, want %q", chunk.Model, testModel)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if content.String() != want {
				t.Errorf("streamed content = %q, want %q", content.String(), want)
			}
			if acc.Usage.CompletionTokens != 8 || acc.Usage.TotalTokens == 0 {
				t.Errorf("usage = %+v, want 8 completion tokens", acc.Usage)
			}

			comp, err := client.Completions.New(ctx, openai.CompletionNewParams{
				Model:  openai.CompletionNewParamsModel(testModel),
				Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon")},
			})
			if err != nil {
				t.Fatalf("completion: %v", err)
			}
			if len(comp.Choices) == 0 || comp.Choices[0].Text != want {
				t.Errorf("completion = %+v, want text %q", comp.Choices, want)
			}

			// An unknown model is the SDK's NotFound with our code.
			_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model: "nope", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")},
			})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
				t.Errorf("unknown model: err = %v, want 404 model_not_found", err)
			}
		})
	}
}
