package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// kongVersion is the Kong release compose.yaml pins.
const kongVersion = "3.9.1"

func runKong(ctx context.Context, p proc) int {
	switch {
	case len(p.args) == 0 || p.args[0] == "docker-start" || p.args[0] == "start":
		return kongServe(ctx, p)
	case p.args[0] == "health":
		return kongHealth(ctx, p)
	case p.args[0] == "version":
		fmt.Fprintf(p.stdout, "Kong %s (%s)\n", kongVersion, version)
		return 0
	}
	fmt.Fprintf(p.stderr, "Error: the stand-in kong runs no command %q (it runs: kong [start|docker-start], kong health, kong version)\n", strings.Join(p.args, " "))
	return 2
}

// kongListen parses a KONG_*_LISTEN value ("0.0.0.0:8000 reuseport, …" or
// "off") into addresses. TLS, HTTP/2 and the PROXY protocol are refused:
// the stand-in speaks plain HTTP/1.1.
func kongListen(env, v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "off" {
		return nil, nil
	}
	var addrs []string
	for _, part := range strings.Split(v, ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			continue
		}
		if _, _, err := net.SplitHostPort(fields[0]); err != nil {
			return nil, fmt.Errorf("%s=%q: %q is not host:port", env, v, fields[0])
		}
		for _, f := range fields[1:] {
			name, _, _ := strings.Cut(f, "=")
			switch name {
			case "reuseport", "backlog", "deferred", "bind", "ipv6only", "so_keepalive":
			default:
				return nil, fmt.Errorf("%s=%q: %q is not implemented by the stand-in (plain HTTP only)", env, v, f)
			}
		}
		addrs = append(addrs, fields[0])
	}
	return addrs, nil
}

// kongLogWriter opens a KONG_*_LOG target.
func kongLogWriter(v string, p proc) (io.Writer, error) {
	switch v {
	case "off":
		return io.Discard, nil
	case "", "/dev/stdout":
		return p.stdout, nil
	case "/dev/stderr":
		return p.stderr, nil
	}
	return os.OpenFile(v, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
}

func kongServe(ctx context.Context, p proc) int {
	fail := func(err error) int {
		fmt.Fprintf(p.stderr, "Error: %v\n", err)
		return 1
	}
	if db := p.getenv("KONG_DATABASE"); db != "off" {
		return fail(fmt.Errorf("KONG_DATABASE=%q: the stand-in runs DB-less only (KONG_DATABASE=off)", db))
	}
	path := p.getenv("KONG_DECLARATIVE_CONFIG")
	if path == "" {
		return fail(errors.New("KONG_DECLARATIVE_CONFIG is not set: the stand-in needs a declarative configuration"))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	g, err := parseKongConfig(data)
	if err != nil {
		return fail(err)
	}
	proxyAddrs, err := kongListen("KONG_PROXY_LISTEN", cmp.Or(p.getenv("KONG_PROXY_LISTEN"), "0.0.0.0:8000"))
	if err != nil {
		return fail(err)
	}
	statusAddrs, err := kongListen("KONG_STATUS_LISTEN", p.getenv("KONG_STATUS_LISTEN"))
	if err != nil {
		return fail(err)
	}
	access, err := kongLogWriter(p.getenv("KONG_PROXY_ACCESS_LOG"), p)
	if err != nil {
		return fail(err)
	}
	errLog, err := kongLogWriter(cmp.Or(p.getenv("KONG_PROXY_ERROR_LOG"), "/dev/stderr"), p)
	if err != nil {
		return fail(err)
	}
	if a := p.getenv("KONG_ADMIN_LISTEN"); a != "" && a != "off" {
		fmt.Fprintf(p.stderr, "[warn] KONG_ADMIN_LISTEN=%s: the stand-in has no Admin API; nothing listens there\n", a)
	}

	proxy := newKongProxy(g, log.New(access, "", 0), log.New(errLog, "", 0))
	var servers []server
	for _, a := range proxyAddrs {
		ln, err := listen("kong proxy", a)
		if err != nil {
			return fail(err)
		}
		servers = append(servers, server{ln, proxy})
	}
	for _, a := range statusAddrs {
		ln, err := listen("kong status", a)
		if err != nil {
			return fail(err)
		}
		servers = append(servers, server{ln, proxy.statusHandler()})
	}
	fmt.Fprintf(p.stderr, "[notice] Kong %s (%s) started: proxy %s, status %s, %d route(s) from %s\n",
		kongVersion, version, strings.Join(proxyAddrs, ", "), cmp.Or(strings.Join(statusAddrs, ", "), "off"), len(g.routes), path)
	if err := serveAll(ctx, servers...); err != nil {
		return fail(err)
	}
	return 0
}

// kongHealth is `kong health`: the node is healthy when its status API
// answers (real Kong checks its nginx processes; the status listener is
// what the stand-in has).
func kongHealth(ctx context.Context, p proc) int {
	addrs, err := kongListen("KONG_STATUS_LISTEN", p.getenv("KONG_STATUS_LISTEN"))
	if err != nil || len(addrs) == 0 {
		fmt.Fprintf(p.stderr, "Error: the stand-in's kong health asks the status API; KONG_STATUS_LISTEN=%q has none\n", p.getenv("KONG_STATUS_LISTEN"))
		return 1
	}
	host, port, _ := net.SplitHostPort(addrs[0])
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	u := "http://" + net.JoinHostPort(host, port) + "/status"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	res, err := (&http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}).Do(req)
	if err != nil {
		fmt.Fprintf(p.stderr, "Error: Kong is not running at %s: %v\n", u, err)
		return 1
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(p.stderr, "Error: Kong is not healthy: %s answered %s\n", u, res.Status)
		return 1
	}
	fmt.Fprintln(p.stdout, "nginx.......running\n\nKong is healthy at /usr/local/kong")
	return 0
}

// kongProxy serves the proxy port: route, run the plugins in Kong's
// priority order (cors 2000, key-auth 1250, request-transformer 801),
// then proxy, streaming.
type kongProxy struct {
	g       *kongGateway
	proxies map[*kongService]*httputil.ReverseProxy
	access  *log.Logger
	errLog  *log.Logger

	requests atomic.Int64
	active   atomic.Int64
}

// kongRequest is one request's state across the phases.
type kongRequest struct {
	id            string
	start         time.Time
	route         *boundRoute
	skipCORS      bool // preflight answered: no header_filter
	upstreamStart time.Time
}

type kongRequestKey struct{}

func newKongProxy(g *kongGateway, access, errLog *log.Logger) *kongProxy {
	kp := &kongProxy{g: g, access: access, errLog: errLog, proxies: map[*kongService]*httputil.ReverseProxy{}}
	for i := range g.routes {
		s := g.routes[i].service
		if _, ok := kp.proxies[s]; !ok {
			kp.proxies[s] = kp.reverseProxy(s)
		}
	}
	return kp
}

func msOr(ms int, def time.Duration) time.Duration {
	if ms <= 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

func (kp *kongProxy) reverseProxy(s *kongService) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: kp.rewrite,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: msOr(s.ConnectTimeout, time.Minute)}).DialContext,
			ResponseHeaderTimeout: msOr(s.ReadTimeout, time.Minute),
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       60 * time.Second,
		},
		FlushInterval: -1, // SSE: every chunk as it comes
		ModifyResponse: func(res *http.Response) error {
			st := res.Request.Context().Value(kongRequestKey{}).(*kongRequest)
			h := res.Header
			h.Set("Via", "1.1 kong/"+kongVersion)
			h.Set("X-Kong-Upstream-Latency", strconv.FormatInt(time.Since(st.upstreamStart).Milliseconds(), 10))
			h.Set("X-Kong-Proxy-Latency", strconv.FormatInt(st.upstreamStart.Sub(st.start).Milliseconds(), 10))
			h.Set("X-Kong-Request-Id", st.id)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			st := r.Context().Value(kongRequestKey{}).(*kongRequest)
			if r.Context().Err() != nil {
				return // the client went away (logged as 499)
			}
			kp.errLog.Printf("%s [error] upstream %s: %v, request_id: %q", time.Now().Format("2006/01/02 15:04:05"), s.target.Host, err, st.id)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				kongError(w, st, http.StatusGatewayTimeout, "The upstream server is timing out")
				return
			}
			kongError(w, st, http.StatusBadGateway, "An invalid response was received from the upstream server")
		},
		// A stream cut after its headers is reported only here.
		ErrorLog: log.New(kp.errLog.Writer(), "[error] ", log.LstdFlags),
	}
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// kongError answers as Kong does when it ends a request itself.
func kongError(w http.ResponseWriter, st *kongRequest, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Server", "kong/"+kongVersion)
	h.Set("X-Kong-Response-Latency", strconv.FormatInt(time.Since(st.start).Milliseconds(), 10))
	h.Set("X-Kong-Request-Id", st.id)
	body, _ := json.Marshal(map[string]string{"message": msg, "request_id": st.id})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (kp *kongProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Kong (nginx) reads the request and writes the response at once. Go's
	// HTTP/1 server otherwise drains and closes the request body when the
	// response headers go out, while the proxy's transport may still be
	// sending it upstream, which can cut a stream short (golang/go#40747).
	_ = http.NewResponseController(w).EnableFullDuplex()
	kp.requests.Add(1)
	kp.active.Add(1)
	defer kp.active.Add(-1)
	st := &kongRequest{id: newRequestID(), start: time.Now()}
	rec := &recorder{ResponseWriter: w}
	rec.beforeHeader = func(h http.Header) {
		if kp.g.cors != nil && !st.skipCORS {
			kp.g.cors.headerFilter(h, r)
		}
	}
	defer func() {
		// Kong's default (nginx "combined" plus the request id).
		kp.access.Printf("%s - - [%s] \"%s %s %s\" %d %d %q %q kong_request_id: %q",
			clientIP(r), st.start.Format("02/Jan/2006:15:04:05 -0700"), r.Method, r.URL.RequestURI(), r.Proto,
			rec.code(r), rec.bytes, cmp.Or(r.Referer(), "-"), cmp.Or(r.UserAgent(), "-"), st.id)
	}()

	st.route = kp.g.match(r)
	if st.route == nil {
		kongError(rec, st, http.StatusNotFound, "no Route matched with those values")
		return
	}
	out := r.Clone(context.WithValue(r.Context(), kongRequestKey{}, st))
	if c := kp.g.cors; c != nil && c.preflight(rec, out, st) {
		return
	}
	if kp.g.keyAuth != nil && !kp.g.authenticate(rec, out, st) {
		return
	}
	if t := kp.g.transform; t != nil {
		t.apply(out.Header)
	}
	kp.proxies[st.route.service].ServeHTTP(rec, out)
}

// match is Kong's router for prefix paths: the longest matching prefix
// whose methods and protocols allow the request.
func (g *kongGateway) match(r *http.Request) *boundRoute {
	path := r.URL.EscapedPath()
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	for i := range g.routes {
		rt := &g.routes[i]
		if !strings.HasPrefix(path, rt.path) {
			continue
		}
		if len(rt.Methods) > 0 && !slices.ContainsFunc(rt.Methods, func(m string) bool { return strings.EqualFold(m, r.Method) }) {
			continue
		}
		if len(rt.Protocols) > 0 && !slices.Contains(rt.Protocols, proto) {
			continue
		}
		return rt
	}
	return nil
}

// rewrite builds the upstream request: the service's URL, the path after
// strip_path, Host per preserve_host, and the headers Kong adds.
func (kp *kongProxy) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(kongRequestKey{}).(*kongRequest)
	rt := st.route
	target := rt.service.target
	in := pr.In.URL.EscapedPath()
	rest := in
	strip := rt.StripPath == nil || *rt.StripPath
	if strip {
		rest = strings.TrimPrefix(in, rt.path)
		if !strings.HasPrefix(rest, "/") {
			rest = "/" + rest
		}
	}
	upstream := joinKongPath(target.EscapedPath(), rest)
	pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
	pr.Out.URL.RawPath = upstream
	pr.Out.URL.Path, _ = url.PathUnescape(upstream)
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	if rt.PreserveHost {
		pr.Out.Host = pr.In.Host
	} else {
		pr.Out.Host = target.Host
	}

	h := pr.Out.Header
	ip := clientIP(pr.In)
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
	} else {
		h.Set("X-Forwarded-For", ip)
	}
	scheme := "http"
	if pr.In.TLS != nil {
		scheme = "https"
	}
	h.Set("X-Forwarded-Proto", scheme)
	host, port, err := net.SplitHostPort(pr.In.Host)
	if err != nil {
		host = pr.In.Host
	}
	if la, ok := pr.In.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(la.String()); err == nil {
			port = p
		}
	}
	h.Set("X-Forwarded-Host", host)
	if port != "" {
		h.Set("X-Forwarded-Port", port)
	}
	h.Set("X-Forwarded-Path", in)
	if strip && rt.path != "/" {
		h.Set("X-Forwarded-Prefix", rt.path)
	}
	h.Set("X-Real-IP", ip)
	h.Set("X-Kong-Request-Id", st.id)
	st.upstreamStart = time.Now()
}

// joinKongPath appends the request path to the service's path.
func joinKongPath(base, rest string) string {
	if base == "" || base == "/" {
		return rest
	}
	if rest == "/" || rest == "" {
		return base
	}
	return strings.TrimSuffix(base, "/") + rest
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Kong's consumer headers (kong/constants.lua).
const (
	headerConsumerID       = "X-Consumer-ID"
	headerConsumerCustomID = "X-Consumer-Custom-ID"
	headerConsumerUsername = "X-Consumer-Username"
	headerCredentialID     = "X-Credential-Identifier"
	headerAnonymous        = "X-Anonymous-Consumer"
)

// authenticate is key-auth's access phase. With an anonymous consumer, a
// missing or wrong key runs as that consumer; without one it is a 401.
// It reports whether the request goes on.
func (g *kongGateway) authenticate(w http.ResponseWriter, r *http.Request, st *kongRequest) bool {
	c := g.keyAuth
	if r.Method == http.MethodOptions && c.RunOnPreflight != nil && !*c.RunOnPreflight {
		return true
	}
	inHeader := c.KeyInHeader == nil || *c.KeyInHeader
	inQuery := c.KeyInQuery == nil || *c.KeyInQuery
	var key string
	duplicate := false
	for _, name := range c.KeyNames {
		if inHeader {
			if vals := r.Header.Values(name); len(vals) > 0 {
				key, duplicate = vals[0], len(vals) > 1
				if c.HideCredentials {
					r.Header.Del(name)
				}
				break
			}
		}
		if inQuery {
			q := r.URL.Query()
			if vals, ok := q[name]; ok {
				key, duplicate = vals[0], len(vals) > 1
				if c.HideCredentials {
					q.Del(name)
					r.URL.RawQuery = q.Encode()
				}
				break
			}
		}
	}

	var consumer *kongConsumer
	credential := ""
	status, msg := 0, ""
	switch {
	case duplicate:
		status, msg = http.StatusUnauthorized, "Duplicate API key found"
	case key == "":
		status, msg = http.StatusUnauthorized, "No API key found in request"
	default:
		consumer, credential = g.credential(key)
		if consumer == nil {
			status, msg = http.StatusUnauthorized, "Unauthorized"
		}
	}
	if status != 0 {
		if c.Anonymous == "" {
			if key == "" {
				w.Header().Set("WWW-Authenticate", `Key realm="kong"`)
			}
			kongError(w, st, status, msg)
			return false
		}
		consumer, credential = g.consumer(c.Anonymous), ""
	}
	set := func(name, v string) {
		if v == "" {
			r.Header.Del(name)
		} else {
			r.Header.Set(name, v)
		}
	}
	set(headerConsumerID, consumer.ID)
	set(headerConsumerCustomID, consumer.CustomID)
	set(headerConsumerUsername, consumer.Username)
	set(headerCredentialID, credential)
	if credential == "" {
		r.Header.Set(headerAnonymous, "true")
	} else {
		r.Header.Del(headerAnonymous)
	}
	return true
}

func (g *kongGateway) credential(key string) (*kongConsumer, string) {
	for i := range g.consumers {
		for _, k := range g.consumers[i].KeyauthCredentials {
			if k.Key == key {
				return &g.consumers[i], k.ID
			}
		}
	}
	return nil, ""
}

// apply is request-transformer's header operations, in Kong's order:
// remove, rename, replace, add (only if absent), append.
func (t *requestTransformerConfig) apply(h http.Header) {
	for _, name := range t.Remove.Headers {
		h.Del(name)
	}
	for _, kv := range t.Rename.Headers {
		from, to := splitHeaderOp(kv)
		if vals := h.Values(from); len(vals) > 0 {
			vals = slices.Clone(vals)
			h.Del(from)
			h[http.CanonicalHeaderKey(to)] = vals
		}
	}
	for _, kv := range t.Replace.Headers {
		if name, v := splitHeaderOp(kv); len(h.Values(name)) > 0 {
			h.Set(name, v)
		}
	}
	for _, kv := range t.Add.Headers {
		if name, v := splitHeaderOp(kv); len(h.Values(name)) == 0 {
			h.Set(name, v)
		}
	}
	for _, kv := range t.Append.Headers {
		name, v := splitHeaderOp(kv)
		h.Add(name, v)
	}
}

// splitHeaderOp splits "name:value" as Kong does (^([^:]+):*(.-)$).
func splitHeaderOp(kv string) (string, string) {
	name, v, _ := strings.Cut(kv, ":")
	return name, strings.TrimLeft(v, ":")
}

// corsDefaultMethods are Kong's when methods is not configured.
const corsDefaultMethods = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"

var plainOrigin = regexp.MustCompile(`^[A-Za-z0-9.:/-]+$`)

// preflight is the cors access phase: a preflight (OPTIONS with Origin and
// Access-Control-Request-Method) is answered here, before authentication,
// unless preflight_continue. It reports whether the request was answered.
func (c *corsConfig) preflight(w http.ResponseWriter, r *http.Request, st *kongRequest) bool {
	if r.Method != http.MethodOptions || r.Header.Get("Origin") == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	st.skipCORS = true
	if c.PreflightContinue {
		return false
	}
	h := w.Header()
	allowAll := c.origin(h, r)
	c.credentials(h, r, allowAll)
	if len(c.Headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(c.Headers, ","))
	} else if acrh := r.Header.Get("Access-Control-Request-Headers"); acrh != "" {
		h.Set("Access-Control-Allow-Headers", acrh)
	}
	methods := corsDefaultMethods
	if len(c.Methods) > 0 {
		methods = strings.Join(c.Methods, ",")
	}
	h.Set("Access-Control-Allow-Methods", methods)
	if c.MaxAge != nil {
		h.Set("Access-Control-Max-Age", strconv.Itoa(*c.MaxAge))
	}
	if c.PrivateNetwork && r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return true
}

// headerFilter is the cors header_filter phase, on every other response
// (proxied or answered by Kong).
func (c *corsConfig) headerFilter(h http.Header, r *http.Request) {
	allowAll := c.origin(h, r)
	c.credentials(h, r, allowAll)
	if len(c.ExposedHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposedHeaders, ","))
	}
}

// origin sets Access-Control-Allow-Origin; allowAll when it is "*".
func (c *corsConfig) origin(h http.Header, r *http.Request) (allowAll bool) {
	if len(c.Origins) == 0 || (len(c.Origins) == 1 && c.Origins[0] == "*") {
		h.Set("Access-Control-Allow-Origin", "*")
		return true
	}
	h.Add("Vary", "Origin")
	if len(c.Origins) == 1 && plainOrigin.MatchString(c.Origins[0]) {
		h.Set("Access-Control-Allow-Origin", c.Origins[0])
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	for _, o := range c.Origins {
		ok := o == "*" || o == origin
		if !ok && !plainOrigin.MatchString(o) {
			re, err := regexp.Compile("^(?:" + o + ")$")
			ok = err == nil && re.MatchString(origin)
		}
		if ok {
			h.Set("Access-Control-Allow-Origin", origin)
			return false
		}
	}
	h.Del("Access-Control-Allow-Origin")
	return false
}

// credentials sets Access-Control-Allow-Credentials; with "*" origins it
// echoes the request's origin instead, as "*" may not carry credentials.
func (c *corsConfig) credentials(h http.Header, r *http.Request, allowAll bool) {
	if !c.Credentials {
		return
	}
	if !allowAll {
		h.Set("Access-Control-Allow-Credentials", "true")
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	}
}

// statusHandler is the status API: GET /status (what `kong health` asks)
// and GET /status/ready.
func (kp *kongProxy) statusHandler() http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Server", "kong/"+kongVersion)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		n := kp.requests.Load()
		writeJSON(w, http.StatusOK, map[string]any{
			"database": map[string]any{"reachable": true},
			"server": map[string]any{
				"total_requests":       n,
				"connections_accepted": n,
				"connections_handled":  n,
				"connections_active":   kp.active.Load(),
				"connections_reading":  0,
				"connections_writing":  kp.active.Load(),
				"connections_waiting":  0,
			},
			"memory":             map[string]any{"workers_lua_vms": []any{}, "lua_shared_dicts": map[string]any{}},
			"configuration_hash": kp.g.hash,
		})
	})
	mux.HandleFunc("GET /status/ready", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"message": "ready"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not found"})
	})
	return mux
}
