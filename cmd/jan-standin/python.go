package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// urlCheck is what a healthcheck's `python3 -c "…urlopen('URL', timeout=N)"`
// does: GET URL, failing on anything but 2xx (urlopen raises HTTPError for
// 4xx/5xx and follows redirects).
type urlCheck struct {
	url     string
	timeout time.Duration
}

var (
	scriptURL     = regexp.MustCompile(`https?://[^\s'"()]+`)
	scriptTimeout = regexp.MustCompile(`timeout\s*=\s*(-?[0-9]*\.?[0-9]+)`)
)

// parsePythonArgs reads `-c SCRIPT`; nothing else is Python the stand-in runs.
func parsePythonArgs(args []string) (urlCheck, error) {
	if len(args) != 2 || args[0] != "-c" {
		return urlCheck{}, fmt.Errorf("stand-in python3 only runs healthchecks: python3 -c \"import urllib.request; urllib.request.urlopen('http://…', timeout=N)\"")
	}
	script := args[1]
	u := scriptURL.FindString(script)
	if u == "" {
		return urlCheck{}, fmt.Errorf("stand-in python3: no http(s) URL in the script %q", script)
	}
	c := urlCheck{url: u, timeout: 30 * time.Second} // urlopen has no timeout by default; Docker's own kills the check
	if m := scriptTimeout.FindStringSubmatch(script); m != nil {
		secs, err := strconv.ParseFloat(m[1], 64)
		if err != nil || secs <= 0 {
			return urlCheck{}, fmt.Errorf("stand-in python3: timeout=%s is not a positive number of seconds", m[1])
		}
		c.timeout = time.Duration(secs * float64(time.Second))
	}
	return c, nil
}

func runPython(ctx context.Context, p proc) int {
	c, err := parsePythonArgs(p.args)
	if err != nil {
		fmt.Fprintln(p.stderr, err)
		return 2
	}
	if err := c.run(ctx); err != nil {
		fmt.Fprintf(p.stderr, "Traceback (stand-in): %v\n", err)
		return 1
	}
	return 0
}

func (c urlCheck) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fmt.Errorf("urllib.error.URLError: %v", err)
	}
	req.Header.Set("User-Agent", "Python-urllib/3.12")
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("urllib.error.URLError: <urlopen error %v>", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("urllib.error.HTTPError: HTTP Error %d: %s (%s)", res.StatusCode, http.StatusText(res.StatusCode), c.url)
	}
	return nil
}
