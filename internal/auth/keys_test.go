package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestKeyPersistsAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "keys") // does not exist yet
	keyFile := filepath.Join(dir, "signing.pem")

	first := newFixtureAt(t, testURL, keyFile)
	tok, _, err := first.iss.Guest(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	for path, want := range map[string]os.FileMode{keyFile: 0o600, dir: 0o700} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s mode = %o, want %o", path, got, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("key dir holds %d entries, want only the key (no temp files)", len(entries))
	}

	second := newFixtureAt(t, testURL, keyFile) // a restart: loads, does not regenerate
	if _, err := second.iss.Verifier().Verify(context.Background(), tok.AccessToken); err != nil {
		t.Fatalf("token from before the restart: %v", err)
	}
}

func TestConcurrentFirstStartsAgreeOnKey(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	const n = 4
	kids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			key, err := loadOrCreateKey(keyFile)
			if err != nil {
				errs[k] = err
				return
			}
			kids[k], errs[k] = keyID(&key.PublicKey)
		})
	}
	wg.Wait()
	for k := range n {
		if errs[k] != nil {
			t.Fatal(errs[k])
		}
		if kids[k] != kids[0] {
			t.Fatalf("starts disagree on the key: %v", kids)
		}
	}
	onDisk, err := readKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := keyID(&onDisk.PublicKey); kid != kids[0] {
		t.Fatal("the key in use is not the key on disk")
	}
}

func TestUnusableKeyFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"not PEM", "hello"},
		{"wrong PEM type", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		{"malformed key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		{"truncated", string(testKeyPEM()[:200])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keyFile := filepath.Join(t.TempDir(), "signing.pem")
			if err := os.WriteFile(keyFile, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := NewIssuer(IssuerOptions{URL: testURL, KeyFile: keyFile}, newTestStore(t, newClock().Now))
			if err == nil || !strings.Contains(err.Error(), keyFile) {
				t.Fatalf("NewIssuer = %v, want an error naming %s", err, keyFile)
			}
			if data, _ := os.ReadFile(keyFile); string(data) != tt.content {
				t.Fatal("a corrupt key file was overwritten")
			}
		})
	}
}

func TestNewIssuerOptions(t *testing.T) {
	t.Parallel()
	keyFile := writeTestKey(t)
	for _, url := range []string{"", "127.0.0.1:8080", "ftp://x", "/relative"} {
		if _, err := NewIssuer(IssuerOptions{URL: url, KeyFile: keyFile}, nil); err == nil {
			t.Errorf("URL %q accepted", url)
		}
	}
	if _, err := NewIssuer(IssuerOptions{URL: testURL}, nil); err == nil {
		t.Error("missing KeyFile accepted")
	}
	iss, err := NewIssuer(IssuerOptions{URL: testURL + "/", KeyFile: keyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if iss.URL() != testURL {
		t.Errorf("URL() = %q, want %q", iss.URL(), testURL)
	}
}
