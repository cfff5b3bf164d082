package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/keyward/keyward"
)

const rootKeyUsage = `Manage root keys directly in an existing database, whether or not a server
is running. Only serve and migrate create a database.

Usage:
  keyward root-key create [--db PATH | --database-url URL] [--name NAME]
      create a root key; print its secret alone on one line
  keyward root-key list   [--db PATH | --database-url URL]
      list live root keys: id, hint, created_at, name
  keyward root-key revoke [--db PATH | --database-url URL] KEY_ID
      revoke a root key

Run 'keyward root-key <subcommand> --help' for the flags.
`

func runRootKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, rootKeyUsage)
		return usageError{fmt.Errorf("root-key: no subcommand given")}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && !isHelp(args[1]) { // keyward root-key help create
			return runRootKey(ctx, append(args[1:len(args):len(args)], "--help"), getenv, stdout, stderr)
		}
		fmt.Fprint(stdout, rootKeyUsage)
		return nil
	case "create":
		return runRootKeyCreate(ctx, args[1:], getenv, stdout, stderr)
	case "list":
		return runRootKeyList(ctx, args[1:], getenv, stdout, stderr)
	case "revoke":
		return runRootKeyRevoke(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, rootKeyUsage)
	return usageError{fmt.Errorf("root-key: unknown subcommand %q", args[0])}
}

func runRootKeyCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg struct {
		DB   DBConfig
		Name string `flag:"name" default:"root" usage:"a name for the key, to tell root keys apart"`
	}
	cmd := newCommand("root-key create", "Create a root key in an existing database and print its secret, alone on\none line of stdout.")
	cmd.register(&cfg)
	if _, err := cmd.parse(args, getenv, stdout, stderr); err != nil {
		return err
	}
	store, err := cfg.DB.openExisting(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	_, secret, err := keyward.NewService(store).CreateRootKey(ctx, cfg.Name)
	if err != nil {
		return fmt.Errorf("create root key: %s", keyward.ErrorMessage(err)+fieldsText(err))
	}
	_, err = fmt.Fprintln(stdout, secret.Reveal())
	return err
}

func runRootKeyList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var db DBConfig
	cmd := newCommand("root-key list", "List the live root keys of an existing database, one per line: id, hint,\ncreation time and name; never secrets.")
	cmd.register(&db)
	if _, err := cmd.parse(args, getenv, stdout, stderr); err != nil {
		return err
	}
	store, err := db.openExisting(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := keyward.NewService(store)
	var after *keyward.Cursor
	for {
		page, err := svc.ListRootKeys(ctx, after, keyward.MaxPageLimit)
		if err != nil {
			return err
		}
		for _, k := range page.Keys {
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", k.ID, k.Hint, k.CreatedAt.UTC().Format(time.RFC3339), k.Name)
		}
		if page.Next == nil {
			return nil
		}
		after = page.Next
	}
}

func runRootKeyRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var db DBConfig
	cmd := newCommand("root-key revoke", "Revoke a root key, given its id (see keyward root-key list). A server running\non the same database refuses the key within its staleness bound\n(--staleness-bound, 1s by default).", "KEY_ID")
	cmd.register(&db)
	positional, err := cmd.parse(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	id, err := keyward.ParseKeyID(positional[0])
	if err != nil {
		return usageError{fmt.Errorf("root-key revoke: %q is not a key id", positional[0])}
	}
	store, err := db.openExisting(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := keyward.NewService(store).DeleteRootKey(ctx, id); err != nil {
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return fmt.Errorf("root-key revoke: no live root key %s", id)
		}
		return err
	}
	fmt.Fprintf(stdout, "revoked %s\n", id)
	return nil
}

// fieldsText lists an error's bad fields for a command-line message.
func fieldsText(err error) string {
	s := ""
	for _, f := range keyward.ErrorFields(err) {
		s += fmt.Sprintf("; %s %s", f.Field, f.Reason)
	}
	return s
}
