package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

// Flags win over the environment, which wins over .env, which wins over defaults.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("# comment\nJAN_ADDR=127.0.0.1:7000\nexport JAN_DB=\"sqlite:/from/dotenv.db\"\nLOG_LEVEL=debug # inline\n"), 0o600)

	env := map[string]string{"JAN_DB": "postgres://env/jan", "XDG_DATA_HOME": "/xdg"}
	getenv := func(k string) string { return env[k] }

	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	RegisterServeFlags(fs)
	if err := fs.Parse([]string{"--engine", "http://a:1,http://b:2"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7000" || c.DB != "postgres://env/jan" || c.LogLevel != "debug" {
		t.Errorf("addr %q (want .env), db %q (want env), level %q (want .env)", c.Addr, c.DB, c.LogLevel)
	}
	if c.DataDir != "/xdg/jan" || c.PublicURL != "http://127.0.0.1:7000" || len(c.Engines) != 2 {
		t.Errorf("data dir %q, public URL %q, engines %v", c.DataDir, c.PublicURL, c.Engines)
	}

	fs = pflag.NewFlagSet("t", pflag.ContinueOnError)
	RegisterServeFlags(fs)
	fs.Parse([]string{"--addr", "0.0.0.0:9000", "--db", "/tmp/x.db"})
	if c, err = Load(fs, getenv); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "0.0.0.0:9000" || c.DB != "/tmp/x.db" || c.PublicURL != "http://127.0.0.1:9000" {
		t.Errorf("flags lost: addr %q db %q public %q", c.Addr, c.DB, c.PublicURL)
	}
}

func TestBadValues(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, env := range []map[string]string{
		{"LOG_LEVEL": "loud"}, {"LOG_FORMAT": "xml"}, {"AUTO_MIGRATE": "maybe"}, {"JAN_ADDR": "nohostport"},
		{"JAN_MAX_BODY_BYTES": "-1"}, {"JAN_UPSTREAM_TIMEOUT": "soon"},
	} {
		if _, err := Load(nil, func(k string) string { return env[k] }); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
	c, err := Load(nil, func(string) string { return "" })
	if err != nil || c.Addr != "127.0.0.1:8080" || !c.AutoMigrate || c.BodyLimit != 4<<20 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}
