package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Cluster is a throwaway PostgreSQL cluster for a program that is not a
// test (jan-bench): private (a Unix socket in a temporary directory), with
// trust authentication, removed by Stop.
type Cluster struct{ c *cluster }

// StartCluster initialises and starts a cluster. settings are server
// settings as postgres -c takes them ("fsync=on"); they win over the
// defaults (fsync as JAN_TEST_PG_FSYNC says, off by default).
func StartCluster(settings ...string) (*Cluster, error) {
	for _, s := range settings {
		if strings.ContainsAny(s, " '\"") || !strings.Contains(s, "=") {
			return nil, fmt.Errorf("pgtest: setting %q: want name=value without spaces or quotes", s)
		}
	}
	c, err := startCluster(settings...)
	if err != nil {
		return nil, err
	}
	return &Cluster{c}, nil
}

// URL is the postgres:// URL of database db on the cluster.
func (c *Cluster) URL(db string) string { return c.c.url(db) }

// PID is the postmaster's process id; the server's other processes are
// its children.
func (c *Cluster) PID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.c.data(), "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// Stop stops the cluster at once and removes its files.
func (c *Cluster) Stop() { c.c.stop() }
