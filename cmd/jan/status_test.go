package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/server/servertest"
	"github.com/janhq/jan/internal/stack"
)

// jan status reads a running server's load from its /metrics.
func TestStatusReadsServerLoad(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	io, _, errOut, _ := testIO(t, srv.URL, "")
	if err := runChat(testCtx(t), &chatOptions{clientOptions: clientOptions{IO: io}, Prompt: "hello"}); err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	// The chat returns on [DONE]; the server's handler counts its stream
	// until it has returned, a moment later.
	var load *client.ServerMetrics
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		load = serverLoad(context.Background(), config.Config{}, stack.ServerStatus{Addr: addr, Ready: true})
		if load == nil || load.ActiveStreams == 0 || time.Now().After(deadline) {
			break
		}
	}
	if load == nil || load.RequestsPerMinute < 3 || load.TTFTp50Seconds == nil || load.ActiveStreams != 0 {
		t.Fatalf("load = %+v", load)
	}
	if serverLoad(context.Background(), config.Config{}, stack.ServerStatus{Addr: addr}) != nil {
		t.Error("read the load of a server that is not ready")
	}
}
