package main

import (
	"testing"

	"github.com/janhq/jan/internal/client"
)

// jan up records its URL, and the client commands default to it.
func TestUpRecordsServer(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("JAN_SERVER_URL", "")
	recordServer("http://127.0.0.1:9123")
	path, err := client.ConfigPath(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := client.ResolveServer("", nil, c); got != "http://127.0.0.1:9123" {
		t.Errorf("ResolveServer = %q, want the URL jan up recorded", got)
	}
}
