package server

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Listener wraps ln so that the answers net/http writes by itself, before
// any handler runs — 431 for oversized headers, 400 for a malformed request
// line or header, 501 for an unknown transfer encoding — carry the error
// envelope like every other error. Serve jan on it.
func Listener(ln net.Listener) net.Listener { return envelopeListener{ln} }

type envelopeListener struct{ net.Listener }

func (l envelopeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &envelopeConn{Conn: c}, nil
}

// netHTTPErrorHeaders is how net/http's own error responses end their
// header (server.go, conn.serve). A handler's response never has it: net/http
// always adds Date, between Connection and Content-Type.
var netHTTPErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

type envelopeConn struct{ net.Conn }

func (c *envelopeConn) Write(b []byte) (int, error) {
	if len(b) > 12 && bytes.HasPrefix(b, []byte("HTTP/1.1 ")) && (b[9] == '4' || b[9] == '5') {
		if i := bytes.Index(b, netHTTPErrorHeaders); i > 0 {
			if _, err := c.Conn.Write(envelopeFor(b[:i], b[i+len(netHTTPErrorHeaders):])); err != nil {
				return 0, err
			}
			return len(b), nil
		}
	}
	return c.Conn.Write(b)
}

// CloseWrite keeps net/http's half-close before it hangs up on a client
// that sent too much.
func (c *envelopeConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// envelopeFor turns net/http's "HTTP/1.1 431 Request Header Fields Too
// Large" and its text into the same status with an error envelope.
func envelopeFor(statusLine, text []byte) []byte {
	status, _ := strconv.Atoi(string(statusLine[9:12]))
	code := "bad_request"
	msg := strings.TrimSpace(string(text))
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		code, msg = "headers_too_large", "the request headers are larger than this server accepts"
	case http.StatusNotImplemented:
		code = "unsupported_transfer_encoding"
	}
	if _, detail, ok := strings.Cut(msg, ": "); ok {
		msg = detail // "400 Bad Request: missing required Host header"
	} else if status == http.StatusBadRequest {
		msg = "the request is malformed"
	}
	id := newRequestID()
	ae := &apiError{Status: status, Type: "invalid_request_error", Code: code, Message: msg}
	body, _ := json.Marshal(ae.body(id))
	var out bytes.Buffer
	out.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	out.WriteString("Content-Type: application/json\r\nConnection: close\r\nX-Request-Id: " + id + "\r\n")
	out.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	out.Write(body)
	return out.Bytes()
}
