package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// ioStreams are the terminal facts every command depends on, in one place
// and injected, so each command prints plain text when piped and tests swap
// in buffers.
type ioStreams struct {
	In            io.Reader
	Out, ErrOut   io.Writer
	InTTY, OutTTY bool
	ErrTTY        bool
	Getenv        func(string) string
	Width, Height int // of the terminal on Out; 0 when not a terminal
}

func systemIO() *ioStreams {
	s := &ioStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY: isTTY(os.Stdin), OutTTY: isTTY(os.Stdout), ErrTTY: isTTY(os.Stderr), Getenv: os.Getenv}
	if s.OutTTY {
		s.Width, s.Height, _ = term.GetSize(int(os.Stdout.Fd()))
	}
	return s
}

// isTTY says whether f is a terminal.
func isTTY(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
