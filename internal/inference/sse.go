package inference

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// MaxEventLine is the longest SSE line EventReader accepts. One streamed
// chunk is one line, and a chunk with a large tool call or logprobs can be
// big, so the limit is generous; it exists to bound memory against a
// runaway upstream.
const MaxEventLine = 16 << 20

// ErrLineTooLong is returned by EventReader.Next for a line over MaxEventLine.
var ErrLineTooLong = errors.New("sse: line longer than 16 MiB")

// EventReader reads server-sent events (the text/event-stream format that
// OpenAI-compatible engines stream) and returns the data of each event.
//
// A stream spends most of its life waiting for the engine's next token, and
// hundreds are open at once: while it waits with nothing buffered, the
// reader holds no buffer of its own. The wait is a read into first (a few
// hundred bytes, in the reader itself); what it brings is then read through
// a buffer from a shared pool, kept until every byte read is consumed.
type EventReader struct {
	src     io.Reader
	br      *bufio.Reader // from bufs while data is buffered; nil while waiting
	first   [256]byte     // the wait's read
	pre     prefixReader  // what the wait read, then src: br reads this
	long    []byte        // assembles lines longer than br's buffer
	started bool          // past a leading byte order mark
}

// bufs holds the readers' buffers. 2 KiB holds the line of a streamed chunk
// (a few hundred bytes) with room to spare; the rare longer one is
// assembled in long.
var bufs = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 2<<10) }}

// prefixReader reads b, then r.
type prefixReader struct {
	b []byte
	r io.Reader
}

func (p *prefixReader) Read(dst []byte) (int, error) {
	if len(p.b) > 0 {
		n := copy(dst, p.b)
		p.b = p.b[n:]
		return n, nil
	}
	return p.r.Read(dst)
}

// NewEventReader reads events from r, typically a response body.
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{src: r}
}

// wait reads from src until something comes, then takes a buffer to read
// it through.
func (r *EventReader) wait() error {
	for {
		n, err := r.src.Read(r.first[:])
		if n > 0 {
			r.pre = prefixReader{b: r.first[:n], r: r.src}
			r.br = bufs.Get().(*bufio.Reader)
			r.br.Reset(&r.pre)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// release gives the buffer back when it holds nothing unread.
func (r *EventReader) release() {
	if r.br != nil && r.br.Buffered() == 0 && len(r.pre.b) == 0 {
		r.br.Reset(nil)
		bufs.Put(r.br)
		r.br, r.pre = nil, prefixReader{}
	}
}

// Ready reports whether a whole event has already arrived, so that the next
// Next returns without waiting for the engine.
func (r *EventReader) Ready() bool {
	if r.br == nil {
		return false
	}
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.br.Peek(n)
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\r\n\r\n"))
}

// Next returns the data of the next event: its data: lines joined with
// "\n". Comments, blank events and the event:, id: and retry: fields are
// skipped. Lines end in "\n" or "\r\n". "[DONE]" is returned like any data
// (see IsDone). At the end of the stream Next returns io.EOF; a stream that
// ends in the middle of an event returns io.ErrUnexpectedEOF, and a read
// error is returned as it is (e.g. context.Canceled from a response body).
// The returned slice belongs to the caller.
func (r *EventReader) Next() ([]byte, error) {
	if r.br == nil {
		if err := r.wait(); err != nil {
			return nil, err
		}
	}
	if !r.started {
		r.started = true
		if bom, _ := r.br.Peek(3); bytes.Equal(bom, []byte("\xEF\xBB\xBF")) {
			_, _ = r.br.Discard(3)
		}
	}
	var data []byte
	hasData := false
	for {
		line, complete, err := r.readLine()
		if err != nil && !(err == io.EOF && len(line) > 0) {
			if err == io.EOF && hasData {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(line) == 0 { // blank line: dispatch
			if hasData {
				r.release()
				return data, nil
			}
			continue
		}
		field, value := splitField(line)
		if !complete { // last line of a stream that stopped mid-line
			if hasData || string(field) == "data" {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, io.EOF
		}
		if string(field) != "data" {
			continue // comment (empty field), event, id, retry or unknown
		}
		if hasData {
			data = append(data, '\n')
		} else if data == nil {
			data = make([]byte, 0, len(value))
		}
		data = append(data, value...)
		hasData = true
	}
}

// readLine returns the next line without its line ending. complete is
// false for a last line that had no line ending (err is then io.EOF). The
// line is only valid until the next call.
func (r *EventReader) readLine() (line []byte, complete bool, err error) {
	b, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], b...)
		for err == bufio.ErrBufferFull {
			if len(r.long) > MaxEventLine {
				return nil, false, ErrLineTooLong
			}
			b, err = r.br.ReadSlice('\n')
			r.long = append(r.long, b...)
		}
		b = r.long
		if len(b) > MaxEventLine+2 {
			return nil, false, ErrLineTooLong
		}
	}
	if err != nil {
		return b, false, err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, true, nil
}

// splitField splits "field: value" (one space after the colon is part of
// the syntax). A comment line (": ...") has an empty field.
func splitField(line []byte) (field, value []byte) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return line, nil
	}
	field, value = line[:i], line[i+1:]
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	return field, value
}

// IsDone reports whether data is the "[DONE]" that ends an OpenAI stream.
func IsDone(data []byte) bool {
	return string(bytes.TrimSpace(data)) == "[DONE]"
}
