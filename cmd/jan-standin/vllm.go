package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/janhq/jan/internal/fakeengine"
)

// vllmVersion is the vLLM release compose.yaml pins; /version reports it.
const vllmVersion = "0.10.1.1"

// vllmFlags are the flags of vLLM's OpenAI server that the stand-in reads;
// the rest (--gpu-memory-utilization, --max-model-len, …) are accepted and
// ignored, as they only tune the real engine.
type vllmFlags struct {
	model  string
	served []string
	host   string
	port   int
}

func parseVLLMArgs(args []string) (vllmFlags, error) {
	f := vllmFlags{model: "facebook/opt-125m", port: 8000} // vLLM's defaults
	positional := 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			// `vllm serve MODEL` (the CLI form) as well as the server's flags.
			if positional == 0 && a == "serve" {
				continue
			}
			positional++
			f.model = a
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		name = strings.ReplaceAll(name, "_", "-")
		next := func() bool {
			if hasVal {
				return true
			}
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				val = args[i]
				return true
			}
			return false
		}
		switch name {
		case "model":
			if !next() {
				return f, fmt.Errorf("--model needs a value")
			}
			f.model = val
		case "served-model-name": // nargs="+": every word up to the next flag
			if !next() {
				return f, fmt.Errorf("--served-model-name needs a value")
			}
			f.served = append(f.served, val)
			for !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				f.served = append(f.served, args[i])
			}
		case "host":
			if !next() {
				return f, fmt.Errorf("--host needs a value")
			}
			f.host = val
		case "port":
			if !next() {
				return f, fmt.Errorf("--port needs a value")
			}
			p, err := strconv.Atoi(val)
			if err != nil || p <= 0 || p > 65535 {
				return f, fmt.Errorf("--port %q is not a port", val)
			}
			f.port = p
		default:
			// An unknown --flag without "=" takes what follows as its
			// value unless that is a flag too (then it was a switch).
			next()
		}
	}
	if len(f.served) == 0 {
		f.served = []string{f.model}
	}
	return f, nil
}

func runVLLM(ctx context.Context, p proc) int {
	f, err := parseVLLMArgs(p.args)
	if err != nil {
		fmt.Fprintf(p.stderr, "vllm: %v\n", err)
		return 2
	}
	addr := net.JoinHostPort(f.host, strconv.Itoa(f.port))
	ln, err := listen("vllm", addr)
	if err != nil {
		fmt.Fprintln(p.stderr, err)
		return 1
	}
	logger := log.New(p.stdout, "", 0)
	logger.Printf("INFO api_server: vLLM API server version %s (%s: fakeengine)", vllmVersion, version)
	logger.Printf("INFO api_server: serving %s as %s on http://%s", f.model, strings.Join(f.served, ", "), addr)
	h := vllmHandler(fakeengine.New(fakeengine.Options{Models: f.served}), p.getenv("VLLM_API_KEY"), logger)
	if err := serveAll(ctx, server{ln, h}); err != nil {
		fmt.Fprintf(p.stderr, "vllm: %v\n", err)
		return 1
	}
	return 0
}

// vllmHandler is vLLM's routing around the engine: /health and /version
// answer without a key; with a key set, every /v1 route needs
// "Authorization: Bearer <key>" and answers vLLM's own 401 body otherwise
// (the check runs before the engine sees the request).
func vllmHandler(engine http.Handler, apiKey string, logger *log.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"version": vllmVersion})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if apiKey != "" && r.Method != http.MethodOptions && strings.HasPrefix(r.URL.Path, "/v1") &&
			r.Header.Get("Authorization") != "Bearer "+apiKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"Unauthorized"}`))
			return
		}
		engine.ServeHTTP(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		defer func() {
			// uvicorn's access log line.
			logger.Printf("INFO:     %s - \"%s %s HTTP/%d.%d\" %d %s", r.RemoteAddr, r.Method, r.URL.RequestURI(),
				r.ProtoMajor, r.ProtoMinor, rec.code(r), http.StatusText(rec.code(r)))
		}()
		mux.ServeHTTP(rec, r)
	})
}
