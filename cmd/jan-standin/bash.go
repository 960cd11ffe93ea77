package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

// errNotHealthcheck is the answer to any shell script but the healthcheck.
var errNotHealthcheck = errors.New("stand-in bash only runs healthchecks")

// tcpProbe is the one script the stand-in bash runs, Keycloak's healthcheck
// for an image without curl:
//
//	exec 3<>/dev/tcp/HOST/PORT && printf 'REQUEST' >&3 && grep -q 'PATTERN' <&3
//
// It does what bash would: open the connection, write printf's output,
// and succeed when a line of the reply matches grep's pattern.
type tcpProbe struct {
	addr    string // HOST:PORT
	send    []byte // printf's output
	pattern *regexp.Regexp
}

func parseBashArgs(args []string) (tcpProbe, error) {
	if len(args) != 2 || args[0] != "-c" {
		return tcpProbe{}, fmt.Errorf("%w (bash -c \"exec 3<>/dev/tcp/HOST/PORT && printf … >&3 && grep -q … <&3\")", errNotHealthcheck)
	}
	return parseProbeScript(args[1])
}

var (
	execTCP = regexp.MustCompile(`^([0-9]+)<>/dev/tcp/([^/\s]+)/([0-9]+)$`)
	toFD    = regexp.MustCompile(`^1?>&([0-9]+)$`)
	fromFD  = regexp.MustCompile(`^0?<&([0-9]+)$`)
)

func errUnknown(what string) error { return fmt.Errorf("%w: %s", errNotHealthcheck, what) }

func parseProbeScript(script string) (tcpProbe, error) {
	words, err := shellWords(script)
	if err != nil {
		return tcpProbe{}, err
	}
	var cmds [][]string
	cur := []string{}
	for _, w := range words {
		if w == "&&" {
			cmds, cur = append(cmds, cur), []string{}
			continue
		}
		cur = append(cur, w)
	}
	cmds = append(cmds, cur)
	if len(cmds) != 3 {
		return tcpProbe{}, errUnknown(fmt.Sprintf("want exec && printf && grep, got %d commands", len(cmds)))
	}
	var p tcpProbe

	// exec FD<>/dev/tcp/HOST/PORT
	c := cmds[0]
	if len(c) != 2 || c[0] != "exec" {
		return tcpProbe{}, errUnknown(fmt.Sprintf("first command %q is not exec FD<>/dev/tcp/HOST/PORT", strings.Join(c, " ")))
	}
	m := execTCP.FindStringSubmatch(c[1])
	if m == nil {
		return tcpProbe{}, errUnknown(fmt.Sprintf("%q is not FD<>/dev/tcp/HOST/PORT", c[1]))
	}
	fd := m[1]
	p.addr = net.JoinHostPort(m[2], m[3])

	// printf FORMAT >&FD
	c = cmds[1]
	if len(c) != 3 || c[0] != "printf" || toFD.FindStringSubmatch(c[2]) == nil || toFD.FindStringSubmatch(c[2])[1] != fd {
		return tcpProbe{}, errUnknown(fmt.Sprintf("second command %q is not printf FORMAT >&%s", strings.Join(c, " "), fd))
	}
	if p.send, err = printfFormat(c[1]); err != nil {
		return tcpProbe{}, err
	}

	// grep -q PATTERN <&FD
	c = cmds[2]
	if len(c) != 4 || c[0] != "grep" || c[1] != "-q" || fromFD.FindStringSubmatch(c[3]) == nil || fromFD.FindStringSubmatch(c[3])[1] != fd {
		return tcpProbe{}, errUnknown(fmt.Sprintf("third command %q is not grep -q PATTERN <&%s", strings.Join(c, " "), fd))
	}
	if p.pattern, err = basicRegexp(c[2]); err != nil {
		return tcpProbe{}, err
	}
	return p, nil
}

// shellWords splits a script into words and "&&", with bash's quoting:
// '…' literal, "…" with \" \\ \$ \` escapes, \x outside quotes. Anything
// that would need a real shell (pipes, ;, expansions, subshells) is refused.
func shellWords(s string) ([]string, error) {
	var words []string
	var b strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, b.String())
			b.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			flush()
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("bash: unexpected EOF while looking for matching `''")
			}
			b.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case ch == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
					i++
					b.WriteByte(s[i])
				case s[i] == '$' || s[i] == '`':
					return nil, errUnknown("expansions are not supported")
				default:
					b.WriteByte(s[i])
				}
			}
			if i >= len(s) {
				return nil, fmt.Errorf("bash: unexpected EOF while looking for matching `\"'")
			}
		case ch == '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
				inWord = true
			}
		case ch == '&' && i+1 < len(s) && s[i+1] == '&':
			flush()
			words = append(words, "&&")
			i++
		case strings.IndexByte("|;$`()", ch) >= 0:
			return nil, errUnknown(fmt.Sprintf("%q is not supported", string(ch)))
		default:
			b.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return words, nil
}

// printfFormat is printf's output for a format without arguments: the
// backslash escapes and %%, refusing conversions (they would need arguments).
func printfFormat(f string) ([]byte, error) {
	esc := map[byte]byte{'n': '\n', 'r': '\r', 't': '\t', '\\': '\\', 'a': '\a', 'b': '\b', 'f': '\f', 'v': '\v', '"': '"', '\'': '\''}
	var out []byte
	for i := 0; i < len(f); i++ {
		switch c := f[i]; {
		case c == '\\' && i+1 < len(f):
			if e, ok := esc[f[i+1]]; ok {
				out = append(out, e)
				i++
				continue
			}
			out = append(out, c)
		case c == '%':
			if i+1 < len(f) && f[i+1] == '%' {
				out = append(out, '%')
				i++
				continue
			}
			return nil, errUnknown("printf conversions other than %% are not supported")
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

// basicRegexp compiles a grep (POSIX basic) pattern: there, + ? ( ) { } |
// are literal.
func basicRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if strings.IndexByte("+?(){}|", p[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("grep: pattern %q: %v", p, err)
	}
	return re, nil
}

func runBash(ctx context.Context, p proc) int {
	probe, err := parseBashArgs(p.args)
	if err != nil {
		fmt.Fprintf(p.stderr, "bash: %v\n", err)
		return 2
	}
	if err := probe.run(ctx, 10*time.Second); err != nil {
		fmt.Fprintf(p.stderr, "bash: %v\n", err)
		return 1
	}
	return 0
}

func (p tcpProbe) run(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return fmt.Errorf("connect: %v", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write(p.send); err != nil {
		return fmt.Errorf("printf: write error: %v", err)
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		if p.pattern.Match(sc.Bytes()) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("grep: %v", err)
	}
	return fmt.Errorf("grep: no line of the reply from %s matches %q", p.addr, p.pattern.String())
}
