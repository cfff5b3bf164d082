package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/client"
)

const keysUsage = `Manage an organization's API keys through a running Keyward's HTTP API.

Usage:
  keyward keys list     [--state S] [--limit N | --all]   list keys, newest first
  keyward keys get      KEY_ID                            show one key
  keyward keys usage    KEY_ID [--since T] [--until T]    a key's verifications per hour, by outcome
  keyward keys create   --name N --permissions P,...      create a key; print its secret once
  keyward keys update   KEY_ID [flags]                    change a key's name, permissions, metadata,
                                                          expiry, rate limits or credits
  keyward keys rotate   KEY_ID [--grace 24h]              give a key a new secret; print it once
  keyward keys disable  KEY_ID                            stop a key from verifying, until enabled
  keyward keys enable   KEY_ID                            enable a disabled key
  keyward keys delete   KEY_ID [--yes]                    delete (revoke) a key
  keyward keys restore  KEY_ID                            bring back a deleted key

The API key comes from KEYWARD_API_KEY, or the file --api-key-file names
(never from a flag holding the key itself, which would stay in the shell's
history). With --org ORG the commands act in that organization
(/orgs/ORG/...): a root key must name one to list, create or restore. Without
it they act in the API key's own organization (/api_keys...), which is what a
key holding manage does; a root key may leave it out to get, update, rotate,
disable, enable or delete one key by its id.

--output json prints one JSON document (the API's field names, exact times)
for scripts; the default is an aligned table with times relative to now.

Examples:
  export KEYWARD_URL=https://keyward.internal:8443 KEYWARD_API_KEY_FILE=~/.keyward/root
  keyward keys list --org acme --state all
  SECRET=$(keyward keys create --org acme --name Backend --permissions read,write)
  keyward keys update key-123 --org acme --expires-in 30d --rate-limit requests=100/60s
  keyward keys rotate key-123 --org acme --grace 24h --output json | jq -r .key

Run 'keyward keys <subcommand> --help' for its flags.

` + exitCodesHelp

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return usageError{errors.New("keys: no subcommand given")}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && !isHelp(args[1]) { // keyward keys help create
			return runKeys(ctx, append(args[1:len(args):len(args)], "--help"), getenv, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, keysUsage)
		return nil
	case "list":
		return runKeysList(ctx, args[1:], getenv, stdout, stderr)
	case "get":
		return runKeysGet(ctx, args[1:], getenv, stdout, stderr)
	case "usage":
		return runKeysUsage(ctx, args[1:], getenv, stdout, stderr)
	case "create":
		return runKeysCreate(ctx, args[1:], getenv, stdout, stderr)
	case "update":
		return runKeysUpdate(ctx, args[1:], getenv, stdout, stderr)
	case "rotate":
		return runKeysRotate(ctx, args[1:], getenv, stdout, stderr)
	case "disable", "enable", "restore":
		return runKeysAction(ctx, args[0], args[1:], getenv, stdout, stderr)
	case "delete":
		return runKeysDelete(ctx, args[1:], getenv, stdin, stdout, stderr)
	}
	fmt.Fprint(stderr, keysUsage)
	return usageError{fmt.Errorf("keys: unknown subcommand %q", args[0])}
}

// apiCall is an API command once its command line is read: the client,
// and the scope its flags chose.
type apiCall struct {
	api    ConnConfig
	client *client.Client
	scope  *client.Scope
	args   []string
}

// startAPI reads an API command's command line into cfg, whose fields
// conn and (but for verify, which needs no key) api are, and makes its
// client, with the API key when api is not nil.
func startAPI(cmd *command, cfg any, conn *ConnConfig, api *APIConfig, args []string, getenv func(string) string, stdout, stderr io.Writer) (*apiCall, error) {
	cmd.register(cfg)
	positional, err := cmd.parse(args, getenv, stdout, stderr)
	if err != nil {
		return nil, err
	}
	if err := conn.validate(); err != nil {
		return nil, err
	}
	key := ""
	if api != nil {
		if key, err = api.apiKey(cmd, getenv); err != nil {
			return nil, err
		}
	}
	c, err := conn.newClient(key)
	if err != nil {
		return nil, err
	}
	call := &apiCall{api: *conn, client: c, args: positional}
	if api != nil {
		call.scope = api.scope(c)
	}
	return call, nil
}

// newAPICommand is newCommand for an API command: its help ends with its
// examples and the exit statuses.
func newAPICommand(name, summary, examples string, args ...string) *command {
	cmd := newCommand(name, summary, args...)
	cmd.examples = examples + "\n" + exitCodesHelp
	return cmd
}

func runKeysList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg struct {
		API    APIConfig
		State  string `flag:"state" env:"-" default:"active" usage:"which keys: active, disabled, expired, deleted or all"`
		Limit  int    `flag:"limit" env:"-" default:"100" usage:"show at most this many keys, reading as many pages as that takes"`
		All    bool   `flag:"all" env:"-" usage:"show every key, however many pages"`
		Cursor string `flag:"cursor" env:"-" usage:"start after the keys already shown: the cursor a previous list printed"`
	}
	cmd := newAPICommand("keys list", "List API keys, newest first: id, name, state, permissions, hint, and when\neach was created, last used and expires. Never a secret.", `  keyward keys list                          # the API key's own organization
  keyward keys list --org acme --state all   # a root key names the organization
  keyward keys list --org acme --all --output json | jq -r '.[].id'
`)
	c, err := startAPI(cmd, &cfg, &cfg.API.Conn, &cfg.API, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	switch cfg.State {
	case client.StateActive, client.StateDisabled, client.StateExpired, client.StateDeleted, client.StateAll:
	default:
		return usageError{fmt.Errorf("keys list: --state %q: want active, disabled, expired, deleted or all", cfg.State)}
	}
	if cfg.Limit < 1 && !cfg.All {
		return usageError{fmt.Errorf("keys list: --limit %d: want at least 1 (or --all)", cfg.Limit)}
	}
	if cfg.All && cmd.given("limit") {
		return usageError{errors.New("keys list: give --limit or --all, not both")}
	}
	keys := []client.Key{}
	opts := client.KeyListOptions{State: cfg.State, Cursor: cfg.Cursor, Limit: maxPage}
	more := ""
	for {
		if !cfg.All {
			opts.Limit = min(cfg.Limit-len(keys), maxPage)
		}
		page, err := c.scope.ListKeys(ctx, opts)
		if err != nil {
			return apiError("keys list", err)
		}
		keys = append(keys, page.Keys...)
		if page.NextCursor == "" {
			break
		}
		if !cfg.All && len(keys) >= cfg.Limit {
			more = page.NextCursor
			break
		}
		opts.Cursor = page.NextCursor
	}
	if c.api.json() {
		if err := writeJSON(stdout, keys); err != nil {
			return err
		}
	} else if err := writeKeyTable(stdout, keys, time.Now()); err != nil {
		return err
	}
	if more != "" {
		fmt.Fprintf(stderr, "More keys than --limit %d: show them with --all, or the next ones with --cursor %s\n", cfg.Limit, more)
	}
	return nil
}

// printKey writes one key as the output format asks.
func printKey(c *apiCall, stdout io.Writer, k *client.Key) error {
	if c.api.json() {
		return writeJSON(stdout, keyJSON{Key: *k, ETag: k.ETag})
	}
	return writeKeyDetail(stdout, k, time.Now())
}

func runKeysGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg struct{ API APIConfig }
	cmd := newAPICommand("keys get", "Show one API key: its settings, state, rate limits, credits and version (the\nETag that --if-match takes). Never its secret.", `  keyward keys get key-123
  keyward keys get key-123 --org acme --output json | jq .state
`, "KEY_ID")
	c, err := startAPI(cmd, &cfg, &cfg.API.Conn, &cfg.API, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	k, err := c.scope.GetKey(ctx, c.args[0])
	if err != nil {
		return apiError("keys get "+c.args[0], err)
	}
	return printKey(c, stdout, k)
}

func runKeysUsage(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg struct {
		API   APIConfig
		Since string `flag:"since" env:"-" usage:"from the hour of this time: RFC 3339, or a duration back from now (24h, 7d);\n7 days before --until if not given"`
		Until string `flag:"until" env:"-" usage:"to the end of the hour of this time: RFC 3339, or a duration back from now;\nnow if not given (at most 31 days after --since)"`
	}
	cmd := newAPICommand("keys usage", "Show a key's verifications per UTC hour, by outcome: the hours with any, and\nthe total. Counted are the answers to verifications of the key (valid, and each\nrefusal of an existing key), not its own calls to the API; they reach the\ndatabase every minute. --output json prints every hour, zeros included.", `  keyward keys usage key-123 --since 24h
  keyward keys usage key-123 --org acme --output json | jq '.hours[] | select(.total > 0)'
`, "KEY_ID")
	c, err := startAPI(cmd, &cfg, &cfg.API.Conn, &cfg.API, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	now := time.Now()
	var r client.UsageRange
	if cfg.Since != "" {
		if r.Since, err = parseWhen("--since", cfg.Since, now); err != nil {
			return err
		}
	}
	if cfg.Until != "" {
		if r.Until, err = parseWhen("--until", cfg.Until, now); err != nil {
			return err
		}
	}
	u, err := c.scope.KeyUsage(ctx, c.args[0], r)
	if err != nil {
		return apiError("keys usage "+c.args[0], err)
	}
	if c.api.json() {
		return writeJSON(stdout, u)
	}
	return writeUsageTable(stdout, u)
}

// secretWarning is printed on stderr beside a secret printed on stdout.
const secretWarning = "Its secret is printed on stdout this once: store it now, it will not be shown again."

func runKeysCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg struct {
		API            APIConfig
		Name           string     `flag:"name" env:"-" usage:"the key's name, 1 to 200 characters (required)"`
		Permissions    stringList `flag:"permissions" env:"-" usage:"its permissions, comma-separated or repeated: read, write, create, update,\ndelete, manage (at least one; a key may grant only permissions it holds)"`
		Metadata       string     `flag:"metadata" env:"-" usage:"a JSON object returned by every verification of the key"`
		ExpiresIn      string     `flag:"expires-in" env:"-" usage:"expire after this long: 90m, 12h, 30d"`
		ExpiresAt      string     `flag:"expires-at" env:"-" usage:"expire at this RFC 3339 time: 2030-01-01T00:00:00Z"`
		RateLimits     stringList `flag:"rate-limit" env:"-" usage:"a rate limit NAME=LIMIT/DURATION, such as requests=100/60s (repeatable)"`
		Credits        string     `flag:"credits" env:"-" usage:"usage credits: each VALID verification spends its cost"`
		Refill         string     `flag:"refill" env:"-" usage:"refill the credits: AMOUNT/daily or AMOUNT/monthly (with --credits)"`
		IdempotencyKey string     `flag:"idempotency-key" env:"-" usage:"send this Idempotency-Key (16 to 255 printable characters, random), to repeat\na create whose answer was lost: within 24 hours the repeat answers with the same\nkey and secret (default: a new random one)"`
	}
	cmd := newAPICommand("keys create", "Create an API key. Its secret is printed alone on stdout, once (with\n--output json, as the key's \"key\"), and a note on stderr says so.", `  keyward keys create --name Backend --permissions read,write
  SECRET=$(keyward keys create --org acme --name "Deploy job" --permissions read --expires-in 30d)
  keyward keys create --org acme --name metered --permissions read \
      --rate-limit requests=100/60s --rate-limit burst=10/1s --credits 1000 --refill 1000/daily \
      --metadata '{"plan":"pro"}' --output json
`)
	c, err := startAPI(cmd, &cfg, &cfg.API.Conn, &cfg.API, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	in := client.KeyCreate{Name: cfg.Name, Permissions: cfg.Permissions}
	if strings.TrimSpace(cfg.Name) == "" {
		return usageError{errors.New("keys create: --name is required")}
	}
	if len(cfg.Permissions) == 0 {
		return usageError{errors.New("keys create: --permissions is required (read, write, create, update, delete, manage)")}
	}
	now := time.Now()
	if in.ExpiresAt, _, err = parseExpiry(cfg.ExpiresIn, cfg.ExpiresAt, false, now); err != nil {
		return err
	}
	if cfg.Metadata != "" {
		if in.Metadata, err = parseMetadata(cfg.Metadata, false); err != nil {
			return err
		}
	}
	for _, s := range cfg.RateLimits {
		l, err := parseRateLimit(s)
		if err != nil {
			return err
		}
		in.RateLimits = append(in.RateLimits, l)
	}
	if cfg.Credits != "" {
		n, err := parseCount("--credits", cfg.Credits)
		if err != nil {
			return err
		}
		in.Credits = &client.CreditsInput{Remaining: n}
		if cfg.Refill != "" {
			r, err := parseRefill(cfg.Refill)
			if err != nil {
				return err
			}
			in.Credits.Refill = &client.Refill{Amount: r.Amount, Interval: r.Interval}
		}
	} else if cfg.Refill != "" {
		return usageError{errors.New("keys create: --refill needs --credits")}
	}
	var opts []client.CallOption
	if cfg.IdempotencyKey != "" {
		opts = append(opts, client.IdempotencyKey(cfg.IdempotencyKey))
	}
	k, err := c.scope.CreateKey(ctx, in, opts...)
	if err != nil {
		return apiError("keys create", err)
	}
	fmt.Fprintf(stderr, "Created key %s (%s) in organization %s.\n%s\n", k.ID, oneLine(k.Name), k.OrgID, secretWarning)
	if c.api.json() {
		return writeJSON(stdout, keyJSON{Key: k.Key, ETag: k.ETag, Secret: k.Secret.Reveal()})
	}
	_, err = fmt.Fprintln(stdout, k.Secret.Reveal())
	return err
}

func runKeysUpdate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg struct {
		API          APIConfig
		Name         string     `flag:"name" env:"-" usage:"a new name"`
		Permissions  stringList `flag:"permissions" env:"-" usage:"new permissions, replacing the key's (comma-separated or repeated)"`
		Metadata     string     `flag:"metadata" env:"-" usage:"a JSON object merged into the key's metadata (RFC 7396): a member set to null\nis removed; null alone removes all of it"`
		ExpiresIn    string     `flag:"expires-in" env:"-" usage:"expire after this long from now: 90m, 12h, 30d"`
		ExpiresAt    string     `flag:"expires-at" env:"-" usage:"expire at this RFC 3339 time"`
		NoExpiry     bool       `flag:"no-expiry" env:"-" usage:"never expire"`
		RateLimits   stringList `flag:"rate-limit" env:"-" usage:"NAME=LIMIT/DURATION (repeatable): replace the key's rate limits with these"`
		NoRateLimits bool       `flag:"no-rate-limits" env:"-" usage:"remove every rate limit"`
		Credits      string     `flag:"credits" env:"-" usage:"set the credits remaining"`
		NoCredits    bool       `flag:"no-credits" env:"-" usage:"remove the credits: the key becomes unlimited"`
		Refill       string     `flag:"refill" env:"-" usage:"refill the credits: AMOUNT/daily or AMOUNT/monthly"`
		NoRefill     bool       `flag:"no-refill" env:"-" usage:"stop refilling the credits"`
		IfMatch      string     `flag:"if-match" env:"-" usage:"change the key only if it is still at this version (its ETag, from keys get)"`
	}
	cmd := newAPICommand("keys update", "Change an API key: only what the flags name changes. Prints the key as it now is.", `  keyward keys update key-123 --name "Backend (prod)" --permissions read
  keyward keys update key-123 --metadata '{"plan":"pro","trial":null}' --expires-in 30d
  keyward keys update key-123 --no-expiry --rate-limit requests=1000/60s --credits 5000 --refill 5000/monthly
  keyward keys update key-123 --org acme --if-match '"3"' --no-rate-limits
`, "KEY_ID")
	c, err := startAPI(cmd, &cfg, &cfg.API.Conn, &cfg.API, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	var u client.KeyUpdate
	changes := false
	if cmd.given("name") {
		u.Name, changes = &cfg.Name, true
	}
	if len(cfg.Permissions) > 0 {
		u.Permissions, changes = cfg.Permissions, true
	} else if cmd.given("permissions") {
		return usageError{errors.New("keys update: --permissions is empty: a key needs at least one")}
	}
	if cmd.given("metadata") {
		m, err := parseMetadata(cfg.Metadata, true)
		if err != nil {
			return err
		}
		if m == nil {
			u.ClearMetadata = true
		} else {
			u.Metadata = m
		}
		changes = true
	}
	var clear bool
	if u.ExpiresAt, clear, err = parseExpiry(cfg.ExpiresIn, cfg.ExpiresAt, cfg.NoExpiry, time.Now()); err != nil {
		return err
	}
	u.ClearExpiresAt = clear
	changes = changes || u.ExpiresAt != nil || clear
	switch {
	case len(cfg.RateLimits) > 0 && cfg.NoRateLimits:
		return usageError{errors.New("keys update: give --rate-limit or --no-rate-limits, not both")}
	case cfg.NoRateLimits:
		u.RateLimits, changes = []client.RateLimit{}, true
	case len(cfg.RateLimits) > 0:
		for _, s := range cfg.RateLimits {
			l, err := parseRateLimit(s)
			if err != nil {
				return err
			}
			u.RateLimits = append(u.RateLimits, l)
		}
		changes = true
	}
	if cfg.NoCredits && (cfg.Credits != "" || cfg.Refill != "" || cfg.NoRefill) {
		return usageError{errors.New("keys update: --no-credits removes the credits: give no other credits flag with it")}
	}
	if cfg.Refill != "" && cfg.NoRefill {
		return usageError{errors.New("keys update: give --refill or --no-refill, not both")}
	}
	u.ClearCredits = cfg.NoCredits
	if cfg.Credits != "" || cfg.Refill != "" || cfg.NoRefill {
		cu := &client.CreditsUpdate{ClearRefill: cfg.NoRefill}
		if cfg.Credits != "" {
			n, err := parseCount("--credits", cfg.Credits)
			if err != nil {
				return err
			}
			cu.Remaining = &n
		}
		if cfg.Refill != "" {
			r, err := parseRefill(cfg.Refill)
			if err != nil {
				return err
			}
			cu.Refill = &r
		}
		u.Credits = cu
	}
	changes = changes || u.ClearCredits || u.Credits != nil
	if !changes {
		return usageError{errors.New("keys update: nothing to change: give at least one of --name, --permissions, --metadata, --expires-in, --expires-at, --no-expiry, --rate-limit, --no-rate-limits, --credits, --no-credits, --refill, --no-refill (see keyward keys update --help)")}
	}
	k, err := c.scope.UpdateKey(ctx, c.args[0], u, ifMatch(cfg.IfMatch)...)
	if err != nil {
		return apiError("keys update "+c.args[0], err)
	}
	return printKey(c, stdout, k)
}

// ifMatch is the call option of --if-match, if given. A bare version (3)
// is quoted, as an ETag is ("3"), so that the ETag keys get prints can be
// given either way.
func ifMatch(etag string) []client.CallOption {
	if etag == "" {
		return nil
	}
	if regexp.MustCompile(`^[0-9]+$`).MatchString(etag) {
		etag = `"` + etag + `"`
	}
	return []client.CallOption{client.IfMatch(etag)}
}

func runKeysRotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg struct {
		API     APIConfig
		Grace   string `flag:"grace" env:"-" default:"0s" usage:"how long the previous secret keeps verifying, so that the new one can be\ndeployed first: 90s, 24h, 7d (at most 7 days; 0: it stops at once)"`
		IfMatch string `flag:"if-match" env:"-" usage:"rotate only if the key is still at this version (its ETag)"`
	}
	cmd := newAPICommand("keys rotate", "Give an API key a new secret, keeping its id and settings. The new secret is\nprinted alone on stdout, once (with --output json, as \"key\"), and a note on\nstderr says so. A rotation is not retried: if its answer is lost, keys get\ntells by the hint whether it was made.", `  keyward keys rotate key-123 --grace 24h > new-secret
  keyward keys rotate key-123 --org acme --output json | jq -r .key
`, "KEY_ID")
	c, err := startAPI(cmd, &cfg, &cfg.API.Conn, &cfg.API, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	grace, err := parseDays("--grace", cfg.Grace)
	if err != nil {
		return err
	}
	k, err := c.scope.RotateKey(ctx, c.args[0], grace, ifMatch(cfg.IfMatch)...)
	if err != nil {
		return apiError("keys rotate "+c.args[0], err)
	}
	fmt.Fprintf(stderr, "Rotated key %s (%s).\n", k.ID, oneLine(k.Name))
	if k.PreviousSecretExpiresAt != nil {
		fmt.Fprintf(stderr, "The previous secret keeps working until %s.\n", exactTime(k.PreviousSecretExpiresAt, time.Now(), ""))
	} else {
		fmt.Fprintln(stderr, "The previous secret no longer works.")
	}
	fmt.Fprintln(stderr, secretWarning)
	if c.api.json() {
		return writeJSON(stdout, keyJSON{Key: k.Key, ETag: k.ETag, Secret: k.Secret.Reveal(), PreviousSecretExpiresAt: k.PreviousSecretExpiresAt})
	}
	_, err = fmt.Fprintln(stdout, k.Secret.Reveal())
	return err
}

// runKeysAction runs disable, enable and restore.
func runKeysAction(ctx context.Context, action string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg struct {
		API     APIConfig
		IfMatch string `flag:"if-match" env:"-" usage:"act only if the key is still at this version (its ETag)"`
	}
	summaries := map[string]string{
		"disable": "Disable an API key: it verifies as DISABLED and cannot authenticate until\nenabled. Prints the key.",
		"enable":  "Enable a disabled API key. Prints the key.",
		"restore": "Restore a deleted API key, with its secret and settings, within the server's\nretention (30 days by default). A root key must give --org. Prints the key.",
	}
	examples := map[string]string{
		"disable": "  keyward keys disable key-123\n  keyward keys disable key-123 --org acme --if-match 3\n",
		"enable":  "  keyward keys enable key-123\n",
		"restore": "  keyward keys list --org acme --state deleted\n  keyward keys restore key-123 --org acme\n",
	}
	cmd := newAPICommand("keys "+action, summaries[action], examples[action], "KEY_ID")
	c, err := startAPI(cmd, &cfg, &cfg.API.Conn, &cfg.API, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	do := map[string]func(context.Context, string, ...client.CallOption) (*client.Key, error){
		"disable": c.scope.DisableKey, "enable": c.scope.EnableKey, "restore": c.scope.RestoreKey,
	}[action]
	k, err := do(ctx, c.args[0], ifMatch(cfg.IfMatch)...)
	if err != nil {
		return apiError("keys "+action+" "+c.args[0], err)
	}
	return printKey(c, stdout, k)
}

func runKeysDelete(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg struct {
		API     APIConfig
		Yes     bool   `flag:"yes" env:"-" usage:"delete without asking (required when stdin is not a terminal)"`
		IfMatch string `flag:"if-match" env:"-" usage:"delete only if the key is still at this version (its ETag)"`
	}
	cmd := newAPICommand("keys delete", "Delete (revoke) an API key: it stops working on the very next request. On a\nterminal it asks first; elsewhere (a script, a pipe) it requires --yes. keys\nrestore brings it back within the server's retention (30 days by default).", `  keyward keys delete key-123
  keyward keys delete key-123 --org acme --yes
`, "KEY_ID")
	c, err := startAPI(cmd, &cfg, &cfg.API.Conn, &cfg.API, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	id := c.args[0]
	if !cfg.Yes {
		if !isTerminal(stdin) {
			return usageError{fmt.Errorf("keys delete %s: stdin is not a terminal, so there is no one to ask: give --yes to delete", id)}
		}
		k, err := c.scope.GetKey(ctx, id)
		if err != nil {
			return apiError("keys delete "+id, err)
		}
		fmt.Fprintf(stderr, "Delete key %s (%s) of organization %s? It stops working at once. [y/N] ", k.ID, oneLine(k.Name), k.OrgID)
		answer, _ := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
		default:
			return fmt.Errorf("keys delete %s: not confirmed; nothing was deleted", id)
		}
	}
	if err := c.scope.DeleteKey(ctx, id, ifMatch(cfg.IfMatch)...); err != nil {
		return apiError("keys delete "+id, err)
	}
	if c.api.json() {
		return writeJSON(stdout, struct {
			ID      string `json:"id"`
			Deleted bool   `json:"deleted"`
		}{id, true})
	}
	_, err = fmt.Fprintf(stdout, "Deleted key %s. keyward keys restore %s brings it back within the retention period.\n", id, id)
	return err
}

// parseDays reads a duration: a Go duration (90s, 12h, 1h30m) or whole
// days (30d).
func parseDays(flagName, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err == nil && days >= 0 && days <= 100*366 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, usageError{fmt.Errorf("%s %q: want a duration such as 90s, 12h or 30d", flagName, s)}
}

// parseExpiry reads --expires-in, --expires-at and --no-expiry, of which
// one at most may be given.
func parseExpiry(in, at string, never bool, now time.Time) (*time.Time, bool, error) {
	given := 0
	for _, g := range []bool{in != "", at != "", never} {
		if g {
			given++
		}
	}
	if given > 1 {
		return nil, false, usageError{errors.New("give one of --expires-in, --expires-at and --no-expiry")}
	}
	switch {
	case in != "":
		d, err := parseDays("--expires-in", in)
		if err != nil {
			return nil, false, err
		}
		if d <= 0 {
			return nil, false, usageError{fmt.Errorf("--expires-in %q: want a positive duration", in)}
		}
		t := now.Add(d).UTC().Truncate(time.Second)
		return &t, false, nil
	case at != "":
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return nil, false, usageError{fmt.Errorf("--expires-at %q: want an RFC 3339 time such as 2030-01-01T00:00:00Z", at)}
		}
		return &t, false, nil
	case never:
		return nil, true, nil
	}
	return nil, false, nil
}

// parseMetadata reads --metadata: a JSON object, or (for an update) null.
// Numbers stay json.Number, so that none loses precision on the way.
func parseMetadata(s string, nullOK bool) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, usageError{errors.New("--metadata: not a JSON object (try '{\"plan\":\"pro\"}')")}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, usageError{errors.New("--metadata: more than one JSON value")}
	}
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case nil:
		if nullOK {
			return nil, nil
		}
	}
	return nil, usageError{errors.New("--metadata: want a JSON object")}
}

// rateLimitRE is NAME=LIMIT/DURATION.
var rateLimitRE = regexp.MustCompile(`^([^=]+)=([0-9]+)/(.+)$`)

// parseRateLimit reads --rate-limit requests=100/60s.
func parseRateLimit(s string) (client.RateLimit, error) {
	m := rateLimitRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return client.RateLimit{}, usageError{fmt.Errorf("--rate-limit %q: want NAME=LIMIT/DURATION, such as requests=100/60s", s)}
	}
	n, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return client.RateLimit{}, usageError{fmt.Errorf("--rate-limit %q: the limit is not a number", s)}
	}
	d, err := parseDays("--rate-limit "+m[1], m[3])
	if err != nil {
		return client.RateLimit{}, err
	}
	return client.RateLimit{Name: m[1], Limit: n, Duration: d}, nil
}

// parseRefill reads --refill 1000/daily.
func parseRefill(s string) (client.RefillUpdate, error) {
	amount, interval, ok := strings.Cut(strings.TrimSpace(s), "/")
	if ok && (interval == client.RefillDaily || interval == client.RefillMonthly) {
		if n, err := parseCount("--refill", amount); err == nil {
			return client.RefillUpdate{Amount: n, Interval: interval}, nil
		}
	}
	return client.RefillUpdate{}, usageError{fmt.Errorf("--refill %q: want AMOUNT/daily or AMOUNT/monthly, such as 1000/daily", s)}
}

// parseCount reads a count of credits: 0 to 2^53-1.
func parseCount(flagName, s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > 1<<53-1 {
		return 0, usageError{fmt.Errorf("%s %q: want a whole number from 0 to %d", flagName, s, int64(math.Pow(2, 53))-1)}
	}
	return n, nil
}
