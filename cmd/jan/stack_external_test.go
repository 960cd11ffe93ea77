package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/janhq/jan/internal/fakeengine"
)

// An engine already running on the host instead of the stack's vLLM (issue
// 18). A stack first up with the vLLM stand-in is brought up again with
// --inference external --engine URL --without otel-collector: the vLLM and
// collector containers are removed, the others kept, the server is
// restarted wired to the engine, and a chat through Kong is answered by
// it; jan doctor and jan status say why.
func TestStackWithExternalEngine(t *testing.T) {
	r := newStackRun(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	engine := fakeengine.New(fakeengine.Options{Models: []string{"llama3.2:1b"}})
	srv := &http.Server{Handler: engine}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "http://" + ln.Addr().String()

	// jan doctor explains the choice, and fails with the fix when the
	// engine does not answer.
	out, _ := r.jan("doctor", "--inference=external", "--engine", url)
	if !strings.Contains(out, "✓ inference: --inference=external: --engine "+url+" answers (1 model)") {
		t.Errorf("jan doctor with the engine:\n%s", out)
	}
	out, err = r.jan("doctor", "--inference=external", "--engine", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(out, "✗ inference: --engine http://127.0.0.1:1") || !strings.Contains(out, "fix: start the engine") {
		t.Errorf("jan doctor without the engine (err %v):\n%s", err, out)
	}

	if out := r.mustJan("up", "-d"); !strings.Contains(out, "6 created") {
		t.Fatalf("jan up -d:\n%s", out)
	}
	out = r.mustJan("up", "-d", "--inference=external", "--engine", url, "--without", "otel-collector")
	if !strings.Contains(out, "4 unchanged, 2 removed") || !strings.Contains(out, url) || !strings.Contains(out, "none (--without otel-collector)") {
		t.Fatalf("jan up -d --inference=external --without otel-collector:\n%s", out)
	}
	code, body := r.do("POST", "/auth/guest", "", "")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if code != 201 || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("guest through Kong: %d %s", code, body)
	}
	code, body = r.do("GET", "/v1/models", tok.AccessToken, "")
	if code != 200 || !strings.Contains(string(body), `"llama3.2:1b"`) {
		t.Fatalf("models through Kong: %d %s", code, body)
	}
	code, body = r.do("POST", "/v1/chat/completions", tok.AccessToken, `{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}]}`)
	if code != 200 || !strings.Contains(string(body), strings.Join(fakeengine.Answer(8), "")) {
		t.Fatalf("chat through Kong: %d %s", code, body)
	}
	status := r.mustJan("status")
	if !strings.Contains(status, "external") || !strings.Contains(status, "--engine "+url) || strings.Contains(status, "vllm") || strings.Contains(status, "\notel-collector ") {
		t.Errorf("jan status:\n%s", status)
	}
	r.mustJan("down", "--volumes")
}
