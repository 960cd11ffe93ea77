package store_test

import (
	"os"
	"testing"

	"github.com/janhq/jan/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild() // re-executed by TestSQLiteSurvivesKill; never returns
	}
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}
