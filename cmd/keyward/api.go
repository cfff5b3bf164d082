package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/keyward/keyward/client"
	"github.com/mattn/go-isatty"
)

// The commands keys, audit and verify talk to a running Keyward over its
// HTTP API, through package client, as any other program would: they open
// no database, and everything they do is authorized, audited and limited
// like a request from anywhere else.

// Exit statuses of keyward. The API commands map each failure to one, so
// that a script can tell "no such key" from "Keyward is down" without
// reading stderr.
const (
	exitOK          = 0
	exitError       = 1 // anything else: a fault of the server's (500), a local file that cannot be read
	exitUsage       = 2 // the command line is wrong, or the server refused its input as invalid (400, 413, 415)
	exitNotFound    = 3 // no such key, or one the caller may not see (404)
	exitAuth        = 4 // no API key, or one refused (401) or not allowed to do this (403)
	exitConflict    = 5 // the key is not in a state for this: 409, 412 (--if-match), 422 (an idempotency key reused)
	exitUnavailable = 6 // Keyward cannot be reached, answered 503, or is rate limiting (429): try again later
	exitNotValid    = 7 // verify: the key is not VALID (the outcome is printed)
)

// exitCodesHelp documents the statuses in every API command's help.
const exitCodesHelp = `Exit status:
  0  success (verify: the key is VALID)
  1  any other error (a fault of the server's, a file that cannot be read)
  2  usage: a bad flag or argument, or input the server refused as invalid (400)
  3  not found (404)
  4  no API key, or the key is refused or lacks the permission (401, 403)
  5  conflict: not in a state for this (409), changed since read (412, --if-match),
     an idempotency key reused with another request (422)
  6  unavailable: Keyward cannot be reached, or answered 503 or 429; try again later
  7  verify: the key is not VALID (its code is printed)
`

// exitStatusError carries the exit status of a failure, beyond 1 and 2.
type exitStatusError struct {
	code int
	err  error
}

func (e exitStatusError) Error() string { return e.err.Error() }
func (e exitStatusError) Unwrap() error { return e.err }

// exitCode is the status keyward exits with after run returned err.
func exitCode(err error) int {
	var ee exitStatusError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, new(usageError)):
		return exitUsage
	}
	return exitError
}

// ConnConfig is how the API commands reach Keyward and show its answers.
type ConnConfig struct {
	URL     string        `flag:"url" default:"http://127.0.0.1:8080" usage:"Keyward's base URL"`
	Output  string        `flag:"output" default:"table" usage:"output format: table (for people) or json (for scripts)"`
	Timeout time.Duration `flag:"timeout" default:"30s" usage:"give up on a request to Keyward after this long"`
}

// APIConfig adds, for the commands of the management API, the key and
// the organization. The API key itself is no flag: a flag's value stays
// in the shell's history and shows in ps. It comes from KEYWARD_API_KEY,
// or from the file --api-key-file names.
type APIConfig struct {
	Conn       ConnConfig
	APIKeyFile string `flag:"api-key-file" usage:"read the API key from this file (its first line) instead of KEYWARD_API_KEY"`
	Org        string `flag:"org" usage:"organization to act in, through /orgs/{org}/...: a root key must name one to list,\ncreate, restore or read the audit log; empty: the API key's own organization (/api_keys...)"`
}

// apiKeyEnv holds the API key of the API commands.
const apiKeyEnv = "KEYWARD_API_KEY"

// validate checks the settings that need no network.
func (a ConnConfig) validate() error {
	if a.Output != "table" && a.Output != "json" {
		return usageError{fmt.Errorf("--output %q: want table or json", a.Output)}
	}
	if a.Timeout <= 0 {
		return usageError{errors.New("--timeout: want a positive duration")}
	}
	return nil
}

// json reports whether the output is for scripts.
func (a ConnConfig) json() bool { return a.Output == "json" }

// apiKey returns the API key: from --api-key-file given on the command
// line, else KEYWARD_API_KEY, else the file KEYWARD_API_KEY_FILE names.
func (a APIConfig) apiKey(cmd *command, getenv func(string) string) (string, error) {
	if a.APIKeyFile != "" && (cmd.given("api-key-file") || getenv(apiKeyEnv) == "") {
		return readKeyFile(a.APIKeyFile)
	}
	if k := strings.TrimSpace(getenv(apiKeyEnv)); k != "" {
		return k, nil
	}
	return "", exitStatusError{exitAuth, fmt.Errorf("%s: no API key: set %s, or give --api-key-file FILE (a root key, or a key holding manage)", cmd.name, apiKeyEnv)}
}

// readKeyFile reads an API key from the first line of a file. What it
// holds is never quoted: it is a secret.
func readKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--api-key-file: %w", err)
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--api-key-file %s: %w", path, err)
	}
	k := strings.TrimSpace(line)
	if k == "" {
		return "", usageError{fmt.Errorf("--api-key-file %s: the file's first line is empty", path)}
	}
	return k, nil
}

// newClient returns the client of the API commands, with key (none for
// verify). Its requests carry keyward's User-Agent, which the audit log
// records.
func (a ConnConfig) newClient(key string) (*client.Client, error) {
	opts := []client.Option{
		client.WithBaseURL(a.URL),
		client.WithHTTPClient(&http.Client{Timeout: a.Timeout}),
		client.WithUserAgent("keyward-cli/" + readBuild().version),
	}
	if key != "" {
		opts = append(opts, client.WithAPIKey(key))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, usageError{fmt.Errorf("--url: %w", err)}
	}
	return c, nil
}

// scope is the API shape the flags choose: /orgs/{org}/... with --org,
// the caller's own organization (/api_keys...) without.
func (a APIConfig) scope(c *client.Client) *client.Scope {
	if a.Org != "" {
		return c.Org(a.Org)
	}
	return c.Caller("")
}

// apiError turns what a client call returned into the error keyward
// prints, one line, and the status it exits with. what names the
// operation ("keys get key-123").
func apiError(what string, err error) error {
	var e *client.Error
	if !errors.As(err, &e) {
		// The connection failed, or the context ended. The client's error
		// names the method and the path, never a header: no secret.
		return exitStatusError{exitUnavailable, fmt.Errorf("%s: %s", what, oneLine(strings.TrimPrefix(err.Error(), "keyward: ")))}
	}
	var b strings.Builder
	b.WriteString(what)
	b.WriteString(": ")
	if e.Detail != "" {
		b.WriteString(oneLine(e.Detail))
	} else {
		b.WriteString(strings.ToLower(e.Title))
	}
	fmt.Fprintf(&b, " (%d %s)", e.Status, e.Code)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", oneLine(f.Field), oneLine(f.Reason))
		if f.Field == "organization_id" {
			b.WriteString(" (give --org ORG)")
		}
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", oneLine(e.RequestID))
	}
	return exitStatusError{statusExit(e.Status), errors.New(b.String())}
}

// statusExit is the exit status of an HTTP status.
func statusExit(status int) int {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return exitUsage
	case http.StatusNotFound:
		return exitNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return exitAuth
	case http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity:
		return exitConflict
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return exitUnavailable
	}
	return exitError
}

// oneLine keeps a message from the server on one line and free of
// control characters, which could rewrite the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// isTerminal reports whether r is a terminal a person types at. A test
// gives a reader with an IsTerminal method to stand for one.
func isTerminal(r io.Reader) bool {
	switch r := r.(type) {
	case interface{ IsTerminal() bool }:
		return r.IsTerminal()
	case *os.File:
		return r != nil && (isatty.IsTerminal(r.Fd()) || isatty.IsCygwinTerminal(r.Fd()))
	}
	return false
}

// maxPage is the largest page the list commands ask for: the API's most.
// Tests lower it to see several pages followed.
var maxPage = 1000
