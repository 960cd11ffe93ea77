package stack

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadSecrets(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, dir string)
	}{
		{"first run generates strong secrets into a 0600 file", func(t *testing.T, dir string) {
			s, err := LoadSecrets(dir, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, n := range SecretNames {
				v := s.Get(n)
				if len(v) < 43 || seen[v] || s.Source(n) != FromGenerated {
					t.Errorf("%s: %d chars, source %s, duplicate %v", n, len(v), s.Source(n), seen[v])
				}
				seen[v] = true
			}
			st, err := os.Stat(filepath.Join(dir, SecretsFile))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("secrets file: %v, mode %v", err, st.Mode())
			}
		}},
		{"later runs reuse them", func(t *testing.T, dir string) {
			a, _ := LoadSecrets(dir, noEnv)
			b, err := LoadSecrets(dir, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range SecretNames {
				if a.Get(n) != b.Get(n) || b.Source(n) != FromFile {
					t.Errorf("%s not reused (source %s)", n, b.Source(n))
				}
			}
		}},
		{"seed env names override without being saved", func(t *testing.T, dir string) {
			env := map[string]string{"POSTGRES_PASSWORD": "from-dotenv", "JAN_GATEWAY_SECRET": "gw"}
			s, err := LoadSecrets(dir, func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if s.Get(SecretPostgresPassword) != "from-dotenv" || s.Source(SecretPostgresPassword) != FromEnv || s.Get(SecretGatewaySecret) != "gw" {
				t.Errorf("override not applied: %v", s)
			}
			if s.Env()["POSTGRES_PASSWORD"] != "from-dotenv" {
				t.Errorf("Env() lacks the override")
			}
			data, _ := os.ReadFile(filepath.Join(dir, SecretsFile))
			if strings.Contains(string(data), "from-dotenv") {
				t.Errorf("override written to the secrets file")
			}
			again, _ := LoadSecrets(dir, noEnv)
			if again.Get(SecretPostgresPassword) == "from-dotenv" || again.Source(SecretPostgresPassword) != FromFile {
				t.Errorf("without the override the generated value should come back")
			}
		}},
		{"a secret added later is generated, the rest kept", func(t *testing.T, dir string) {
			path := filepath.Join(dir, SecretsFile)
			if err := os.WriteFile(path, []byte("# old\nPOSTGRES_PASSWORD=kept\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := LoadSecrets(dir, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if s.Get(SecretPostgresPassword) != "kept" || s.Source(SecretVLLMInternalKey) != FromGenerated {
				t.Errorf("got %v", s)
			}
			again, _ := LoadSecrets(dir, noEnv)
			if again.Get(SecretVLLMInternalKey) != s.Get(SecretVLLMInternalKey) {
				t.Errorf("generated secret not saved")
			}
		}},
		{"a file others can read is refused", func(t *testing.T, dir string) {
			path := filepath.Join(dir, SecretsFile)
			if err := os.WriteFile(path, []byte("POSTGRES_PASSWORD=x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSecrets(dir, noEnv)
			if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "=x") {
				t.Fatalf("err = %v", err)
			}
		}},
		{"a malformed file names the line", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, SecretsFile), []byte("POSTGRES_PASSWORD=x\ngarbage\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadSecrets(dir, noEnv); err == nil || !strings.Contains(err.Error(), "line 2") {
				t.Fatalf("err = %v", err)
			}
		}},
		{"String never shows values", func(t *testing.T, dir string) {
			s, _ := LoadSecrets(dir, noEnv)
			for _, n := range SecretNames {
				if strings.Contains(s.String(), s.Get(n)) {
					t.Errorf("String() shows %s", n)
				}
			}
		}},
		{"concurrent first runs agree", func(t *testing.T, dir string) {
			var wg sync.WaitGroup
			got := make([]*Secrets, 8)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := LoadSecrets(dir, noEnv)
					if err != nil {
						t.Error(err)
						return
					}
					got[i] = s
				}()
			}
			wg.Wait()
			final, _ := LoadSecrets(dir, noEnv)
			for _, s := range got {
				if s != nil && s.Get(SecretPostgresPassword) != final.Get(SecretPostgresPassword) {
					t.Errorf("a concurrent run used a secret that was not kept")
				}
			}
		}},
		{"data dir is created", func(t *testing.T, dir string) {
			if _, err := LoadSecrets(filepath.Join(dir, "a", "b"), nil); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, t.TempDir())
		})
	}
}
