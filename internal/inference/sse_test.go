package inference_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/janhq/jan/internal/inference"
)

// readAll returns every event's data and the error that ended the stream.
func readAll(r io.Reader) ([]string, error) {
	er := inference.NewEventReader(r)
	var out []string
	for {
		data, err := er.Next()
		if err != nil {
			return out, err
		}
		out = append(out, string(data))
	}
}

func TestEventReader(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 3<<20) // several times bufio's buffer
	tests := []struct {
		name, in string
		want     []string
		err      error
	}{
		{"openai stream", "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n", []string{`{"a":1}`, `{"a":2}`, "[DONE]"}, io.EOF},
		{"crlf", "data: one\r\n\r\ndata: two\r\n\r\n", []string{"one", "two"}, io.EOF},
		{"multi-line data", "data: a\ndata: b\ndata:c\n\n", []string{"a\nb\nc"}, io.EOF},
		{"no space after colon", "data:x\n\n", []string{"x"}, io.EOF},
		{"only one space stripped", "data:  x\n\n", []string{" x"}, io.EOF},
		{"empty data", "data:\n\ndata\n\n", []string{"", ""}, io.EOF},
		{"comments and keepalives", ": keepalive\n\n: ping\ndata: x\n: mid\n\n", []string{"x"}, io.EOF},
		{"other fields", "event: message\nid: 7\nretry: 100\ndata: x\nfoo: bar\n\n", []string{"x"}, io.EOF},
		{"event without data is skipped", "event: ping\n\ndata: x\n\n", []string{"x"}, io.EOF},
		{"extra blank lines", "\n\n\ndata: x\n\n\n\n", []string{"x"}, io.EOF},
		{"byte order mark", "\xEF\xBB\xBFdata: x\n\n", []string{"x"}, io.EOF},
		{"huge line", "data: " + huge + "\n\ndata: y\n\n", []string{huge, "y"}, io.EOF},
		{"empty stream", "", nil, io.EOF},
		{"trailing comment without newline", "data: x\n\n: bye", []string{"x"}, io.EOF},
		{"cut mid-line", "data: x\n\ndata: {\"a\"", []string{"x"}, io.ErrUnexpectedEOF},
		{"cut before blank line", "data: x\n\ndata: y\n", []string{"x"}, io.ErrUnexpectedEOF},
		{"cut after data line with crlf", "data: y\r\n", nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				if len(tt.in) > 1<<20 {
					r = iotest.HalfReader(strings.NewReader(tt.in))
				}
				got, err := readAll(r)
				if !errors.Is(err, tt.err) {
					t.Errorf("err = %v, want %v", err, tt.err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d events, want %d", len(got), len(tt.want))
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("event %d = %.40q, want %.40q", i, got[i], tt.want[i])
					}
				}
			}
		})
	}
}

func TestEventReaderLineTooLong(t *testing.T) {
	t.Parallel()
	in := io.MultiReader(strings.NewReader("data: "), io.LimitReader(infiniteX{}, inference.MaxEventLine+1))
	_, err := inference.NewEventReader(in).Next()
	if !errors.Is(err, inference.ErrLineTooLong) {
		t.Errorf("err = %v, want ErrLineTooLong", err)
	}
}

type infiniteX struct{}

func (infiniteX) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestEventReaderReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: x\n\ndata: y"), iotest.ErrReader(boom))
	got, err := readAll(r)
	if !errors.Is(err, boom) || len(got) != 1 {
		t.Errorf("got %q, %v; want one event then the read error", got, err)
	}
}

func TestEventReaderOwnsNothing(t *testing.T) {
	t.Parallel()
	er := inference.NewEventReader(strings.NewReader("data: first\n\ndata: second\n\n"))
	a, _ := er.Next()
	b, _ := er.Next()
	if string(a) != "first" || string(b) != "second" {
		t.Errorf("earlier data changed by a later Next: %q %q", a, b)
	}
}

func TestIsDone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"[DONE]": true, " [DONE] ": true, "[DONE]x": false, "{}": false, "": false} {
		if got := inference.IsDone([]byte(in)); got != want {
			t.Errorf("IsDone(%q) = %v", in, got)
		}
	}
}

// FuzzEventReader checks that the reader never panics, that it reads the
// same events however the input is split into reads, and that every event
// is made of data lines that are in the input.
func FuzzEventReader(f *testing.F) {
	for _, seed := range []string{
		"data: {\"a\":1}\n\ndata: [DONE]\n\n",
		"data: a\r\ndata: b\r\n\r\n",
		": c\nevent: e\nid: 1\ndata:x\n\n",
		"data: x\n\ndata: y",
		"\xEF\xBB\xBFdata: z\n\n",
		"data\n\ndata:\n\n\n",
		"data: a\rb\n\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, errWhole := readAll(bytes.NewReader(in))
		bytewise, errBytewise := readAll(iotest.OneByteReader(bytes.NewReader(in)))
		if errWhole != errBytewise || len(whole) != len(bytewise) {
			t.Fatalf("whole: %q, %v; one byte at a time: %q, %v", whole, errWhole, bytewise, errBytewise)
		}
		if errWhole != io.EOF && errWhole != io.ErrUnexpectedEOF {
			t.Fatalf("unexpected error %v", errWhole)
		}
		for i, ev := range whole {
			if ev != bytewise[i] {
				t.Fatalf("event %d: %q vs %q", i, ev, bytewise[i])
			}
			for line := range strings.SplitSeq(ev, "\n") {
				if !bytes.Contains(in, []byte("data:"+line)) && !bytes.Contains(in, []byte("data: "+line)) && line != "" {
					t.Fatalf("event line %q is not a data line of the input", line)
				}
			}
		}
	})
}

func TestEventReaderReady(t *testing.T) {
	r := inference.NewEventReader(strings.NewReader("data: a\n\ndata: b\n\ndata: c"))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if !r.Ready() {
		t.Error("a whole second event is buffered, but Ready is false")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.Ready() {
		t.Error("only part of an event is buffered, but Ready is true")
	}
}

// A reader waiting for the next event with nothing unread holds no buffer:
// hundreds of streams wait at once.
func TestEventReaderWaitsWithoutABuffer(t *testing.T) {
	pr, pw := io.Pipe()
	er := inference.NewEventReader(pr)
	go func() {
		_, _ = pw.Write([]byte("data: a\n\ndata: b\n\n"))
		_, _ = pw.Write([]byte("data: " + strings.Repeat("c", 600) + "\n\n"))
		pw.Close()
	}()
	next := func(want string, buffering bool) {
		t.Helper()
		data, err := er.Next()
		if err != nil || string(data) != want {
			t.Fatalf("Next = %.20q, %v; want %.20q", data, err, want)
		}
		if got := inference.Buffering(er); got != buffering {
			t.Errorf("after %.20q: holding a buffer %v, want %v", want, got, buffering)
		}
	}
	next("a", true) // b is read already
	next("b", false)
	next(strings.Repeat("c", 600), false) // longer than the wait's read
	if _, err := er.Next(); err != io.EOF {
		t.Errorf("at the end: %v, want EOF", err)
	}
}
