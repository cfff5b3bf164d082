package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// envFlags registers flags whose defaults come from KEYWARD_* environment
// variables, so that every setting can be given either way; a flag on the
// command line wins over the environment.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

func newEnvFlags(name, summary string, getenv func(string) string) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nUsage: keyward %s [flags]\n\nFlags (each can also be set by the environment variable shown):\n", summary, name)
		fs.PrintDefaults()
	}
	return &envFlags{fs: fs, getenv: getenv}
}

func (e *envFlags) usage(env, usage string) string {
	return fmt.Sprintf("%s\n(env %s)", usage, env)
}

func (e *envFlags) String(p *string, name, env, def, usage string) {
	if v := e.getenv(env); v != "" {
		def = v
	}
	e.fs.StringVar(p, name, def, e.usage(env, usage))
}

func (e *envFlags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v := e.getenv(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a duration (try 30s or 1m)", env, v))
		} else {
			def = d
		}
	}
	e.fs.DurationVar(p, name, def, e.usage(env, usage))
}

func (e *envFlags) Int(p *int, name, env string, def int, usage string) {
	if v := e.getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	e.fs.IntVar(p, name, def, e.usage(env, usage))
}

// Parse parses args; errors in the environment count as usage errors.
func (e *envFlags) Parse(args []string) error {
	if err := e.fs.Parse(args); err != nil {
		return err
	}
	if len(e.errs) > 0 {
		msgs := make([]string, len(e.errs))
		for i, err := range e.errs {
			msgs[i] = err.Error()
		}
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return nil
}
