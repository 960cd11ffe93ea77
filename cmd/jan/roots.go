package main

import (
	"crypto/x509"
	"os"
	"runtime"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// CA roots for TLS where the system has none (the scratch image). Go uses a
// fallback pool only when the system's roots are unavailable, so jan builds
// it only then: on every other machine, building it at each start (2 ms,
// 0.4 MB kept for the process's life) bought nothing.
func init() {
	if runtime.GOOS == "linux" && !systemRoots(os.Getenv, hasEntries) {
		x509.SetFallbackRoots(fallbackRoots())
	}
}

// Where Go's crypto/x509 looks for the system's roots on Linux
// (root_linux.go), after $SSL_CERT_FILE and $SSL_CERT_DIR.
var (
	rootFiles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem",
		"/etc/pki/tls/cacert.pem", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "/etc/ssl/cert.pem"}
	rootDirs = []string{"/etc/ssl/certs", "/etc/pki/tls/certs"}
)

// systemRoots reports whether the system has roots for Go to load: a
// root file or directory named by the environment, or a non-empty one in
// the usual places.
func systemRoots(getenv func(string) string, has func(path string) bool) bool {
	if getenv("SSL_CERT_FILE") != "" || getenv("SSL_CERT_DIR") != "" {
		return true
	}
	for _, p := range append(rootFiles, rootDirs...) {
		if has(p) {
			return true
		}
	}
	return false
}

// hasEntries reports a file with data, or a directory with entries.
func hasEntries(path string) bool {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return false
	case !fi.IsDir():
		return fi.Size() > 0
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}

// fallbackRoots is the NSS trust store jan embeds, as
// golang.org/x/crypto/x509roots/fallback builds it.
func fallbackRoots() *x509.CertPool {
	p := x509.NewCertPool()
	for r := range bundle.Roots() {
		c, err := x509.ParseCertificate(r.Certificate)
		if err != nil {
			panic(err) // the embedded bundle is fixed at build time
		}
		if r.Constraint == nil {
			p.AddCert(c)
		} else {
			p.AddCertWithConstraint(c, r.Constraint)
		}
	}
	return p
}
