package main

import (
	"context"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var db DBConfig
	cmd := newCommand("migrate", "Apply the embedded schema migrations to the database and exit; a SQLite\nfile that does not exist is created. A database written by a newer keyward\nis refused and left unchanged.")
	cmd.register(&db)
	if _, err := cmd.parse(args, getenv, stdout, stderr); err != nil {
		return err
	}
	store, err := db.open(ctx, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	v, err := store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database %s is at schema version %d\n", db.name(), v)
	return nil
}
