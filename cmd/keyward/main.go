// Command keyward runs the Keyward API key service and its administrative
// commands. main only wires: all the work is in run, so that tests start the
// whole program in-process.
package main

import (
	"context"
	"errors"
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
	code := exitCode(err)
	if code != exitOK {
		fmt.Fprintf(os.Stderr, "keyward: %v\n", err)
		os.Exit(code)
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

Commands over a running Keyward's HTTP API (the key in KEYWARD_API_KEY, or
--api-key-file; the server at --url or KEYWARD_URL, http://127.0.0.1:8080):
  keys list          list an organization's keys
  keys get           show one key
  keys create        create a key and print its secret, once
  keys update        change a key's name, permissions, metadata, expiry, limits, credits
  keys rotate        give a key a new secret and print it, once
  keys disable       disable a key; keys enable enables it again
  keys delete        delete (revoke) a key; keys restore brings it back
  audit list         read the audit log of changes to keys
  verify             verify a key as a platform does (exit status 0 only when VALID)

Run 'keyward <command> --help' (or 'keyward help <command>') for a command's
flags. Flags may come before or after arguments. Every flag can also be set
by an environment variable (KEYWARD_ADDR, KEYWARD_DB, ...), listed there.
'keyward help keys' explains the key commands and their exit statuses.
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
	case "keys":
		return runKeys(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], getenv, stdout, stderr)
	case "verify":
		return runVerify(ctx, args[1:], getenv, stdin, stdout, stderr)
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
