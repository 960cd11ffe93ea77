package stacktest

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// drawn are the ports HostPort handed out: never twice in one test
// process, so a stack's server and its published ports cannot collide
// (jan up once found the server's port taken by the stack's own
// container in CI).
var (
	drawnMu sync.Mutex
	drawn   = map[string]bool{}
)

// HostPort is a free host port for Docker to publish (or jan to listen on)
// a moment later, below the kernel's ephemeral range (32768 on): there the
// kernel hands ports out to connections and Docker to containers, so a port
// picked with :0 can be taken before it is bound ("port … is taken by
// process jan.test", seen in CI); below it only another pick can collide,
// and this process never picks one twice.
func HostPort(t testing.TB) string {
	t.Helper()
	drawnMu.Lock()
	defer drawnMu.Unlock()
	for range 200 {
		p := strconv.Itoa(20000 + rand.IntN(12000))
		if drawn[p] {
			continue
		}
		ln, err := net.Listen("tcp", "0.0.0.0:"+p)
		if err != nil {
			continue
		}
		ln.Close()
		drawn[p] = true
		return p
	}
	t.Fatal("stacktest: no free port in 20000-31999")
	return ""
}
