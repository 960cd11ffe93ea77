package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFullPath is jan-bench's "full path" in process: a chat completion
// with a bearer token, an Idempotency-Key and a stored conversation (a new
// one every 20 requests), from parallel clients. For profiling:
//
//	go test -run '^$' -bench FullPath -cpuprofile cpu.out ./internal/server
func BenchmarkFullPath(b *testing.B) {
	e := newEnv(b, envOptions{})
	tok := e.guest()
	var n atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	cpu := processCPU()
	defer func() { b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e3, "cpu-µs/op") }()
	b.RunParallel(func(pb *testing.PB) {
		conv := ""
		for i := 0; pb.Next(); i++ {
			if i%20 == 0 {
				conv = e.newConversation(tok, "")
			}
			body := fmt.Sprintf(`{"model":%q,"conversation":%q,"messages":[{"role":"user","content":"hello %d"}]}`, testModel, conv, i)
			req, _ := http.NewRequest("POST", e.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("k-%d", n.Add(1)))
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body) // drained, so the connection is reused
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

// BenchmarkStream is jan-bench's streamed-token comparison in process: a
// 64-token stream through chat completions and through the Responses API
// (stored), from parallel clients. For profiling:
//
//	go test -run '^$' -bench Stream/responses -cpuprofile cpu.out ./internal/server
func BenchmarkStream(b *testing.B) {
	e := newEnv(b, envOptions{})
	tok := e.guest()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, c := range []struct{ name, path, body string }{
		{"chat", "/v1/chat/completions", `{"model":"` + testModel + `","stream":true,"messages":[{"role":"user","content":"Stream it. [fake:tokens=512]"}]}`},
		{"responses", "/v1/responses", `{"model":"` + testModel + `","stream":true,"input":"Stream it. [fake:tokens=512]"}`},
		{"responses-unstored", "/v1/responses", `{"model":"` + testModel + `","stream":true,"store":false,"input":"Stream it. [fake:tokens=512]"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", e.URL+c.path, strings.NewReader(c.body))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/json")
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
		})
	}
}

// processCPU is the CPU time (user + system) this process has used so far:
// per operation, a figure that a busy neighbour on the machine moves less
// than the time per operation. It includes the test's client and engine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
