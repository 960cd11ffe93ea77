package servertest

import (
	"errors"
	"net/http"
)

// CutAfter wraps a response so that `writes` writes pass through and the
// next one closes the connection: a server or network dying mid-answer.
func CutAfter(w http.ResponseWriter, writes int) http.ResponseWriter {
	return &cutter{ResponseWriter: w, left: writes}
}

type cutter struct {
	http.ResponseWriter
	left int
	dead bool
}

func (c *cutter) Write(b []byte) (int, error) {
	if c.dead {
		return 0, errors.New("cut")
	}
	if c.left--; c.left < 0 {
		c.dead = true
		if conn, _, err := http.NewResponseController(c.ResponseWriter).Hijack(); err == nil {
			conn.Close()
		}
		return 0, errors.New("cut")
	}
	return c.ResponseWriter.Write(b)
}

func (c *cutter) Flush() {
	if !c.dead {
		c.ResponseWriter.(http.Flusher).Flush()
	}
}

func (c *cutter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
