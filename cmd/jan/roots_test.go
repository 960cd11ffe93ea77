package main

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The embedded roots are built only where the system has none: a root file
// or directory in the usual places, or one named by SSL_CERT_FILE or
// SSL_CERT_DIR, means the system's roots serve.
func TestFallbackRootsOnlyWithoutSystemRoots(t *testing.T) {
	none := func(string) string { return "" }
	if systemRoots(none, func(string) bool { return false }) {
		t.Error("no root file or directory: want the fallback roots")
	}
	for _, p := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem", "/etc/pki/tls/certs"} {
		if !systemRoots(none, func(q string) bool { return q == p }) {
			t.Errorf("%s present: want the system's roots", p)
		}
	}
	for _, env := range []string{"SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if !systemRoots(func(k string) string { return map[string]string{env: "/x"}[k] }, func(string) bool { return false }) {
			t.Errorf("%s set: want the system's roots", env)
		}
	}
	if !slices.Contains(rootFiles, "/etc/ssl/certs/ca-certificates.crt") {
		t.Error("Debian's bundle is not among the root files")
	}

	dir := t.TempDir()
	empty, full, file, zero := filepath.Join(dir, "empty"), filepath.Join(dir, "full"), filepath.Join(dir, "ca.crt"), filepath.Join(dir, "zero.crt")
	for _, d := range []string{empty, full} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, data := range map[string]string{filepath.Join(full, "a.pem"): "x", file: "x", zero: ""} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, want := range map[string]bool{empty: false, full: true, file: true, zero: false, filepath.Join(dir, "missing"): false} {
		if got := hasEntries(p); got != want {
			t.Errorf("hasEntries(%s) = %v, want %v", filepath.Base(p), got, want)
		}
	}
	n := 0
	for range bundle.Roots() {
		n++
	}
	if p := fallbackRoots(); n < 100 || p.Equal(x509.NewCertPool()) {
		t.Errorf("the embedded bundle has %d roots; the pool built from it is empty: %v", n, p.Equal(x509.NewCertPool()))
	}
}
