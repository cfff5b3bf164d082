package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// A command's settings are the fields of a config struct, each declared in
// one line whose tags give its flag, default and help:
//
//	Addr string `flag:"addr" default:"127.0.0.1:8080" usage:"address to listen on"`
//
// so that adding a setting is adding a field. The environment variable is
// derived from the flag's name (--cache-ttl is KEYWARD_CACHE_TTL), so that
// the two cannot drift apart. A struct field without a flag tag is searched
// for flags too, so that settings shared by several commands (DBConfig) are
// declared once; any other field without a tag is not a setting. A setting
// is a string, int, bool or time.Duration, or a stringList: a flag that may
// be repeated, each value also split at commas.
//
// A setting tagged env:"-" has no environment variable: the flags of one
// operation (keys create's --name, keys delete's --yes) must not be set by
// a variable left in a shell, where they would act on every later command.

// envPrefix starts the environment variable of every setting.
const envPrefix = "KEYWARD_"

// envName is the environment variable of the flag called name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// command is the command line of one command: its flags, the positional
// arguments it takes, and its help.
type command struct {
	name    string   // as typed after keyward: "root-key revoke"
	args    []string // the positional arguments it requires, by name: "KEY_ID"
	summary string
	fs      *flag.FlagSet
	names   []string          // the flags, in declaration order
	invalid map[string]string // a flag's name → what its environment variable must hold
	fromEnv map[string]bool   // the flags whose value came from the environment
	noEnv   map[string]bool   // the flags that have no environment variable
	onLine  map[string]bool   // the flags given on the command line
	// examples, if set, are printed at the end of the help.
	examples string
	// secretArgs: the positional arguments may be secrets, which no
	// message may quote.
	secretArgs bool
}

// stringList is a flag that may be given several times; each value is
// also split at commas (--permissions read,write is --permissions read
// --permissions write). Empty parts are dropped.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// newCommand starts the command line of command name, which takes exactly
// the positional arguments named in args.
func newCommand(name, summary string, args ...string) *command {
	c := &command{
		name:    name,
		args:    args,
		summary: summary,
		fs:      flag.NewFlagSet(name, flag.ContinueOnError),
		invalid: make(map[string]string),
		fromEnv: make(map[string]bool),
		noEnv:   make(map[string]bool),
	}
	c.fs.Usage = c.usage
	return c
}

func (c *command) usage() {
	out := c.fs.Output()
	synopsis := "keyward " + c.name
	if len(c.names) > 0 {
		synopsis += " [flags]"
	}
	for _, a := range c.args {
		synopsis += " " + a
	}
	fmt.Fprintf(out, "%s\n\nUsage: %s\n", c.summary, synopsis)
	if len(c.names) > 0 {
		if len(c.args) > 0 {
			fmt.Fprintf(out, "\nFlags may come before or after %s.", strings.Join(c.args, " "))
		}
		if len(c.noEnv) == 0 {
			fmt.Fprintf(out, "\nEach flag can also be set by the environment variable shown; a flag given\non the command line wins.\n\nFlags:\n")
		} else {
			fmt.Fprintf(out, "\nA flag that shows an environment variable can also be set by it; a flag\ngiven on the command line wins.\n\nFlags:\n")
		}
		c.fs.PrintDefaults()
	}
	if c.examples != "" {
		fmt.Fprintf(out, "\nExamples:\n%s", c.examples)
	}
}

// given reports whether flag name was on the command line (not only in
// the environment).
func (c *command) given(name string) bool { return c.onLine[name] }

// register declares a flag for every tagged field of cfg, a pointer to a
// struct, and sets those fields to their defaults. A malformed tag panics:
// it is a mistake in this program, found by any test that runs the command.
func (c *command) register(cfg any) {
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	for i := range t.NumField() {
		field, value := t.Field(i), v.Field(i)
		name, ok := field.Tag.Lookup("flag")
		if !ok {
			if field.IsExported() && field.Type.Kind() == reflect.Struct {
				c.register(value.Addr().Interface())
			}
			continue
		}
		def := field.Tag.Get("default")
		usage := fmt.Sprintf("%s\n(env %s)", field.Tag.Get("usage"), envName(name))
		if field.Tag.Get("env") == "-" {
			usage = field.Tag.Get("usage")
			c.noEnv[name] = true
		}
		bad := func(err error) {
			panic(fmt.Sprintf("flag --%s: default %q: %v", name, def, err))
		}
		switch p := value.Addr().Interface().(type) {
		case *string:
			c.fs.StringVar(p, name, def, usage)
		case *time.Duration:
			var d time.Duration
			if def != "" {
				var err error
				if d, err = time.ParseDuration(def); err != nil {
					bad(err)
				}
			}
			c.fs.DurationVar(p, name, d, usage)
			c.invalid[name] = "not a duration (try 30s or 1m)"
		case *int:
			var n int
			if def != "" {
				var err error
				if n, err = strconv.Atoi(def); err != nil {
					bad(err)
				}
			}
			c.fs.IntVar(p, name, n, usage)
			c.invalid[name] = "not an integer"
		case *stringList:
			if def != "" {
				bad(errors.New("a list takes no default"))
			}
			c.fs.Var(p, name, usage)
		case *bool:
			var b bool
			if def != "" {
				var err error
				if b, err = strconv.ParseBool(def); err != nil {
					bad(err)
				}
			}
			c.fs.BoolVar(p, name, b, usage)
			c.invalid[name] = "not true or false"
		default:
			panic(fmt.Sprintf("flag --%s: field %s.%s is a %s; want string, int, bool, time.Duration or stringList", name, t.Name(), field.Name, field.Type))
		}
		c.names = append(c.names, name)
	}
}

// parse reads args: flags, before or after the positional arguments (the
// flag package alone stops at the first of these, so that a stray argument
// would silently drop the flags after it), and exactly the positional
// arguments the command takes, which it returns. "--" ends the flags.
// Then every setting not given as a flag is taken from its environment
// variable, if that is set; a bad value there is reported only then, so a
// flag on the command line makes it harmless. Help goes to stdout when
// asked for, mistakes to stderr; both are usage errors, or flag.ErrHelp.
func (c *command) parse(args []string, getenv func(string) string, stdout, stderr io.Writer) ([]string, error) {
	flags, positional := c.split(args)
	c.fs.SetOutput(stderr)
	for _, a := range flags {
		if isHelp(a) {
			c.fs.SetOutput(stdout) // asked for: print help where it can be paged
		}
	}
	if err := c.fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if len(positional) > len(c.args) {
		extra := positional[len(c.args)]
		if c.secretArgs {
			return nil, usageError{fmt.Errorf("%s: %d arguments (not shown: they may be secrets): it takes only %s (see keyward %s --help)", c.name, len(positional), strings.Join(c.args, " "), c.name)}
		}
		if len(c.args) == 0 {
			return nil, usageError{fmt.Errorf("%s: unexpected argument %q: it takes flags only (see keyward %s --help)", c.name, extra, c.name)}
		}
		return nil, usageError{fmt.Errorf("%s: unexpected argument %q: it takes only %s (see keyward %s --help)", c.name, extra, strings.Join(c.args, " "), c.name)}
	}
	if len(positional) < len(c.args) {
		return nil, usageError{fmt.Errorf("%s: missing %s (see keyward %s --help)", c.name, c.args[len(positional)], c.name)}
	}

	given := make(map[string]bool)
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	c.onLine = given
	var bad []string
	for _, name := range c.names {
		env := envName(name)
		v := getenv(env)
		if given[name] || v == "" || c.noEnv[name] {
			continue
		}
		// Only values that fail to parse are quoted, and only durations,
		// integers and booleans can fail: a URL, which may hold a
		// password, never reaches this message.
		if err := c.fs.Set(name, v); err != nil {
			bad = append(bad, fmt.Sprintf("%s=%q: %s (or give --%s)", env, v, c.invalid[name], name))
			continue
		}
		c.fromEnv[name] = true
	}
	if len(bad) > 0 {
		return nil, usageError{errors.New(strings.Join(bad, "; "))}
	}
	return positional, nil
}

// split separates args into flags (with their values) and positional
// arguments, reading them as the flag package does: a token that starts
// with "-" is a flag, which takes the next token as its value unless it
// is a boolean or has "=value"; "--" ends the flags. An unknown flag is
// kept among the flags, for Parse to report.
func (c *command) split(args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...)
		case len(a) < 2 || a[0] != '-':
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := c.fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}
