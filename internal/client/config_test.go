package client_test

import (
	"testing"

	"github.com/janhq/jan/internal/client"
)

// jan up remembers its URL, and the client commands default to it.
func TestRememberServer(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		if k == "XDG_CONFIG_HOME" {
			return dir
		}
		return ""
	}
	client.RememberServer(env, "http://127.0.0.1:9123/")
	path, err := client.ConfigPath(env)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := client.ResolveServer("", env, c); got != "http://127.0.0.1:9123" {
		t.Errorf("ResolveServer = %q, want the URL jan up remembered", got)
	}
}
