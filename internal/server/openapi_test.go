package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// apiDoc is the embedded OpenAPI document, loaded and validated once, with
// a matcher from request paths to its paths.
var apiDoc = sync.OnceValues(func() (*openAPIMatcher, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIYAML)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	m := &openAPIMatcher{doc: doc}
	for p := range doc.Paths.Map() {
		var names []string
		re, literals := "^", 0
		for _, seg := range strings.Split(p, "/")[1:] {
			re += "/"
			if strings.HasPrefix(seg, "{") {
				names = append(names, strings.Trim(seg, "{}"))
				if strings.HasPrefix(p, "/v1/models/") { // model ids may contain "/" ({id...})
					re += "(.+)"
				} else {
					re += "([^/]+)"
				}
				continue
			}
			literals++
			re += regexp.QuoteMeta(seg)
		}
		m.paths = append(m.paths, docPath{re: regexp.MustCompile(re + "$"), names: names, path: p, literals: literals})
	}
	// The most literal path first: /v1/models/providers before /v1/models/{id}.
	sort.Slice(m.paths, func(i, j int) bool { return m.paths[i].literals > m.paths[j].literals })
	return m, nil
})

type openAPIMatcher struct {
	doc   *openapi3.T
	paths []docPath
}

type docPath struct {
	re       *regexp.Regexp
	names    []string
	path     string
	literals int
}

// route finds the document's operation for a request; nil for a path or
// method the document does not have (the route test checks it has them all).
func (m *openAPIMatcher) route(r *http.Request) (*routers.Route, map[string]string) {
	for _, p := range m.paths {
		match := p.re.FindStringSubmatch(r.URL.Path)
		if match == nil {
			continue
		}
		item := m.doc.Paths.Value(p.path)
		op := item.GetOperation(r.Method)
		if op == nil {
			continue
		}
		params := map[string]string{}
		for i, n := range p.names {
			params[n] = match[i+1]
		}
		return &routers.Route{Spec: m.doc, Path: p.path, PathItem: item, Method: r.Method, Operation: op}, params
	}
	return nil, nil
}

// The document is valid OpenAPI and lists exactly the routes of the
// server's table, and the server serves it.
func TestOpenAPIDocument(t *testing.T) {
	m, err := apiDoc()
	if err != nil {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	if m.doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi: %s, want 3.1.0", m.doc.OpenAPI)
	}
	e := newEnv(t, envOptions{})
	documented := map[string]bool{}
	for p, item := range m.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+p] = true
		}
	}
	served := map[string]bool{}
	for _, pattern := range e.srv.patterns {
		pattern = strings.ReplaceAll(pattern, "...}", "}")
		served[pattern] = true
		if !documented[pattern] {
			t.Errorf("route %q is not in the OpenAPI document", pattern)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("the OpenAPI document lists %q, which the server does not route", op)
		}
	}
	if len(served) < 50 {
		t.Fatalf("only %d routes in the table: the walk is broken", len(served))
	}

	r := e.do("GET", "/v1/openapi.json", "", nil, nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/openapi.json: %d %s", r.status, r.header)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	if err != nil {
		t.Fatalf("the served document does not load: %v", err)
	}
	if doc.Paths.Value("/v1/chat/completions") == nil || doc.Components.SecuritySchemes["bearerAuth"] == nil || doc.Components.SecuritySchemes["apiKeyHeader"] == nil {
		t.Error("the served document lacks a path or a security scheme")
	}
}

// validatingHandler checks every response next writes against the
// document; report gets what does not match, once per operation and
// status. Streams (text/event-stream) must be declared by their operation.
func validatingHandler(next http.Handler, report func(string)) http.Handler {
	m, err := apiDoc()
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	fail := func(key, msg string) {
		mu.Lock()
		defer mu.Unlock()
		if !seen[key] {
			seen[key] = true
			report(key + ": " + msg)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route, params := m.route(r)
		if route == nil || rec.status == 499 || rec.status == http.StatusMethodNotAllowed {
			return
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		key := fmt.Sprintf("%s %s → %d", r.Method, route.Path, status)
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
			if resp := route.Operation.Responses.Status(status); resp == nil || resp.Value.Content["text/event-stream"] == nil {
				fail(key, "a stream the operation does not declare")
			}
			return
		}
		in := &openapi3filter.RequestValidationInput{Request: r.Clone(context.Background()), PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: status, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		})
		if err != nil {
			body := rec.body.String()
			if len(body) > 500 {
				body = body[:500] + "…"
			}
			fail(key, fmt.Sprintf("the response does not match the OpenAPI document: %v\nbody: %s", err, body))
		}
	})
}

// teeWriter keeps what is written (up to 8 MiB) for validation.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *teeWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.body.Len() < 8<<20 {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The validator itself fails on a response that does not match.
func TestOpenAPIValidatorCatchesAMismatch(t *testing.T) {
	var got []string
	h := validatingHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": 42}) // healthz says {"status":"ok"}
	}), func(s string) { got = append(got, s) })
	req, _ := http.NewRequest("GET", "/healthz", nil)
	h.ServeHTTP(&statusOnly{header: http.Header{}}, req)
	if len(got) != 1 || !strings.Contains(got[0], "GET /healthz → 200") {
		t.Fatalf("a wrong healthz body: %q", got)
	}
}
