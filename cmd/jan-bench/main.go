// Command jan-bench measures what jan adds on top of an engine. It builds
// the jan binary, starts three processes on loopback — the fake engine, the
// floor (a bare httputil.ReverseProxy in front of the engine, this binary
// re-executed with -role floor) and `jan serve` on SQLite — and drives them
// from this process: the same requests go to the engine directly, through
// the floor and through jan, and every figure is printed side by side with
// its target. The floor is what any Go proxy costs; jan's targets are set
// relative to it, measured in the same run, because these machines are noisy.
//
//	go run ./cmd/jan-bench            # full run (make bench), about two and a half minutes
//	go run ./cmd/jan-bench -quick     # smoke run, a few seconds
//	go run ./cmd/jan-bench -json      # the report as JSON on stdout
//	go run ./cmd/jan-bench -ab OLD,NEW  # the full path, two jan binaries alternated (ab.go)
//
// Traffic goes only to 127.0.0.1; every child process is killed on exit,
// Ctrl+C included.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Options sizes a run. Zero fields take the defaults of a full run.
type Options struct {
	Duration time.Duration // each throughput run
	Seq      int           // sequential requests per target for latency; TTFT uses Seq/2
	Clients  int           // concurrent clients in the throughput runs
	Streams  int           // open streams for the memory figure
	// StoreBenchtime is the -benchtime of the store benchmark; "" skips it.
	StoreBenchtime string
	JanBin         string // a jan binary to measure instead of building one
	JSON           bool
	Quick          bool   // sizes for a smoke run; explicit fields still win
	Postgres       bool   // also run the full path on a local Postgres
	AB             string // comma-separated jan binaries: compare their full path only (ab.go)
}

func (o *Options) defaults() {
	def := Options{Duration: 10 * time.Second, Seq: 2000, Clients: 32, Streams: 500, StoreBenchtime: "3s"}
	if o.Quick {
		def = Options{Duration: time.Second, Seq: 200, Clients: 32, Streams: 100, StoreBenchtime: "200x"}
	}
	if o.Duration <= 0 {
		o.Duration = def.Duration
	}
	if o.Seq <= 0 {
		o.Seq = def.Seq
	}
	if o.Clients <= 0 {
		o.Clients = def.Clients
	}
	if o.Streams <= 0 {
		o.Streams = def.Streams
	}
	if o.StoreBenchtime == "" {
		o.StoreBenchtime = def.StoreBenchtime
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-role" {
		os.Exit(runRole(os.Args[1:]))
	}
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.AB != "" {
		bins, err := abBinaries(o.AB)
		if err == nil {
			err = runAB(ctx, o, bins, os.Stdout, os.Stderr)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "jan-bench:", err)
			os.Exit(1)
		}
		return
	}
	rep, err := run(ctx, o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "jan-bench:", err)
		os.Exit(1)
	}
	rep.Command = strings.TrimSpace("go run ./cmd/jan-bench " + strings.Join(os.Args[1:], " "))
	if o.JSON {
		err = rep.writeJSON(os.Stdout)
	} else {
		err = rep.writeTable(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "jan-bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("jan-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.Duration, "duration", 0, "length of each throughput run (default 10s; 1s with -quick)")
	fs.IntVar(&o.Seq, "seq", 0, "sequential requests per target for the latency figures (default 2000; 200 with -quick)")
	fs.IntVar(&o.Clients, "clients", 0, "concurrent clients in the throughput runs (default 32)")
	fs.IntVar(&o.Streams, "streams", 0, "open streams for the memory figure (default 500; 100 with -quick)")
	fs.StringVar(&o.StoreBenchtime, "store-benchtime", "", `-benchtime of the store benchmark (default 3s; 200x with -quick; "off" skips it)`)
	fs.StringVar(&o.JanBin, "jan", "", "measure this jan `binary` instead of building ./cmd/jan (e.g. a profiling build)")
	fs.BoolVar(&o.Quick, "quick", false, "short everything: a smoke run of a few seconds")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&o.AB, "ab", "", "compare the full path of two or more jan `binaries` (comma-separated), alternated in 1 s rounds for -duration each; nothing else runs")
	fs.BoolVar(&o.Postgres, "postgres", true, "also run the full path on a throwaway local Postgres (fsync on); -postgres=false skips it")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: jan-bench [flags]\n\nMeasures jan against the fake engine (direct) and a bare reverse proxy (floor).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "jan-bench: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return o, errors.New("unexpected argument")
	}
	return o, nil
}
