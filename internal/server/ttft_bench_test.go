package server

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkStreamFirstToken measures, sequentially, the time from sending a
// streamed chat completion to reading its first content chunk, through jan
// and straight from the engine. For profiling the streaming path:
//
//	go test -run '^$' -bench StreamFirstToken -cpuprofile cpu.out ./internal/server
func BenchmarkStreamFirstToken(b *testing.B) {
	e := newEnv(b, envOptions{})
	tok := e.guest()
	engineURL := e.srv.models.Providers()[0].BaseURL
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, target := range []struct{ name, url, model, auth string }{
		{"engine", engineURL + "/v1/chat/completions", "served/fake-model", ""},
		{"jan", e.URL + "/v1/chat/completions", testModel, "Bearer " + tok},
	} {
		b.Run(target.name, func(b *testing.B) {
			body := fmt.Sprintf(`{"model":%q,"stream":true,"messages":[{"role":"user","content":"hi [fake:tokens=16]"}]}`, target.model)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("POST", target.url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if target.auth != "" {
					req.Header.Set("Authorization", target.auth)
				}
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				sc := bufio.NewScanner(res.Body)
				for sc.Scan() {
					if strings.Contains(sc.Text(), `"content":"Hello"`) {
						break
					}
				}
				b.StopTimer()
				for sc.Scan() {
				}
				res.Body.Close()
				b.StartTimer()
			}
		})
	}
}
