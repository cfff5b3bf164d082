package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/client"
)

const verifyHelpSummary = `Verify a key as a platform would (POST /verify), and print the outcome: its
code (VALID, NOT_FOUND, DISABLED, EXPIRED, INSUFFICIENT_PERMISSIONS,
RATE_LIMITED, USAGE_EXCEEDED) and the key's settings. Exits 0 only when the
key is VALID, 7 when it is not. Needs no API key.

SECRET is the key to verify, or - to read it from stdin (its first line), so
that it stays out of the shell's history and of ps.`

func runVerify(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg struct {
		Conn        ConnConfig
		Permissions stringList `flag:"permission" env:"-" usage:"a permission the key must hold (repeatable, or comma-separated)"`
		Cost        string     `flag:"cost" env:"-" usage:"what the verification spends of the key's rate limits and credits\n(default 1; 0 spends nothing and shows where the key stands)"`
	}
	cmd := newAPICommand("verify", verifyHelpSummary, `  keyward verify - < secret-file
  printf '%s\n' "$SECRET" | keyward verify - --permission read --cost 0
  if keyward verify - --output json < secret-file > outcome.json; then echo valid; fi
`, "SECRET")
	cmd.secretArgs = true
	c, err := startAPI(cmd, &cfg, &cfg.Conn, nil, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	secret := c.args[0]
	if secret == "-" {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("verify: reading the key from stdin: %w", err)
		}
		if secret = strings.TrimSpace(line); secret == "" {
			return usageError{errors.New("verify: stdin holds no key (give it on the first line)")}
		}
	}
	var opts client.VerifyOptions
	opts.Permissions = cfg.Permissions
	if cfg.Cost != "" {
		n, err := strconv.ParseInt(cfg.Cost, 10, 64)
		if err != nil || n < 0 {
			return usageError{fmt.Errorf("verify: --cost %q: want a whole number, 0 or more", cfg.Cost)}
		}
		opts.Cost = &n
	}
	v, err := c.client.Verify(ctx, secret, opts)
	if err != nil {
		return apiError("verify", err)
	}
	if c.api.json() {
		err = writeJSON(stdout, v)
	} else {
		err = writeVerification(stdout, v, time.Now())
	}
	if err != nil {
		return err
	}
	if !v.Valid {
		return exitStatusError{exitNotValid, fmt.Errorf("verify: the key is not valid: %s", v.Code)}
	}
	return nil
}
