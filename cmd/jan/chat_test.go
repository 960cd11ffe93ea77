package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/fakeengine"
	"github.com/janhq/jan/internal/server/servertest"
)

// testIO is a non-terminal ioStreams whose config lives in a temp dir and
// whose server is url.
func testIO(t *testing.T, url, stdin string) (*ioStreams, *bytes.Buffer, *bytes.Buffer, map[string]string) {
	t.Helper()
	env := map[string]string{"XDG_CONFIG_HOME": t.TempDir(), "JAN_SERVER_URL": url}
	var out, errOut bytes.Buffer
	return &ioStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, Getenv: func(k string) string { return env[k] }},
		&out, &errOut, env
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestChatPromptPrintsTheEnginesTokens(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 12}})
	io, out, errOut, _ := testIO(t, srv.URL, "")
	io.InTTY = true // stdin is a terminal: only -p gives the prompt
	o := &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: "Say hello"}
	if err := runChat(testCtx(t), o); err != nil {
		t.Fatalf("%v\nstderr: %s", err, errOut)
	}
	want := strings.Join(fakeengine.Answer(12), "") + "\n"
	if out.String() != want {
		t.Fatalf("stdout %q, want %q", out.String(), want)
	}
	if !strings.Contains(errOut.String(), "new guest") {
		t.Fatalf("no notice of the guest token on stderr: %q", errOut.String())
	}
}

func TestChatStdinAndJSONEvents(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	io, out, errOut, _ := testIO(t, srv.URL, "the piped text\n")
	o := &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: "Summarise", JSON: true}
	if err := runChat(testCtx(t), o); err != nil {
		t.Fatalf("%v\nstderr: %s", err, errOut)
	}
	var objects []string
	var text strings.Builder
	var convID string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var ev struct {
			Object         string `json:"object"`
			Status         string `json:"status"`
			ConversationID string `json:"conversation_id"`
			Choices        []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		objects = append(objects, ev.Object+":"+ev.Status)
		for _, c := range ev.Choices {
			text.WriteString(c.Delta.Content)
		}
		if ev.ConversationID != "" {
			convID = ev.ConversationID
		}
	}
	if len(objects) < 3 || objects[0] != "run:in_progress" || objects[len(objects)-1] != "run:completed" {
		t.Fatalf("events %v", objects)
	}
	if text.String() != strings.Join(fakeengine.Answer(8), "") {
		t.Fatalf("deltas %q", text.String())
	}
	// -p and stdin make one prompt, stored in the conversation.
	c := client.New(client.Options{BaseURL: srv.URL, Credentials: savedCredentials(t, io, srv.URL)})
	msgs, err := c.AllMessages(testCtx(t), convID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Content != "Summarise\n\nthe piped text" {
		t.Fatalf("messages %+v", msgs)
	}
}

func savedCredentials(t *testing.T, io *ioStreams, server string) client.Credentials {
	t.Helper()
	path, _ := client.ConfigPath(io.Getenv)
	cfg, err := client.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.CredentialsFor(server)
}

func TestChatResumesAConversation(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	io, _, _, env := testIO(t, srv.URL, "")
	o := &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: "first"}
	if err := runChat(testCtx(t), o); err != nil {
		t.Fatal(err)
	}
	c := client.New(client.Options{BaseURL: srv.URL, Credentials: savedCredentials(t, io, srv.URL)})
	page, err := c.ListConversations(testCtx(t), client.ListParams{})
	if err != nil || len(page.Data) != 1 || page.Data[0].Title != "first" {
		t.Fatalf("conversations %+v %v", page, err)
	}
	io2, _, _, _ := testIO(t, srv.URL, "")
	io2.Getenv = func(k string) string { return env[k] } // the same saved token
	o = &chatOptions{clientOptions: clientOptions{IO: io2}, Prompt: "second", Conversation: page.Data[0].ID}
	if err := runChat(testCtx(t), o); err != nil {
		t.Fatal(err)
	}
	msgs, _ := c.AllMessages(testCtx(t), page.Data[0].ID)
	if len(msgs) != 4 || msgs[2].Content != "second" {
		t.Fatalf("%d messages after resuming", len(msgs))
	}
}

func TestChatFailures(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	for _, tc := range []struct {
		name, prompt, model string
		want                []string
	}{
		{"unknown model", "hi", "nope", []string{"is not served", "jan models"}},
		{"engine error", "hi [fake:status=500]", "", []string{"the answer failed"}},
		{"engine drops mid-answer", "hi [fake:disconnect=3]", "", []string{"the answer failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			io, out, _, _ := testIO(t, srv.URL, "")
			o := &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: tc.prompt, Model: tc.model}
			err := runChat(testCtx(t), o)
			if err == nil {
				t.Fatalf("no error; stdout %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// Unreachable: a hint names the way out.
	io, _, _, _ := testIO(t, "http://"+freeAddr(t), "")
	err := runChat(testCtx(t), &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: "hi"})
	if err == nil || !strings.Contains(err.Error(), "jan up") {
		t.Fatalf("unreachable: %v", err)
	}
	// No prompt at all.
	io, _, _, _ = testIO(t, srv.URL, "")
	io.InTTY = true
	if err := runChat(testCtx(t), &chatOptions{clientOptions: clientOptions{IO: io}, JSON: true}); err == nil || !strings.Contains(err.Error(), "no prompt") {
		t.Fatalf("no prompt: %v", err)
	}
}

// The built binary exits non-zero when the answer fails, zero otherwise,
// and keeps stdout to the answer alone.
func TestChatExitCodes(t *testing.T) {
	t.Parallel()
	bin, err := janBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.Options{})
	env := append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_STATE_HOME="+t.TempDir(), "JAN_SERVER_URL="+srv.URL, "JAN_TOKEN=")
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout = &out
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	}
	if out, code := run("chat", "-p", "hello"); code != 0 || out != strings.Join(fakeengine.Answer(8), "")+"\n" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if _, code := run("chat", "-p", "hello [fake:status=500]"); code == 0 {
		t.Fatal("a failed answer exited 0")
	}
}

func TestGuestCommand(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	for _, tc := range []struct {
		name      string
		o         guestOptions
		wantSaved bool
		check     func(t *testing.T, out string)
	}{
		{"default saves", guestOptions{}, true, func(t *testing.T, out string) {
			if !strings.Contains(out, "Token saved to") {
				t.Errorf("output %q", out)
			}
		}},
		{"print does not save", guestOptions{Print: true}, false, func(t *testing.T, out string) {
			if strings.Count(strings.TrimSpace(out), ".") != 2 { // a JWT
				t.Errorf("output %q is not a token", out)
			}
		}},
		{"shell", guestOptions{Shell: true}, true, func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "export JAN_TOKEN=ey") || strings.Count(out, "\n") != 1 {
				t.Errorf("output %q", out)
			}
		}},
		{"json", guestOptions{JSON: true, Print: true}, false, func(t *testing.T, out string) {
			var tok client.Tokens
			if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.AccessToken == "" || !tok.User.Guest {
				t.Errorf("json %q: %v", out, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			io, out, _, _ := testIO(t, srv.URL, "")
			o := tc.o
			o.IO = io
			if err := runGuest(cmdWithContext(t), &o); err != nil {
				t.Fatal(err)
			}
			tc.check(t, out.String())
			path, _ := client.ConfigPath(io.Getenv)
			fi, err := os.Stat(path)
			if saved := err == nil; saved != tc.wantSaved {
				t.Fatalf("saved = %v, want %v", saved, tc.wantSaved)
			}
			if err == nil && fi.Mode().Perm() != 0o600 {
				t.Fatalf("config mode %v", fi.Mode().Perm())
			}
		})
	}
}

func cmdWithContext(t *testing.T) *cobra.Command {
	c := &cobra.Command{}
	c.SetContext(testCtx(t))
	return c
}

func TestModelsCommand(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Models: []string{"other-model"}})
	io, out, _, _ := testIO(t, srv.URL, "")
	if err := runModels(cmdWithContext(t), &modelsOptions{clientOptions: clientOptions{IO: io}}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "fake-model\t") || strings.Count(got, "\n") != 2 || strings.Contains(got, "MODEL") {
		t.Fatalf("piped output %q", got)
	}
	out.Reset()
	io.OutTTY = true
	if err := runModels(cmdWithContext(t), &modelsOptions{clientOptions: clientOptions{IO: io}}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "MODEL") || !strings.Contains(got, "other-model") {
		t.Fatalf("table %q", got)
	}
	out.Reset()
	if err := runModels(cmdWithContext(t), &modelsOptions{clientOptions: clientOptions{IO: io}, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var models []client.Model
	if err := json.Unmarshal(out.Bytes(), &models); err != nil || len(models) != 2 {
		t.Fatalf("json %q: %v", out.String(), err)
	}
}

// jan chat --project starts the conversation in that project, making the
// project the first time.
func TestChatProject(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	io, _, errOut, _ := testIO(t, srv.URL, "")
	for i, wantNotice := range []bool{true, false} {
		errOut.Reset()
		o := &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: "hello", Project: "Research"}
		if err := runChat(testCtx(t), o); err != nil {
			t.Fatalf("run %d: %v\nstderr: %s", i, err, errOut)
		}
		if got := strings.Contains(errOut.String(), `Created project "Research"`); got != wantNotice {
			t.Errorf("run %d: stderr %q", i, errOut)
		}
	}
	s, err := (&clientOptions{IO: io}).session(false)
	if err != nil {
		t.Fatal(err)
	}
	projects, err := s.ListProjects(testCtx(t))
	if err != nil || len(projects) != 1 || projects[0].Name != "Research" {
		t.Fatalf("projects: %+v %v", projects, err)
	}
	page, err := s.ListConversations(testCtx(t), client.ListParams{Limit: 10})
	if err != nil || len(page.Data) != 2 || page.Data[0].ProjectID != projects[0].ID || page.Data[1].ProjectID != projects[0].ID {
		t.Fatalf("conversations: %+v %v", page, err)
	}
}

// A token in JAN_TOKEN that the server refuses is an error (exit 1, saying
// so) in every command: never a silent new guest account.
func TestRefusedEnvTokenIsAnError(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	io, out, errOut, env := testIO(t, srv.URL, "")
	env["JAN_TOKEN"] = "garbage"
	err := runModels(cmdWithContext(t), &modelsOptions{clientOptions: clientOptions{IO: io}})
	if err == nil || !strings.Contains(err.Error(), "JAN_TOKEN") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("jan models with a refused JAN_TOKEN: %v (printed %q)", err, out.String())
	}
	err = runChat(testCtx(t), &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: "hi"})
	if err == nil || !strings.Contains(err.Error(), "JAN_TOKEN") {
		t.Errorf("jan chat -p with a refused JAN_TOKEN: %v (printed %q)", err, out.String())
	}
	if strings.Contains(errOut.String(), "new guest") {
		t.Errorf("a new guest was made: %q", errOut.String())
	}
	if _, err := os.Stat(filepath.Join(env["XDG_CONFIG_HOME"], "jan", "config.json")); err == nil {
		t.Error("credentials were saved")
	}
}

// jan models without a saved token says it made a guest and where it
// saved the token.
func TestModelsSaysItMadeAGuest(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	io, _, errOut, _ := testIO(t, srv.URL, "")
	if err := runModels(cmdWithContext(t), &modelsOptions{clientOptions: clientOptions{IO: io}}); err != nil {
		t.Fatal(err)
	}
	if got := errOut.String(); !strings.Contains(got, "No saved token") || !strings.Contains(got, "new guest") || !strings.Contains(got, "config.json") {
		t.Errorf("stderr %q", got)
	}
}

// jan chat --model with a model the server does not serve fails before
// anything is stored, naming the models it does serve.
func TestChatUnknownModelStoresNothing(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	io, _, _, _ := testIO(t, srv.URL, "")
	err := runChat(testCtx(t), &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: "hi", Model: "nope"})
	if err == nil || !strings.Contains(err.Error(), `model "nope" is not served`) || !strings.Contains(err.Error(), "fake-model") {
		t.Fatalf("jan chat --model nope: %v", err)
	}
	s, err := (&clientOptions{IO: io}).session(false)
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.ListConversations(testCtx(t), client.ListParams{})
	if err != nil || len(page.Data) != 0 {
		t.Fatalf("conversations after the refusal: %+v %v", page, err)
	}
}

// jan chat export writes a conversation as Markdown or JSON.
func TestChatExport(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Engine: fakeengine.Options{Tokens: 4}})
	io, out, _, _ := testIO(t, srv.URL, "")
	if err := runChat(testCtx(t), &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: "Plan a trip"}); err != nil {
		t.Fatal(err)
	}
	s, _ := (&clientOptions{IO: io}).session(false)
	page, err := s.ListConversations(testCtx(t), client.ListParams{})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("%+v %v", page, err)
	}
	id := page.Data[0].ID
	out.Reset()
	cmd := cmdWithContext(t)
	if err := runChatExport(cmd, &exportOptions{clientOptions: clientOptions{IO: io}, Format: "md"}, id); err != nil {
		t.Fatal(err)
	}
	if md := out.String(); !strings.HasPrefix(md, "# Plan a trip\n") || !strings.Contains(md, "## You\n\nPlan a trip\n") || !strings.Contains(md, "## jan · fake-model\n\nHello from the fake") {
		t.Fatalf("markdown:\n%s", md)
	}
	out.Reset()
	if err := runChatExport(cmd, &exportOptions{clientOptions: clientOptions{IO: io}, Format: "json"}, id); err != nil {
		t.Fatal(err)
	}
	var e client.Export
	if err := json.Unmarshal(out.Bytes(), &e); err != nil || e.Conversation.ID != id || len(e.Messages) != 2 {
		t.Fatalf("json %v: %s", err, out.String())
	}
	if err := runChatExport(cmd, &exportOptions{clientOptions: clientOptions{IO: io}, Format: "pdf"}, id); err == nil || !strings.Contains(err.Error(), "want md or json") {
		t.Fatalf("--format pdf: %v", err)
	}
	if err := runChatExport(cmd, &exportOptions{clientOptions: clientOptions{IO: io}, Format: "md"}, "conv_nope"); err == nil || !strings.Contains(err.Error(), "conv_nope") {
		t.Fatalf("an unknown conversation: %v", err)
	}
}
