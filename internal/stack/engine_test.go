package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func contextMeta(dir, name, host string) (string, string) {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json"),
		`{"Name":"` + name + `","Metadata":{},"Endpoints":{"docker":{"Host":"` + host + `","SkipTLSVerify":false}}}`
}

func tlsDir(dir, name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(dir, "contexts", "tls", hex.EncodeToString(sum[:]), "docker")
}

func TestDiscoverEngine(t *testing.T) {
	t.Parallel()
	const home = "/home/ann"
	colimaPath, colimaMeta := contextMeta(home+"/.docker", "colima", "unix:///home/ann/.colima/default/docker.sock")
	cfgCtxPath, cfgCtxMeta := contextMeta("/etc/dcfg", "remote", "tcp://10.0.0.5:2376")
	for _, tc := range []struct {
		name    string
		env     map[string]string
		files   map[string]string // path → content ("" for a socket)
		goos    string
		want    Endpoint
		wantErr string
	}{
		{name: "DOCKER_HOST wins", env: map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CONTEXT": "colima"},
			files: map[string]string{"/var/run/docker.sock": ""}, want: Endpoint{Host: "tcp://h:2376", Source: "DOCKER_HOST", TLS: true}},
		{name: "DOCKER_CONTEXT", env: map[string]string{"DOCKER_CONTEXT": "colima"}, files: map[string]string{colimaPath: colimaMeta, "/var/run/docker.sock": ""},
			want: Endpoint{Host: "unix:///home/ann/.colima/default/docker.sock", Source: "docker context colima"}},
		{name: "current context in config.json", files: map[string]string{home + "/.docker/config.json": `{"currentContext":"colima"}`, colimaPath: colimaMeta},
			want: Endpoint{Host: "unix:///home/ann/.colima/default/docker.sock", Source: "docker context colima"}},
		{name: "DOCKER_CONFIG moves config.json", env: map[string]string{"DOCKER_CONFIG": "/etc/dcfg"}, files: map[string]string{"/etc/dcfg/config.json": `{"currentContext":"remote"}`, cfgCtxPath: cfgCtxMeta},
			want: Endpoint{Host: "tcp://10.0.0.5:2376", Source: "docker context remote"}},
		{name: "context with TLS material", env: map[string]string{"DOCKER_CONFIG": "/etc/dcfg", "DOCKER_CONTEXT": "remote"},
			files: map[string]string{cfgCtxPath: cfgCtxMeta, filepath.Join(tlsDir("/etc/dcfg", "remote"), "ca.pem"): "", filepath.Join(tlsDir("/etc/dcfg", "remote"), "cert.pem"): ""},
			want:  Endpoint{Host: "tcp://10.0.0.5:2376", Source: "docker context remote", TLSDir: tlsDir("/etc/dcfg", "remote")}},
		{name: "default context means the default socket", files: map[string]string{home + "/.docker/config.json": `{"currentContext":"default"}`, "/var/run/docker.sock": ""},
			want: Endpoint{Host: "unix:///var/run/docker.sock", Source: "default socket"}},
		{name: "rootless via XDG_RUNTIME_DIR", env: map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, files: map[string]string{"/run/user/1000/docker.sock": ""},
			want: Endpoint{Host: "unix:///run/user/1000/docker.sock", Source: "rootless Docker"}},
		{name: "rootless via uid", files: map[string]string{"/run/user/1000/docker.sock": ""},
			want: Endpoint{Host: "unix:///run/user/1000/docker.sock", Source: "rootless Docker"}},
		{name: "Docker Desktop", goos: "darwin", files: map[string]string{home + "/.docker/run/docker.sock": ""},
			want: Endpoint{Host: "unix:///home/ann/.docker/run/docker.sock", Source: "Docker Desktop"}},
		{name: "Colima without a context", goos: "darwin", files: map[string]string{home + "/.colima/default/docker.sock": ""},
			want: Endpoint{Host: "unix:///home/ann/.colima/default/docker.sock", Source: "Colima"}},
		{name: "rootless Podman", env: map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, files: map[string]string{"/run/user/1000/podman/podman.sock": ""},
			want: Endpoint{Host: "unix:///run/user/1000/podman/podman.sock", Source: "Podman"}},
		{name: "Docker before Podman", files: map[string]string{"/run/podman/podman.sock": "", "/var/run/docker.sock": ""},
			want: Endpoint{Host: "unix:///var/run/docker.sock", Source: "default socket"}},
		{name: "windows pipe", goos: "windows", want: Endpoint{Host: "npipe:////./pipe/docker_engine", Source: "default"}},
		{name: "nothing", wantErr: "no Docker engine found (tried /var/run/docker.sock, /run/user/1000/docker.sock"},
		{name: "context without metadata", env: map[string]string{"DOCKER_CONTEXT": "gone"}, wantErr: `docker context "gone"`},
		{name: "broken config.json", files: map[string]string{home + "/.docker/config.json": `{`}, wantErr: "config.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			goos := tc.goos
			if goos == "" {
				goos = "linux"
			}
			h := EngineHost{
				Getenv: func(k string) string { return tc.env[k] },
				Exists: func(p string) bool { _, ok := tc.files[p]; return ok },
				ReadFile: func(p string) ([]byte, error) {
					if c, ok := tc.files[p]; ok {
						return []byte(c), nil
					}
					return nil, fs.ErrNotExist
				},
				Home: home, UID: 1000, GOOS: goos,
			}
			got, err := DiscoverEngine(h)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if tc.name == "nothing" && (!errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "--embedded")) {
					t.Errorf("err = %v: want ErrNoEngine and the --embedded hint", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestNewEngineClientOffline(t *testing.T) {
	t.Parallel()
	// Constructing a client never contacts the engine.
	c, err := NewEngineClient(Endpoint{Host: "unix:///nonexistent/docker.sock", Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := NewEngineClient(Endpoint{Host: "no-scheme", Source: "test"}); err == nil || !strings.Contains(err.Error(), "no-scheme (test)") {
		t.Errorf("err = %v", err)
	}
}
