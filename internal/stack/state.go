package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The data dir files jan up leaves for status, logs, down and the next up.
const (
	StateFile     = "stack-state.json"
	ServerLogFile = "server.log"
)

// State is what jan up leaves in the data dir: the profile and why, the
// URLs, and the llm-api server it started, if any.
type State struct {
	Profile    string      `json:"profile"`
	Reason     string      `json:"reason"`
	Model      string      `json:"model,omitempty"`
	ServerAddr string      `json:"server_addr"`
	ServerPID  int         `json:"server_pid,omitempty"` // the server's process (jan up -d's child, or jan up itself)
	Foreground bool        `json:"foreground,omitempty"` // ServerPID is a jan up in a terminal
	StartedAt  time.Time   `json:"started_at"`
	URLs       [][2]string `json:"urls,omitempty"`
	// ServerConfig digests the server's stack settings (SettingsDigest).
	ServerConfig string `json:"server_config,omitempty"`
}

// LoadState reads the state file of dataDir; ok is false when there is none.
func LoadState(dataDir string) (s State, ok bool, err error) {
	path := filepath.Join(dataDir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, false, fmt.Errorf("%s: %w", path, err)
	}
	return s, true, nil
}

// SaveState writes the state file (0600) atomically.
func SaveState(dataDir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dataDir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dataDir, StateFile))
}

// RemoveState forgets the stack (after jan down).
func RemoveState(dataDir string) error {
	err := os.Remove(filepath.Join(dataDir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// SettingsDigest identifies the server's settings (its environment and
// extra listen addresses), so a re-run can tell whether the running server
// must restart. Secrets enter only as a digest.
func SettingsDigest(env map[string]string, extra []string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, env[k])
	}
	fmt.Fprintf(h, "extra=%s\n", strings.Join(extra, ","))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ServerAction is what jan up does with the llm-api server.
type ServerAction int

const (
	// StartServer: none runs; start one (in this process, or -d in the background).
	StartServer ServerAction = iota
	// KeepServer: one runs with these settings; leave it.
	KeepServer
	// RestartServer: a background one runs with other settings; stop it and start one in the background.
	RestartServer
	// StaleServer: one runs in a terminal with other settings; the user restarts it there.
	StaleServer
)

// NextServer decides what jan up does with the server prev recorded: alive
// says whether its process runs, digest is SettingsDigest of the settings
// this run would give it.
func NextServer(prev State, alive bool, digest string) ServerAction {
	switch {
	case !alive:
		return StartServer
	case prev.ServerConfig == digest:
		return KeepServer
	case prev.Foreground:
		return StaleServer
	default:
		return RestartServer
	}
}
