package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keyward/keyward/client"
)

const auditUsage = `Read the audit log through a running Keyward's HTTP API: every change made to
an organization's keys, newest first.

Usage:
  keyward audit list [--key KEY_ID] [--action A] [--since T] [--until T] [--limit N | --all]

Run 'keyward audit list --help' for its flags.
`

func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return usageError{errors.New("audit: no subcommand given")}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && !isHelp(args[1]) {
			return runAudit(ctx, append(args[1:len(args):len(args)], "--help"), getenv, stdout, stderr)
		}
		fmt.Fprint(stdout, auditUsage)
		return nil
	case "list":
		return runAuditList(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, auditUsage)
	return usageError{fmt.Errorf("audit: unknown subcommand %q", args[0])}
}

func runAuditList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg struct {
		API    APIConfig
		Key    string `flag:"key" env:"-" usage:"only the events about this key"`
		Action string `flag:"action" env:"-" usage:"only this action: create, update, rotate, disable, enable, delete or restore"`
		Since  string `flag:"since" env:"-" usage:"only events at or after this time: RFC 3339, or a duration back from now (24h, 7d)"`
		Until  string `flag:"until" env:"-" usage:"only events before this time: RFC 3339, or a duration back from now"`
		Limit  int    `flag:"limit" env:"-" default:"100" usage:"show at most this many events, reading as many pages as that takes"`
		All    bool   `flag:"all" env:"-" usage:"show every event selected, however many pages"`
		Cursor string `flag:"cursor" env:"-" usage:"start after the events already shown: the cursor a previous list printed"`
	}
	cmd := newAPICommand("audit list", "List audit events, newest first: when, what, which key, who (the acting key's\nid, or cli) and the fields changed. Needs manage, or a root key. A root key\nwithout --org reads the events about root keys.", `  keyward audit list --org acme --since 24h
  keyward audit list --key key-123 --action update --output json | jq '.[].changes'
`)
	c, err := startAPI(cmd, &cfg, &cfg.API.Conn, &cfg.API, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	now := time.Now()
	f := client.AuditFilter{KeyID: cfg.Key, Action: cfg.Action, Cursor: cfg.Cursor}
	if cfg.Since != "" {
		if f.Since, err = parseWhen("--since", cfg.Since, now); err != nil {
			return err
		}
	}
	if cfg.Until != "" {
		if f.Until, err = parseWhen("--until", cfg.Until, now); err != nil {
			return err
		}
	}
	if cfg.Limit < 1 && !cfg.All {
		return usageError{fmt.Errorf("audit list: --limit %d: want at least 1 (or --all)", cfg.Limit)}
	}
	if cfg.All && cmd.given("limit") {
		return usageError{errors.New("audit list: give --limit or --all, not both")}
	}
	events := []client.AuditEvent{}
	more := ""
	f.Limit = maxPage
	for {
		if !cfg.All {
			f.Limit = min(cfg.Limit-len(events), maxPage)
		}
		page, err := c.scope.ListAuditEvents(ctx, f)
		if err != nil {
			return apiError("audit list", err)
		}
		events = append(events, page.Events...)
		if page.NextCursor == "" {
			break
		}
		if !cfg.All && len(events) >= cfg.Limit {
			more = page.NextCursor
			break
		}
		f.Cursor = page.NextCursor
	}
	if c.api.json() {
		if err := writeJSON(stdout, events); err != nil {
			return err
		}
	} else if err := writeAuditTable(stdout, events, now); err != nil {
		return err
	}
	if more != "" {
		fmt.Fprintf(stderr, "More events than --limit %d: show them with --all, or the next ones with --cursor %s\n", cfg.Limit, more)
	}
	return nil
}

// parseWhen reads a time: RFC 3339, or a duration back from now.
func parseWhen(flagName, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseDays(flagName, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("%s %q: want an RFC 3339 time (2026-12-01T00:00:00Z) or a duration back from now (24h, 7d)", flagName, s)}
	}
	return now.Add(-d), nil
}
