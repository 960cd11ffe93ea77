package main

import (
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
)

// otelcolVersion is the collector release compose.yaml pins.
const otelcolVersion = "0.132.0"

// otlpEndpoints are where the collector's OTLP receiver listens.
type otlpEndpoints struct {
	http string // "" when the receiver has no http protocol
	grpc string
}

func parseOtelcolArgs(args []string) (configPath string, showVersion bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--version" || a == "-v":
			return "", true, nil
		case a == "--config" && i+1 < len(args):
			i++
			a = "--config=" + args[i]
			fallthrough
		case strings.HasPrefix(a, "--config="):
			if configPath != "" {
				return "", false, fmt.Errorf("the stand-in reads one --config")
			}
			configPath = strings.TrimPrefix(a, "--config=")
			if scheme, rest, ok := strings.Cut(configPath, ":"); ok && len(scheme) > 1 {
				if scheme != "file" {
					return "", false, fmt.Errorf("--config=%s: the stand-in reads files only", configPath)
				}
				configPath = rest
			}
		default:
			return "", false, fmt.Errorf("unknown argument %q (the stand-in takes --config=FILE or --version)", a)
		}
	}
	if configPath == "" {
		return "", false, fmt.Errorf("no --config: the collector needs a configuration")
	}
	return configPath, false, nil
}

// parseOtelConfig finds the OTLP receiver's endpoints; the rest of the
// configuration (processors, exporters, extensions) has no stand-in and is
// not read.
func parseOtelConfig(data []byte) (otlpEndpoints, error) {
	var cfg struct {
		Receivers map[string]yaml.Node `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return otlpEndpoints{}, fmt.Errorf("collector configuration: %w", err)
	}
	names := make([]string, 0, len(cfg.Receivers))
	for name := range cfg.Receivers {
		if name == "otlp" || strings.HasPrefix(name, "otlp/") {
			names = append(names, name)
		}
	}
	if len(names) != 1 {
		return otlpEndpoints{}, fmt.Errorf("collector configuration: the stand-in needs exactly one otlp receiver, found %d", len(names))
	}
	node := cfg.Receivers[names[0]]
	var otlp struct {
		Protocols map[string]*struct {
			Endpoint string `yaml:"endpoint"`
		} `yaml:"protocols"`
	}
	if err := node.Decode(&otlp); err != nil {
		return otlpEndpoints{}, fmt.Errorf("collector configuration: receivers.%s: %w", names[0], err)
	}
	var e otlpEndpoints
	for proto, p := range otlp.Protocols {
		endpoint := ""
		if p != nil {
			endpoint = p.Endpoint
		}
		switch proto {
		case "http":
			e.http = cmpOr(endpoint, "localhost:4318") // the collector's defaults
		case "grpc":
			e.grpc = cmpOr(endpoint, "localhost:4317")
		default:
			return otlpEndpoints{}, fmt.Errorf("collector configuration: receivers.%s.protocols.%s is not an OTLP protocol", names[0], proto)
		}
	}
	if e.http == "" && e.grpc == "" {
		return otlpEndpoints{}, fmt.Errorf("collector configuration: receivers.%s has no protocols", names[0])
	}
	return e, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func runOtelcol(ctx context.Context, p proc) int {
	path, showVersion, err := parseOtelcolArgs(p.args)
	if err != nil {
		fmt.Fprintf(p.stderr, "Error: %v\n", err)
		return 2
	}
	if showVersion {
		fmt.Fprintf(p.stdout, "otelcol-contrib version %s (%s)\n", otelcolVersion, version)
		return 0
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(p.stderr, "Error: %v\n", err)
		return 1
	}
	e, err := parseOtelConfig(data)
	if err != nil {
		fmt.Fprintf(p.stderr, "Error: %v\n", err)
		return 1
	}
	logger := log.New(p.stdout, "", 0)
	var servers []server
	if e.http != "" {
		ln, err := listen("otlp http receiver", e.http)
		if err != nil {
			fmt.Fprintf(p.stderr, "Error: %v\n", err)
			return 1
		}
		servers = append(servers, server{ln, newOTLPReceiver(logger)})
		logger.Printf("%s\tinfo\totlpreceiver\tStarting HTTP server\t{\"endpoint\": %q}", time.Now().UTC().Format(time.RFC3339Nano), e.http)
	}
	if e.grpc != "" {
		// No gRPC in the stand-in: the port is open (so a client sees the
		// collector up) and every connection is closed.
		ln, err := listen("otlp grpc receiver", e.grpc)
		if err != nil {
			fmt.Fprintf(p.stderr, "Error: %v\n", err)
			return 1
		}
		go closeEvery(ln)
		defer ln.Close()
		logger.Printf("%s\tinfo\totlpreceiver\tgRPC endpoint %s accepts and closes connections (stand-in: OTLP/HTTP only)", time.Now().UTC().Format(time.RFC3339Nano), e.grpc)
	}
	logger.Printf("%s\tinfo\tservice\tEverything is ready. Begin running and processing data.", time.Now().UTC().Format(time.RFC3339Nano))
	if err := serveAll(ctx, servers...); err != nil {
		fmt.Fprintf(p.stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

func closeEvery(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// otlpReceiver is the OTLP/HTTP receiver: /v1/traces counts spans by
// service; /v1/metrics and /v1/logs are accepted and dropped.
// GET /stand-in/spans reports the count, for tests.
type otlpReceiver struct {
	log *log.Logger

	mu       sync.Mutex
	spans    int
	services map[string]bool
}

func newOTLPReceiver(logger *log.Logger) http.Handler {
	rc := &otlpReceiver{log: logger, services: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", rc.traces)
	mux.HandleFunc("POST /v1/metrics", rc.discard)
	mux.HandleFunc("POST /v1/logs", rc.discard)
	mux.HandleFunc("GET /stand-in/spans", rc.report)
	return mux
}

// spanReport is GET /stand-in/spans.
type spanReport struct {
	Spans    int      `json:"spans"`
	Services []string `json:"services"`
}

func (rc *otlpReceiver) report(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rep := spanReport{Spans: rc.spans, Services: make([]string, 0, len(rc.services))}
	for s := range rc.services {
		rep.Services = append(rep.Services, s)
	}
	rc.mu.Unlock()
	sort.Strings(rep.Services)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

// otlpBody reads a request body in either OTLP/HTTP encoding, decompressed;
// it answers the error itself (415, 400) and returns ok=false.
func otlpBody(w http.ResponseWriter, r *http.Request) (body []byte, isJSON, ok bool) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-protobuf":
	case "application/json":
		isJSON = true
	default:
		http.Error(w, fmt.Sprintf("%d unsupported media type, supported: [application/json, application/x-protobuf]", http.StatusUnsupportedMediaType), http.StatusUnsupportedMediaType)
		return nil, false, false
	}
	var rd io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "gzip: "+err.Error(), http.StatusBadRequest)
			return nil, false, false
		}
		rd = zr
	case "deflate":
		zr, err := zlib.NewReader(r.Body)
		if err != nil {
			http.Error(w, "deflate: "+err.Error(), http.StatusBadRequest)
			return nil, false, false
		}
		rd = zr
	default:
		http.Error(w, fmt.Sprintf("unsupported Content-Encoding %q (stand-in: gzip, deflate)", enc), http.StatusBadRequest)
		return nil, false, false
	}
	body, err := io.ReadAll(io.LimitReader(rd, 64<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return nil, false, false
	}
	return body, isJSON, true
}

// respond sends an empty Export*ServiceResponse in the request's encoding.
func respondOTLP(w http.ResponseWriter, isJSON bool) {
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (rc *otlpReceiver) traces(w http.ResponseWriter, r *http.Request) {
	body, isJSON, ok := otlpBody(w, r)
	if !ok {
		return
	}
	var resources, spans int
	var services []string
	var err error
	if isJSON {
		resources, spans, services, err = countJSONSpans(body)
	} else {
		resources, spans, services, err = countProtoSpans(body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.spans += spans
	for _, s := range services {
		rc.services[s] = true
	}
	rc.mu.Unlock()
	// The debug exporter's basic verbosity.
	rc.log.Printf("%s\tinfo\tTraces\t{\"otelcol.component.id\": \"debug\", \"resource spans\": %d, \"spans\": %d}",
		time.Now().UTC().Format(time.RFC3339Nano), resources, spans)
	respondOTLP(w, isJSON)
}

func (rc *otlpReceiver) discard(w http.ResponseWriter, r *http.Request) {
	if _, isJSON, ok := otlpBody(w, r); ok {
		respondOTLP(w, isJSON)
	}
}

// countProtoSpans decodes an ExportTraceServiceRequest, which has the wire
// format of TracesData (field 1: repeated ResourceSpans), so the collector
// service's gRPC stubs are not needed.
func countProtoSpans(body []byte) (resources, spans int, services []string, err error) {
	var td tracepb.TracesData
	if err := proto.Unmarshal(body, &td); err != nil {
		return 0, 0, nil, fmt.Errorf("proto: %w", err)
	}
	for _, rs := range td.ResourceSpans {
		resources++
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				services = appendNew(services, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			spans += len(ss.Spans)
		}
	}
	return resources, spans, services, nil
}

// countJSONSpans reads OTLP/JSON (camelCase fields, hex ids): only the parts
// counted, so ids need no decoding.
func countJSONSpans(body []byte) (resources, spans int, services []string, err error) {
	var req struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []struct {
					Key   string `json:"key"`
					Value struct {
						StringValue string `json:"stringValue"`
					} `json:"value"`
				} `json:"attributes"`
			} `json:"resource"`
			ScopeSpans []struct {
				Spans []json.RawMessage `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, 0, nil, fmt.Errorf("json: %w", err)
	}
	for _, rs := range req.ResourceSpans {
		resources++
		for _, kv := range rs.Resource.Attributes {
			if kv.Key == "service.name" {
				services = appendNew(services, kv.Value.StringValue)
			}
		}
		for _, ss := range rs.ScopeSpans {
			spans += len(ss.Spans)
		}
	}
	return resources, spans, services, nil
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
