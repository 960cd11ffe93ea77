package inference

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// ServerHeader is set by jan's own server on every response. Detection and
// probing skip an engine that answers with it, so a jan listening on an
// engine's port is never registered as a provider of itself (which would
// send every request round in a loop).
const ServerHeader = "X-Jan-Server"

// DefaultProbeTimeout bounds ProbeEngine when ctx has no deadline.
const DefaultProbeTimeout = 5 * time.Second

// maxModelList bounds the /models body read during detection and probing.
const maxModelList = 4 << 20

// Candidate is a local engine that may be running at a well-known address.
type Candidate struct {
	Name, BaseURL string
}

// LocalCandidates are the engines Detect looks for by default, on their
// default ports.
var LocalCandidates = []Candidate{
	{"ollama", "http://127.0.0.1:11434"},
	{"lmstudio", "http://127.0.0.1:1234"},
	{"jan", "http://127.0.0.1:1337"},
	{"vllm", "http://127.0.0.1:8000"},
}

// Detect probes GET {base}/v1/models of every candidate in parallel, each
// for at most timeout, and returns a Provider (Detected set) for each one
// that answered with an OpenAI model list, in candidate order. An engine
// with no models yet is still returned, with no Models. A closed port fails
// at once, so Detect takes at most about timeout.
func Detect(ctx context.Context, candidates []Candidate, timeout time.Duration) []Provider {
	tr := &http.Transport{
		DialContext:       (&net.Dialer{Timeout: timeout}).DialContext,
		DisableKeepAlives: true, // one request per engine
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	found := make([]*Provider, len(candidates))
	var wg sync.WaitGroup
	for i, c := range candidates {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			p := &Provider{Name: c.Name, Kind: KindOpenAI, BaseURL: c.BaseURL, Detected: true}
			if models, err := listModels(pctx, hc, p); err == nil {
				p.Models = models
				found[i] = p
			}
		})
	}
	wg.Wait()

	var out []Provider
	for _, p := range found {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// ProbeEngine queries GET {baseURL}/v1/models (for an --engine URL) and
// returns a Provider serving the models listed there. name "" means the
// engine's host:port. The error says in one line what went wrong and what
// to check. Without a deadline on ctx, the probe gives up after
// DefaultProbeTimeout.
func ProbeEngine(ctx context.Context, name, baseURL string, headers map[string]string) (Provider, error) {
	if msg := checkBaseURL(baseURL); msg != "" {
		return Provider{}, fmt.Errorf("engine %s", msg)
	}
	if name == "" {
		u, _ := url.Parse(baseURL)
		name = u.Host
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultProbeTimeout)
		defer cancel()
	}
	p := Provider{Name: name, Kind: KindOpenAI, BaseURL: baseURL, Headers: headers}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment}}
	models, err := listModels(ctx, hc, &p)
	if err != nil {
		return Provider{}, err
	}
	p.Models = models
	return p, nil
}

// ListModels asks a provider which models it serves (GET /v1/models), for
// readiness checks and refreshing the model list. The error is an *Error.
func (c *Client) ListModels(ctx context.Context, p *Provider) ([]ModelSpec, error) {
	resp, err := c.do(ctx, p, providerLabel(p.Name), func(ctx context.Context) (*http.Request, error) {
		req, err := p.newRequest(ctx, http.MethodGet, "/models", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	models, err := decodeModelList(resp)
	if err != nil {
		return nil, badResponse(p.Name, "did not answer GET /v1/models with an OpenAI model list", err)
	}
	return models, nil
}

// probeError is a one-line message for people with the cause kept for
// errors.Is / errors.As.
type probeError struct {
	msg string
	err error
}

func (e *probeError) Error() string { return e.msg }
func (e *probeError) Unwrap() error { return e.err }

// listModels is GET /v1/models for detection and probing, with errors
// worded for someone pointing jan at an engine.
func listModels(ctx context.Context, hc *http.Client, p *Provider) ([]ModelSpec, error) {
	req, err := p.newRequest(ctx, http.MethodGet, "/models", nil)
	if err != nil {
		return nil, &probeError{"engine has an invalid base URL", err}
	}
	req.Header.Set("Accept", "application/json")
	who := "the engine"
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return nil, &probeError{fmt.Sprintf("engine at %s did not answer GET %s in time", p.host(), p.path("/models")), err}
		}
		return nil, &probeError{unreachableMessage(who, p.host(), err), err}
	}
	defer resp.Body.Close()
	if resp.Header.Get(ServerHeader) != "" {
		return nil, &probeError{fmt.Sprintf("%s is jan itself, not an engine", p.host()), errors.New("self")}
	}
	if resp.StatusCode != http.StatusOK {
		e := statusError(p, who, resp)
		msg := fmt.Sprintf("engine at %s answered GET %s with HTTP %d", p.host(), p.path("/models"), resp.StatusCode)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			msg += "; it needs an API key"
		}
		return nil, &probeError{msg, e}
	}
	models, err := decodeModelList(resp)
	if err != nil {
		return nil, &probeError{fmt.Sprintf("engine at %s did not answer GET %s with an OpenAI model list", p.host(), p.path("/models")), err}
	}
	return models, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// decodeModelList reads {"object":"list","data":[{"id":...},...]}.
func decodeModelList(resp *http.Response) ([]ModelSpec, error) {
	var list struct {
		Object string `json:"object"`
		Data   *[]struct {
			ID string `json:"id"`
			// The context window, as engines name it: vLLM, LM Studio
			// and OpenRouter, and others.
			MaxModelLen   int `json:"max_model_len"`
			ContextLength int `json:"context_length"`
			ContextWindow int `json:"context_window"`
		} `json:"data"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxModelList))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	if list.Data == nil || (list.Object != "" && list.Object != "list") {
		return nil, errors.New(`no "data" list`)
	}
	models := []ModelSpec{}
	seen := map[string]bool{}
	for _, m := range *list.Data {
		if m.ID == "" || seen[m.ID] || !validModelID(m.ID) {
			continue
		}
		seen[m.ID] = true
		models = append(models, ModelSpec{ID: m.ID, ServedName: m.ID, Capabilities: []string{CapChat, CapCompletions},
			ContextLength: max(cmp.Or(m.MaxModelLen, m.ContextLength, m.ContextWindow), 0)})
	}
	return models, nil
}
