// Bench measures a Keyward server end to end: it builds the keyward binary,
// seeds a fresh database with many keys, starts the server pinned to one
// CPU, drives it with its own load generator pinned to another, and
// compares each figure with a bare net/http server answering the same
// requests with bodies of the same size (the ceiling of this machine).
//
//	go run ./bench                              # 1,000,000 keys, 10s per scenario
//	go run ./bench --keys 20000 --duration 3s
//
// It lives outside cmd/, which holds what the project ships: it is a tool
// for working on Keyward, run from a clone. See docs/performance.md.
//
// main only wires: flags in options.go, the run in bench.go, seeding in
// seed.go, processes in proc.go and keyward.go, the bare server in
// bare.go, the load generator in load.go and loadgen.go, and the report in
// report.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(130)
	default:
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole program. The bench re-executes itself as the bare
// ceiling server and as the load generator: getenv tells it which it is.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if cfg := getenv(envBare); cfg != "" {
		if err := runBare(cfg, os.Stdin, stdout); err != nil {
			return fmt.Errorf("bare server: %w", err)
		}
		return nil
	}
	if spec := getenv(envLoad); spec != "" {
		if err := runLoadChild(spec, stdout); err != nil {
			return fmt.Errorf("load generator: %w", err)
		}
		return nil
	}
	o, err := parseOptions(args[1:], stderr)
	if err != nil {
		return err
	}
	o.commandLine = commandLine(args)
	return runBench(ctx, o, stdout, stderr)
}
