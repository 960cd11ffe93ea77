package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/janhq/jan/internal/stack"
)

// renderedKong is assets/kong.yml as jan renders it, pointing at upstream.
func renderedKong(t *testing.T, upstream string, origins ...string) []byte {
	t.Helper()
	b, err := stack.RenderKong(stack.KongConfig{Upstream: upstream, GatewaySecret: "gw-secret", CORSOrigins: origins})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upstream records the requests that reach it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Clone(context.Background()))
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "http://upstream.example") // Kong overrides it
		io.WriteString(w, "upstream says hi")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) *http.Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("no request reached the upstream")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func newGateway(t *testing.T, config []byte) (*httptest.Server, *syncBuffer) {
	t.Helper()
	g, err := parseKongConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	access := &syncBuffer{}
	gw := httptest.NewServer(newKongProxy(g, log.New(access, "", 0), log.New(io.Discard, "", 0)))
	t.Cleanup(gw.Close)
	return gw, access
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until b holds s: a server logs a request after answering it.
func (b *syncBuffer) waitFor(s string) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(b.String(), s) {
			return true
		}
	}
	return false
}

func do(t *testing.T, method, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestKongRenderedConfigProxiesAsKong(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, nil)
	gw, access := newGateway(t, renderedKong(t, up.URL))
	anonymousID := kongEntityID("consumers", "anonymous")

	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"no key", nil},
		// A forged secret and consumer are replaced; a wrong key runs as
		// the anonymous consumer and never reaches the upstream.
		{"forged headers and a wrong key", map[string]string{
			"X-Jan-Gateway-Secret": "forged", "X-Consumer-ID": "admin", "X-Consumer-Username": "admin",
			"X-Credential-Identifier": "c", "apikey": "wrong",
		}},
	} {
		res, body := do(t, "GET", gw.URL+"/v1/models?limit=2", tc.header)
		if res.StatusCode != 200 || body != "upstream says hi" {
			t.Fatalf("%s: %s %q", tc.name, res.Status, body)
		}
		r := up.last(t)
		for h, want := range map[string]string{
			"X-Jan-Gateway-Secret":    "gw-secret",
			"X-Consumer-ID":           anonymousID,
			"X-Consumer-Username":     "anonymous",
			"X-Consumer-Custom-ID":    "anonymous",
			"X-Anonymous-Consumer":    "true",
			"X-Credential-Identifier": "",
			"Apikey":                  "", // hide_credentials
			"X-Forwarded-Path":        "/v1/models",
			"X-Real-Ip":               "127.0.0.1",
		} {
			if got := strings.Join(r.Header.Values(h), ","); got != want {
				t.Errorf("%s: upstream %s = %q, want %q", tc.name, h, got, want)
			}
		}
		if r.URL.RequestURI() != "/v1/models?limit=2" {
			t.Errorf("%s: upstream URI %q", tc.name, r.URL.RequestURI())
		}
		if r.Host != strings.TrimPrefix(gw.URL, "http://") { // preserve_host
			t.Errorf("%s: upstream Host %q, want the gateway's", tc.name, r.Host)
		}
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want * (cors origins *)", tc.name, got)
		}
		if res.Header.Get("Access-Control-Expose-Headers") != "X-Request-Id" || res.Header.Get("Via") != "1.1 kong/"+kongVersion ||
			len(res.Header.Get("X-Kong-Request-Id")) != 32 {
			t.Errorf("%s: response headers %v", tc.name, res.Header)
		}
	}
	if !access.waitFor(`"GET /v1/models?limit=2 HTTP/1.1" 200 16 "-" "Go-http-client/1.1" kong_request_id:`) {
		t.Errorf("access log:\n%s", access.String())
	}
}

// Kong names declarative entities without an id by a UUIDv5 of their
// endpoint key; the values here come from Python's uuid.uuid5.
func TestKongEntityID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ entity, key, want string }{
		{"consumers", "anonymous", "1cd57acc-61b9-5afa-9668-80123fa9b98d"},
		{"consumers", "alice", "b32379d9-3d28-5683-a79c-72139be6e34f"},
		{"keyauth_credentials", "alice-key", "39fb9b15-6578-5eeb-810c-d94b5c0fe428"},
	} {
		if got := kongEntityID(tc.entity, tc.key); got != tc.want {
			t.Errorf("kongEntityID(%s, %s) = %s, want %s", tc.entity, tc.key, got, tc.want)
		}
	}
}

func TestKongCORS(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, nil)
	t.Run("preflight is answered before key-auth", func(t *testing.T) {
		gw, _ := newGateway(t, renderedKong(t, up.URL))
		res, _ := do(t, "OPTIONS", gw.URL+"/v1/chat/completions", map[string]string{
			"Origin": "http://app.example", "Access-Control-Request-Method": "POST",
		})
		want := map[string]string{
			"Access-Control-Allow-Origin":      "http://app.example", // credentials: true echoes the origin
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET,POST,PUT,PATCH,DELETE,OPTIONS",
			"Access-Control-Allow-Headers":     "Authorization,Content-Type,X-API-Key,Idempotency-Key,apikey",
			"Access-Control-Max-Age":           "3600",
			"Access-Control-Expose-Headers":    "",
		}
		if res.StatusCode != 200 {
			t.Fatalf("preflight: %s", res.Status)
		}
		for h, v := range want {
			if got := res.Header.Get(h); got != v {
				t.Errorf("%s = %q, want %q", h, got, v)
			}
		}
		if up.count() != 0 {
			t.Error("the preflight reached the upstream")
		}
	})
	t.Run("listed origins", func(t *testing.T) {
		gw, _ := newGateway(t, renderedKong(t, up.URL, "http://a.example", `http://.*\.b\.example`))
		for origin, want := range map[string]string{
			"http://a.example":     "http://a.example",
			"http://x.b.example":   "http://x.b.example",
			"http://evil.example":  "",
			"http://a.example.com": "",
		} {
			res, _ := do(t, "GET", gw.URL+"/", map[string]string{"Origin": origin})
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("Origin %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
			}
			if got := res.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("Origin %s: Access-Control-Allow-Credentials %q", origin, got)
			}
		}
	})
}

const kongWithCredentials = `_format_version: "3.0"
services:
  - name: api
    url: %s/base
    routes:
      - name: api
        paths: [/api]
consumers:
  - username: alice
    custom_id: user-1
    keyauth_credentials:
      - key: alice-key
%s
plugins:
  - name: key-auth
    config:
      key_names: [apikey, x-api-key]
      hide_credentials: %s
%s`

func TestKongKeyAuth(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, nil)
	config := func(hide bool, anonymous bool) []byte {
		consumers, plugin := "", ""
		if anonymous {
			consumers = "  - username: anonymous"
			plugin = "      anonymous: anonymous"
		}
		h := "false"
		if hide {
			h = "true"
		}
		return []byte(fmt.Sprintf(kongWithCredentials, up.URL, consumers, h, plugin))
	}

	gw, _ := newGateway(t, config(false, false))
	for _, tc := range []struct {
		name     string
		url      string
		header   map[string]string
		status   int
		message  string
		username string
	}{
		{"header key", "/api/v1/models", map[string]string{"apikey": "alice-key"}, 200, "", "alice"},
		{"second key name", "/api/v1/models", map[string]string{"X-API-Key": "alice-key"}, 200, "", "alice"},
		{"query key", "/api/v1/models?apikey=alice-key", nil, 200, "", "alice"},
		{"no key", "/api/v1/models", nil, 401, "No API key found in request", ""},
		{"wrong key", "/api/v1/models", map[string]string{"apikey": "nope"}, 401, "Unauthorized", ""},
		{"no route", "/v1/models", map[string]string{"apikey": "alice-key"}, 404, "no Route matched with those values", ""},
	} {
		before := up.count()
		res, body := do(t, "GET", gw.URL+tc.url, tc.header)
		if res.StatusCode != tc.status {
			t.Errorf("%s: %s %s", tc.name, res.Status, body)
			continue
		}
		if tc.message != "" {
			var m struct{ Message, RequestID string }
			if json.Unmarshal([]byte(body), &m) != nil || m.Message != tc.message || up.count() != before {
				t.Errorf("%s: body %s (upstream calls %d→%d)", tc.name, body, before, up.count())
			}
			continue
		}
		r := up.last(t)
		if r.Header.Get("X-Consumer-Username") != tc.username || r.Header.Get("X-Consumer-Custom-ID") != "user-1" ||
			r.Header.Get("X-Consumer-ID") != kongEntityID("consumers", "alice") ||
			r.Header.Get("X-Credential-Identifier") != kongEntityID("keyauth_credentials", "alice-key") ||
			r.Header.Get("X-Anonymous-Consumer") != "" {
			t.Errorf("%s: upstream headers %v", tc.name, r.Header)
		}
		// strip_path (default true) under the service's path; the key
		// stays when hide_credentials is false.
		if r.URL.Path != "/base/v1/models" || r.Header.Get("X-Forwarded-Prefix") != "/api" {
			t.Errorf("%s: upstream path %q, prefix %q", tc.name, r.URL.Path, r.Header.Get("X-Forwarded-Prefix"))
		}
		if tc.url == "/api/v1/models?apikey=alice-key" && r.URL.RawQuery != "apikey=alice-key" {
			t.Errorf("%s: query %q", tc.name, r.URL.RawQuery)
		}
	}

	gw, _ = newGateway(t, config(true, true))
	do(t, "GET", gw.URL+"/api/x?apikey=alice-key&a=b", nil)
	if r := up.last(t); r.URL.RawQuery != "a=b" || r.Header.Get("X-Consumer-Username") != "alice" {
		t.Errorf("hidden query key: query %q, consumer %q", r.URL.RawQuery, r.Header.Get("X-Consumer-Username"))
	}
	do(t, "GET", gw.URL+"/api/x", map[string]string{"apikey": "nope"})
	if r := up.last(t); r.Header.Get("X-Consumer-Username") != "anonymous" || r.Header.Get("X-Anonymous-Consumer") != "true" ||
		r.Header.Get("X-Consumer-Custom-ID") != "" || r.Header.Get("apikey") != "" {
		t.Errorf("wrong key with anonymous: upstream headers %v", r.Header)
	}
}

func TestKongStreamsEventByEvent(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				select {
				case <-next: // the client has the previous event
				case <-time.After(5 * time.Second):
					return
				}
			}
			io.WriteString(w, "data: "+string(rune('a'+i))+"\n\n")
			http.NewResponseController(w).Flush()
		}
	})
	gw, _ := newGateway(t, renderedKong(t, up.URL))
	res, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	for i := range 3 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v (the gateway buffered the stream)", i, err)
		}
		if want := "data: " + string(rune('a'+i)) + "\n"; line != want {
			t.Fatalf("event %d: %q, want %q", i, line, want)
		}
		rd.ReadString('\n')
		if i < 2 {
			select {
			case next <- struct{}{}:
			case <-time.After(10 * time.Second):
				t.Fatalf("the upstream gave up after event %d: the stream arrived late", i)
			}
		}
	}
}

func TestKongUpstreamDown(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, nil)
	url := up.URL
	up.Close()
	gw, _ := newGateway(t, renderedKong(t, url))
	res, body := do(t, "GET", gw.URL+"/v1/models", nil)
	if res.StatusCode != 502 || !strings.Contains(body, "An invalid response was received from the upstream server") {
		t.Errorf("upstream down: %s %s", res.Status, body)
	}
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("Kong's own answers miss the cors headers")
	}
}

// configChange is a kong.yml with one change (old → new) that must be
// refused with a message naming want.
type configChange struct{ name, old, new, want string }

// refused checks that the change to base makes parseKongConfig fail naming
// tc.want.
func refused(t *testing.T, base string, tc configChange) {
	t.Helper()
	cfg := strings.Replace(base, tc.old, tc.new, 1)
	if cfg == base {
		t.Fatalf("%s: %q is not in the rendered kong.yml", tc.name, tc.old)
	}
	if _, err := parseKongConfig([]byte(cfg)); err == nil || !strings.Contains(err.Error(), tc.want) {
		t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.want)
	}
}

// What Kong 3.9's declarative schema refuses, for the entities and plugins
// jan's kong.yml uses, the stand-in refuses too: a file that passes here
// does not fail on the real gateway for one of these reasons.
func TestKongRefusesWhatKong39Refuses(t *testing.T) {
	t.Parallel()
	base := string(renderedKong(t, "http://host.docker.internal:8080"))
	for _, tc := range []configChange{
		{"a negative timeout", "connect_timeout: 5000", "connect_timeout: -1", "connect_timeout"},
		{"a timeout past 2^31-2", "read_timeout: 600000", "read_timeout: 2147483647", "read_timeout"},
		{"a string timeout", "write_timeout: 600000", "write_timeout: soon", "write_timeout"},
		{"retries past 32767", "    connect_timeout: 5000\n", "    connect_timeout: 5000\n    retries: 40000\n", "retries"},
		{"a service name with a space", "  - name: llm-api\n    url:", "  - name: llm api\n    url:", `"llm api"`},
		{"a duplicate route name", "        preserve_host: true\n", "        preserve_host: true\n      - name: llm-api\n        paths: [\"/x\"]\n", "used twice"},
		{"a lower-case route method", "        strip_path: false\n", "        strip_path: false\n        methods: [get]\n", `"get"`},
		{"a string strip_path", "strip_path: false", "strip_path: nope", "strip_path"},
		{"a consumer with neither name", "  - username: anonymous\n    custom_id: anonymous\n", "  - username: anonymous\n    custom_id: anonymous\n  - keyauth_credentials: [{key: k}]\n", "username or custom_id"},
		{"a duplicate consumer", "  - username: anonymous\n    custom_id: anonymous\n", "  - username: anonymous\n    custom_id: anonymous\n  - username: anonymous\n", "used twice"},
		{"a key name that is not a header", "key_names: [apikey]", "key_names: [\"api key\"]", `"api key"`},
		{"a boolean hide_credentials as text", "hide_credentials: true", "hide_credentials: sure", "hide_credentials"},
		{"a cors method Kong does not know", "methods: [GET, POST,", "methods: [GET, FETCH, POST,", `"FETCH"`},
		{"a cors header that is not a token", "exposed_headers: [X-Request-Id]", "exposed_headers: [\"X Request\"]", `"X Request"`},
		{"a negative max_age", "max_age: 3600", "max_age: -1", "max_age"},
		{"a removed header that is not a token", "headers: [X-Jan-Gateway-Secret]", "headers: [\"X-Jan: Secret\"]", "remove"},
		{"an added header without a value", "      add:\n        headers:\n", "      append:\n        headers: [X-Only]\n      add:\n        headers:\n", "not name:value"},
	} {
		refused(t, base, tc)
	}
	if _, err := parseKongConfig([]byte(base)); err != nil {
		t.Fatalf("the rendered kong.yml: %v", err)
	}
}

func TestKongRefusesWhatItDoesNotImplement(t *testing.T) {
	t.Parallel()
	base := string(renderedKong(t, "http://host.docker.internal:8080"))
	for _, tc := range []configChange{
		{"a plugin", "  - name: cors\n", "  - name: rate-limiting\n    config: {minute: 5}\n  - name: cors\n", `plugin "rate-limiting"`},
		{"a route attribute", "        strip_path: false\n", "        strip_path: false\n        hosts: [a.example]\n", `"hosts"`},
		{"a nested plugin", "    routes:\n", "    plugins: []\n    routes:\n", `"plugins"`},
		{"an entity", "consumers:\n", "upstreams: []\nconsumers:\n", `"upstreams"`},
		{"a transformer option", "      remove:\n", "      add:\n        querystring: [a:b]\n      remove:\n", `"querystring"`},
		{"a key-auth option", "      hide_credentials: true\n", "      hide_credentials: true\n      realm: x\n", `"realm"`},
		{"a regex path", `paths: ["/"]`, `paths: ["~/v1/.*"]`, "regex paths"},
		{"key_in_body", "      hide_credentials: true\n", "      hide_credentials: true\n      key_in_body: true\n", "key_in_body"},
		{"an undeclared anonymous", "      anonymous: anonymous\n", "      anonymous: nobody\n", `"nobody"`},
		{"another format", `_format_version: "3.0"`, `_format_version: "1.1"`, "_format_version"},
	} {
		refused(t, base, tc)
	}
	for _, v := range []string{"0.0.0.0:8443 ssl", "0.0.0.0:8000 http2", "0.0.0.0:8000 proxy_protocol", "8000"} {
		if _, err := kongListen("KONG_PROXY_LISTEN", v); err == nil {
			t.Errorf("KONG_PROXY_LISTEN=%q accepted", v)
		}
	}
	if addrs, err := kongListen("KONG_PROXY_LISTEN", "0.0.0.0:8000 reuseport backlog=16384, [::]:8001"); err != nil || len(addrs) != 2 {
		t.Errorf("listen with flags: %v, %v", addrs, err)
	}
}

// TestKongServeAndHealth runs the kong personality as the container does:
// compose's environment, the rendered file, then `kong health`.
func TestKongServeAndHealth(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "kong.yml")
	if err := os.WriteFile(path, renderedKong(t, up.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range composeService(t, stack.ProfileCPU, stack.ServiceKong).Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	env["KONG_DECLARATIVE_CONFIG"] = path
	var mu sync.Mutex // env changes between attempts; getenv reads it
	getenv := func(k string) string { mu.Lock(); defer mu.Unlock(); return env[k] }

	health := func() int {
		var out bytes.Buffer
		return run(context.Background(), []string{"kong", "health"}, getenv, &out, &out)
	}
	var (
		proxy  string
		cancel context.CancelFunc
		done   chan int
		out    *syncBuffer
	)
	// A free port found here can be taken by another test process before
	// kong binds it: then it starts again on new ones.
	for attempt := 0; ; attempt++ {
		mu.Lock()
		proxy = freeAddr(t)
		env["KONG_PROXY_LISTEN"] = proxy
		env["KONG_STATUS_LISTEN"] = freeAddr(t) + " reuseport"
		mu.Unlock()
		if code := health(); code != 1 {
			t.Fatalf("kong health before start: exit %d", code)
		}
		var ctx context.Context
		ctx, cancel = context.WithCancel(context.Background())
		done, out = make(chan int, 1), &syncBuffer{}
		go func(out *syncBuffer, done chan int) {
			done <- run(ctx, []string{"/usr/local/bin/kong"}, getenv, out, out)
		}(out, done)
		deadline := time.Now().Add(5 * time.Second)
		for health() != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if health() == 0 {
			break
		}
		cancel()
		<-done
		if attempt < 2 && strings.Contains(out.String(), "address already in use") {
			continue
		}
		t.Fatalf("kong health never passed; output:\n%s", out.String())
	}
	if res, body := do(t, "GET", "http://"+proxy+"/x", nil); res.StatusCode != 200 || body != "upstream says hi" {
		t.Errorf("proxy: %s %q", res.Status, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("kong exited %d:\n%s", code, out.String())
	}
	if !out.waitFor(`"GET /x HTTP/1.1" 200`) || !strings.Contains(out.String(), "no Admin API") {
		t.Errorf("output:\n%s", out.String())
	}
}
