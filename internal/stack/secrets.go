package stack

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SecretsFile is the file in the data dir that holds the stack's
// generated secrets (KEY=VALUE lines, mode 0600).
const SecretsFile = "stack-secrets.env"

// The stack's secrets by their variable names: the seed's .env names where
// the seed had one, so an existing .env keeps working.
const (
	SecretPostgresPassword      = "POSTGRES_PASSWORD"       // api-db
	SecretKeycloakDBPassword    = "KEYCLOAK_DB_PASSWORD"    // keycloak-db
	SecretKeycloakAdminPassword = "KEYCLOAK_ADMIN_PASSWORD" // Keycloak's bootstrap admin
	SecretBackendClientSecret   = "BACKEND_CLIENT_SECRET"   // realm jan's backend client
	SecretVLLMInternalKey       = "VLLM_INTERNAL_KEY"       // vLLM's API key, sent by llm-api
	SecretGatewaySecret         = "JAN_GATEWAY_SECRET"      // Kong → llm-api (X-Jan-Gateway-Secret)
)

// SecretNames lists every secret the stack needs, in file order.
var SecretNames = []string{
	SecretPostgresPassword, SecretKeycloakDBPassword, SecretKeycloakAdminPassword,
	SecretBackendClientSecret, SecretVLLMInternalKey, SecretGatewaySecret,
}

// SecretSource says where a secret's value came from.
type SecretSource string

const (
	FromEnv       SecretSource = "environment" // the user's env or .env override
	FromFile      SecretSource = "file"        // generated on an earlier run
	FromGenerated SecretSource = "generated"   // generated on this run
)

// Secrets are the stack's secret values with their sources. Its String
// never shows a value, so a stray %v cannot leak one.
type Secrets struct {
	values  map[string]string
	sources map[string]SecretSource
	Path    string // the secrets file
}

// Get returns the value of a secret.
func (s *Secrets) Get(name string) string { return s.values[name] }

// Source says where a secret came from (for jan doctor).
func (s *Secrets) Source(name string) SecretSource { return s.sources[name] }

// Env returns every secret as the variables compose.yaml interpolates.
func (s *Secrets) Env() map[string]string {
	out := make(map[string]string, len(s.values))
	for k, v := range s.values {
		out[k] = v
	}
	return out
}

func (s *Secrets) String() string {
	parts := make([]string, 0, len(SecretNames))
	for _, n := range SecretNames {
		parts = append(parts, n+"=<"+string(s.sources[n])+">")
	}
	return strings.Join(parts, " ")
}

// LoadSecrets returns the stack's secrets: a non-empty getenv(NAME) (the
// caller's environment and .env) wins; otherwise the value kept in
// dataDir/stack-secrets.env; otherwise a fresh random one, which is then
// saved there (mode 0600) so later runs reuse it. Overrides are never
// written to the file. A file others can read is refused, not used.
func LoadSecrets(dataDir string, getenv func(string) string) (*Secrets, error) {
	return loadSecrets(dataDir, getenv, true)
}

// PeekSecrets is LoadSecrets that writes nothing: a secret the file lacks
// is generated in memory only (its source FromGenerated), for a plan that is
// shown, not run (jan up --dry-run).
func PeekSecrets(dataDir string, getenv func(string) string) (*Secrets, error) {
	return loadSecrets(dataDir, getenv, false)
}

func loadSecrets(dataDir string, getenv func(string) string, save bool) (*Secrets, error) {
	if dataDir == "" {
		return nil, errors.New("stack: no data dir for the secrets file")
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	path := filepath.Join(dataDir, SecretsFile)
	for attempt := 0; ; attempt++ {
		kept, exists, err := readSecretsFile(path)
		if err != nil {
			return nil, err
		}
		s := &Secrets{values: map[string]string{}, sources: map[string]SecretSource{}, Path: path}
		missing := false
		for _, n := range SecretNames {
			switch {
			case getenv(n) != "":
				s.values[n], s.sources[n] = getenv(n), FromEnv
			case kept[n] != "":
				s.values[n], s.sources[n] = kept[n], FromFile
			default:
				missing = true
			}
		}
		if !missing {
			return s, nil
		}
		// Generate every secret the file lacks (even those overridden now,
		// so dropping an override later falls back to a stable value).
		for _, n := range SecretNames {
			if kept[n] == "" {
				v, err := randomSecret()
				if err != nil {
					return nil, err
				}
				kept[n] = v
			}
			if s.sources[n] == "" {
				s.values[n], s.sources[n] = kept[n], FromGenerated
			}
		}
		if !save {
			return s, nil
		}
		err = writeSecretsFile(path, kept, exists)
		if errors.Is(err, fs.ErrExist) && attempt == 0 {
			continue // another jan up created it first: use its secrets
		}
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// randomSecret is 256 bits, URL-safe (it goes into postgres:// URLs, YAML
// and headers unquoted).
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("stack: generating a secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func readSecretsFile(path string) (map[string]string, bool, error) {
	kept := map[string]string{}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return kept, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("stack: secrets file: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, false, fmt.Errorf("stack: secrets file %s is readable by others (mode %04o): run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("stack: secrets file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, false, fmt.Errorf("stack: secrets file %s line %d: want NAME=value", path, line)
		}
		kept[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return kept, true, nil
}

// writeSecretsFile writes kept atomically with mode 0600. When the file did
// not exist it is linked into place, so of two concurrent first runs one
// wins and the other gets fs.ErrExist and rereads.
func writeSecretsFile(path string, kept map[string]string, replace bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("stack: data dir: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("# jan's stack secrets, generated by jan up. Keep private (mode 0600).\n")
	b.WriteString("# A variable of the same name in the environment or .env overrides a line.\n")
	names := make([]string, 0, len(kept))
	for k := range kept {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s=%s\n", k, kept[k])
	}
	tmp, err := os.CreateTemp(dir, SecretsFile+".*")
	if err != nil {
		return fmt.Errorf("stack: secrets file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("stack: secrets file: %w", err)
	}
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("stack: secrets file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("stack: secrets file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("stack: secrets file: %w", err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("stack: secrets file: %w", err)
	}
	return nil
}
