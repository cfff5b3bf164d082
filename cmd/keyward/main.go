// Command keyward runs the Keyward API key service and its administrative
// commands. main only wires: all the work is in run, so that tests start the
// whole program in-process.
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
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "keyward: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "keyward: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a mistake in how keyward was called.
type usageError struct{ error }

const topUsage = `Keyward issues, lists, verifies and revokes API keys.

Usage: keyward <command> [flags] [arguments]

Commands:
  serve              run the HTTP API (creates the first root key on an empty database)
  migrate            create or upgrade the database schema and exit
  root-key create    create a root key in an existing database and print its secret
  root-key list      list the live root keys (never their secrets)
  root-key revoke    revoke a root key by id
  version            print the version, commit and Go version of this binary

Run 'keyward <command> --help' (or 'keyward help <command>') for a command's
flags. Flags may come before or after arguments. Every flag can also be set
by an environment variable (KEYWARD_ADDR, KEYWARD_DB, ...), listed there.
`

// run is the whole program: it parses args, reads settings through getenv,
// and returns when ctx is cancelled (serve) or the command is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usageError{errors.New("no command given")}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && !isHelp(args[1]) { // keyward help serve: serve's help
			return run(ctx, append(args[1:len(args):len(args)], "--help"), getenv, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, topUsage)
		return nil
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "root-key":
		return runRootKey(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version":
		return runVersion(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, topUsage)
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "--h", "help":
		return true
	}
	return false
}
