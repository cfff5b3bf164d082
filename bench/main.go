// Bench measures a Keyward server end to end: it builds the keyward binary,
// seeds a fresh database with many keys, starts the server pinned to one
// CPU, drives it with a load generator pinned to another, and compares each
// figure with a bare net/http server answering the same requests with
// bodies of the same size (the ceiling of this machine).
//
//	go run ./bench                              # 1,000,000 keys, 10s per scenario
//	go run ./bench --keys 20000 --duration 3s
//
// It lives outside cmd/, which holds what the project ships: it is a tool
// for working on Keyward, run from a clone.
//
// main only wires: flags here, the run in bench.go, seeding in seed.go,
// processes in proc.go and keyward.go, the bare server in bare.go, load
// generation in load.go (wrk.go, goload.go) and the report in report.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	// Hidden modes: the bench re-executes itself as the bare ceiling
	// server and as the built-in load generator.
	switch {
	case os.Getenv(envBare) != "":
		if err := runBare(os.Getenv(envBare)); err != nil {
			fmt.Fprintf(os.Stderr, "bench: bare server: %v\n", err)
			os.Exit(1)
		}
		return
	case os.Getenv(envLoad) != "":
		if err := runLoadChild(os.Getenv(envLoad), os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "bench: load generator: %v\n", err)
			os.Exit(1)
		}
		return
	}

	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.keys, "keys", 1_000_000, "number of keys to seed (1000 per organization)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each scenario")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each scenario (none for cold verify)")
	fs.IntVar(&o.connections, "connections", 64, "concurrent connections of the ceiling, verify and list scenarios")
	fs.IntVar(&o.createClients, "create-clients", 16, "concurrent connections of the creates scenario")
	fs.IntVar(&o.hotKeys, "hot-keys", 10_000, "size of the hot key set")
	fs.BoolVar(&o.fill, "fill", true, "verify every key once before the hot scenario, so that the cache is full")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (database, key files, logs)")
	fs.StringVar(&o.markdown, "markdown", "", "also write the report as a Markdown section to this `file`")
	fs.StringVar(&o.databaseURL, "database-url", "", "benchmark against PostgreSQL at this postgres:// `URL` (an empty database or schema) instead of a fresh SQLite file")
	fs.StringVar(&o.loadgen, "loadgen", "auto", "load generator: auto (wrk if installed, else built-in), wrk or go")
	fs.BoolVar(&o.pin, "pin", true, "pin the server to one CPU and the load generator to another with taskset, when possible")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	if err := o.check(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	o.commandLine = commandLine(os.Args)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		if errors.Is(err, errInterrupted) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

const usage = `Usage: go run ./bench [flags]

Builds keyward, seeds a fresh database, and measures requests/s and latency
percentiles of verify (cold and hot cache), list and create against a bare
net/http ceiling on the same machine. See docs/performance.md.

Flags:
`
