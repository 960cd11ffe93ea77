package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// Config is the user's client configuration file, $XDG_CONFIG_HOME/jan/
// config.json (else ~/.config/jan/config.json), written with mode 0600.
// Credentials are kept per server, so a token for one server is never sent
// to another.
type Config struct {
	Server  string                  `json:"server,omitempty"` // the server last used
	Servers map[string]*Credentials `json:"servers,omitempty"`
}

// Getenv reads the environment (os.Getenv in production).
type Getenv func(string) string

// ConfigPath is where the config file lives: $XDG_CONFIG_HOME/jan/config.json,
// else ~/.config/jan/config.json.
func ConfigPath(getenv Getenv) (string, error) {
	return xdgFile(getenv, "XDG_CONFIG_HOME", ".config", "config.json")
}

// StatePath is where jan chat keeps what it remembers between runs (the
// last conversation, the prompts sent): $XDG_STATE_HOME/jan/chat.json,
// else ~/.local/state/jan/chat.json.
func StatePath(getenv Getenv) (string, error) {
	return xdgFile(getenv, "XDG_STATE_HOME", filepath.Join(".local", "state"), "chat.json")
}

// xdgFile is jan's file name in the XDG base directory xdgVar names, else
// in home/homeDir.
func xdgFile(getenv Getenv, xdgVar, homeDir, name string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if x := getenv(xdgVar); x != "" {
		return filepath.Join(x, "jan", name), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no directory for %s: set %s or HOME: %w", name, xdgVar, err)
		}
		home = h
	}
	return filepath.Join(home, homeDir, "jan", name), nil
}

// LoadConfig reads the config file; a missing file is an empty Config.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON (%v); delete it to start over", path, err)
	}
	return &c, nil
}

// Save writes the config atomically with mode 0600 (its directory 0700).
func (c *Config) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CredentialsFor returns the saved credentials for a server (zero if none).
func (c *Config) CredentialsFor(server string) Credentials {
	if cr := c.Servers[NormalizeURL(server)]; cr != nil {
		return *cr
	}
	return Credentials{}
}

// SetCredentials saves credentials for a server and makes it the last used.
func (c *Config) SetCredentials(server string, cr Credentials) {
	server = NormalizeURL(server)
	if c.Servers == nil {
		c.Servers = map[string]*Credentials{}
	}
	c.Servers[server] = &cr
	c.Server = server
}

// ResolveServer picks the server URL: the flag, else JAN_SERVER_URL, else
// the one last used, else DefaultServerURL.
func ResolveServer(flag string, getenv Getenv, c *Config) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, s := range []string{flag, getenv("JAN_SERVER_URL")} {
		if s != "" {
			return NormalizeURL(s)
		}
	}
	if c != nil && c.Server != "" {
		return NormalizeURL(c.Server)
	}
	return DefaultServerURL
}

// SessionOptions set up a client the way every jan command does.
type SessionOptions struct {
	Server        string // --server; "" to resolve
	Getenv        Getenv // default os.Getenv
	UserAgent     string
	Notice        func(string)
	GuestFallback bool
	HTTPClient    *http.Client
}

// Session is a client with its configuration: where the credentials came
// from and where new ones are saved.
type Session struct {
	*Client
	Server     string
	ConfigPath string
	Config     *Config
	// FromEnv is true when JAN_TOKEN supplied the token: new tokens are
	// then kept in memory only, never saved.
	FromEnv bool

	mu      sync.Mutex
	saveErr error
}

// OpenSession resolves the server and the token (JAN_TOKEN, else the saved
// one for that server) and returns a client that saves new tokens.
func OpenSession(o SessionOptions) (*Session, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	path, err := ConfigPath(o.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	s := &Session{ConfigPath: path, Config: cfg}
	s.Server = ResolveServer(o.Server, o.Getenv, cfg)
	creds := cfg.CredentialsFor(s.Server)
	source := ""
	if t := o.Getenv("JAN_TOKEN"); t != "" {
		creds = Credentials{AccessToken: t}
		s.FromEnv, source = true, "JAN_TOKEN" // refused, it is an error: never a silent new identity
	}
	s.Client = New(Options{
		BaseURL: s.Server, Credentials: creds, UserAgent: o.UserAgent, Notice: o.Notice,
		GuestFallback: o.GuestFallback, TokenSource: source, HTTPClient: o.HTTPClient,
		OnCredentials: func(cr Credentials) {
			if !s.FromEnv {
				err := s.Save(cr)
				s.mu.Lock()
				s.saveErr = err
				s.mu.Unlock()
			}
		},
	})
	return s, nil
}

// Save stores credentials for the session's server in the config file.
func (s *Session) Save(cr Credentials) error {
	s.Config.SetCredentials(s.Server, cr)
	return s.Config.Save(s.ConfigPath)
}

// SaveError is the error of the last automatic save of new credentials.
func (s *Session) SaveError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveErr
}

// RememberServer makes url the default server of the commands (jan chat,
// jan guest, jan models use it without --server), as jan up does for the
// server it starts. A failure only costs that default, so it is not one.
func RememberServer(getenv Getenv, url string) {
	path, err := ConfigPath(getenv)
	if err != nil {
		return
	}
	c, err := LoadConfig(path)
	if err != nil || c.Server == NormalizeURL(url) {
		return
	}
	c.Server = NormalizeURL(url)
	_ = c.Save(path)
}
