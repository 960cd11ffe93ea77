package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// cluster is a private PostgreSQL cluster in a temporary directory:
//
//	dir/data        the cluster (initdb)
//	dir/postgres.log
//	dir/owner.pid   the test process that started it, for stale cleanup
//
// It listens only on a Unix socket in dir, so nothing else on the machine can
// reach it; trust authentication is therefore safe.
type cluster struct {
	bin  string // PostgreSQL bin directory
	dir  string
	port int
	run  func(name string, args ...string) *exec.Cmd // runs as the cluster's owner
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

// url is the cluster's URL for database db (over the Unix socket).
func (c *cluster) url(db string) string {
	q := url.Values{"host": {c.dir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/" + db, RawQuery: q.Encode()}).String()
}

func startCluster(settings ...string) (*cluster, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	run, uid, gid, err := runner()
	if err != nil {
		return nil, err
	}
	parent, err := traversableTempDir()
	if err != nil {
		return nil, err
	}
	removeStale(parent, run)
	dir, err := os.MkdirTemp(parent, "jan-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir, run: run}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		c.remove()
		return nil, err
	}
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			c.remove()
			return nil, err
		}
	}
	if out, err := c.pg("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLines(out, 10))
	}
	// Only a Unix socket is opened, but a free TCP port still names it, and
	// keeps clear of any server the developer runs.
	if c.port, err = freePort(); err != nil {
		c.remove()
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses='' -c fsync=%s -c max_connections=200",
		c.port, c.dir, fsyncSetting())
	for _, s := range settings { // later settings win
		opts += " -c " + s
	}
	out, err := c.pg("pg_ctl", "-D", c.data(), "-l", filepath.Join(dir, "postgres.log"),
		"-w", "-t", "60", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		c.remove()
		return nil, fmt.Errorf("pg_ctl start: %v: %s\n%s", err, lastLines(out, 5), lastLines(log, 10))
	}
	return c, nil
}

// pg runs a PostgreSQL program from the bin directory as the cluster owner.
func (c *cluster) pg(prog string, args ...string) *exec.Cmd {
	return c.run(filepath.Join(c.bin, prog), args...)
}

func (c *cluster) stop() {
	_ = c.pg("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop").Run()
	c.remove()
}

func (c *cluster) remove() { _ = os.RemoveAll(c.dir) }

// findBinDir finds the directory holding initdb and pg_ctl: pg_config's
// --bindir, else the newest /usr/lib/postgresql/*/bin, else $PATH.
func findBinDir() (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	globbed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(globbed, func(a, b string) int { return version(b) - version(a) })
	candidates = append(candidates, globbed...)
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl) found via pg_config, /usr/lib/postgresql/*/bin or $PATH; install postgresql or set JAN_TEST_POSTGRES_URL")
}

// version is the major version in /usr/lib/postgresql/<version>/bin.
func version(bindir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// runner returns how to run the server programs. initdb refuses to run as
// root, so as root they run as the "postgres" user (through runuser) and the
// cluster directory is handed to it: uid and gid are its ids, else -1.
func runner() (run func(string, ...string) *exec.Cmd, uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return exec.Command, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root, and there is no postgres user to run the server as: %w", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if p, err := exec.LookPath("runuser"); err == nil {
		return func(name string, args ...string) *exec.Cmd {
			return exec.Command(p, append([]string{"-u", "postgres", "--", name}, args...)...)
		}, uid, gid, nil
	}
	// No runuser: su with a shell-quoted command line.
	return func(name string, args ...string) *exec.Cmd {
		quoted := make([]string, 0, len(args)+1)
		for _, a := range append([]string{name}, args...) {
			quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
		}
		return exec.Command("su", "postgres", "-s", "/bin/sh", "-c", strings.Join(quoted, " "))
	}, uid, gid, nil
}

// traversableTempDir is a temporary directory whose every ancestor others
// may enter, so the postgres user can reach a cluster directory made in it.
// Unix socket paths are limited to about 100 bytes, so short ones win.
func traversableTempDir() (string, error) {
	for _, dir := range []string{os.TempDir(), "/tmp", "/var/tmp"} {
		if len(dir) > 60 || os.Geteuid() == 0 && !othersCanTraverse(dir) {
			continue
		}
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir, nil
		}
	}
	return "", errors.New("no temporary directory (TMPDIR, /tmp, /var/tmp) that the postgres user can reach with a short enough path for a Unix socket")
}

func othersCanTraverse(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

// removeStale stops and removes clusters left behind by test processes that
// died before calling Stop.
func removeStale(parent string, run func(string, ...string) *exec.Cmd) {
	dirs, _ := filepath.Glob(filepath.Join(parent, "jan-pgtest-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // owner alive (or unknown): not ours to touch
		}
		bin, err := findBinDir()
		if err == nil {
			_ = run(filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop").Run()
		}
		_ = os.RemoveAll(dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
