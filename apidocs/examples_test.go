package apidocs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/apidocs"
	"github.com/keyward/keyward/client"
)

// TestExamplesRun runs every operation's examples against a real Keyward,
// each as a reader would run it, with the environment the page names: the
// Go ones always (built with this module's client package), and the curl,
// Python and JavaScript ones where bash and curl, python3 with requests,
// and Node.js 18 or later are installed. Each example gets a state in
// which it must succeed (a key to get, a deleted key to restore), and must
// exit 0 and print what it was to print.
func TestExamplesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every example")
	}
	srv := newServer(t)
	ctx := context.Background()
	root, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(srv.Root))
	if err != nil {
		t.Fatal(err)
	}
	const org = "acme"
	// The caller-scoped examples act as a key of the organization holding
	// manage: it may manage the keys the test makes for them, which hold
	// less.
	admin, err := root.Org(org).CreateKey(ctx, client.KeyCreate{Name: "examples admin", Permissions: []string{"read", "write", "manage"}})
	if err != nil {
		t.Fatal(err)
	}

	// env returns the environment op's examples run in, after making the
	// state they need.
	env := func(t *testing.T, op operation) []string {
		t.Helper()
		vars := map[string]string{"KEYWARD_URL": srv.URL, "KEYWARD_ORG_ID": org}
		switch {
		case strings.HasPrefix(op.Path, "/orgs/"):
			vars["KEYWARD_API_KEY"] = srv.Root
		case strings.HasPrefix(op.Path, "/api_keys"), strings.HasPrefix(op.Path, "/audit_events"):
			vars["KEYWARD_API_KEY"] = admin.Secret.Reveal()
		}
		if strings.Contains(op.Path, "{key_id}") || op.ID == "verifyKey" {
			k, err := root.Org(org).CreateKey(ctx, client.KeyCreate{Name: "for " + op.ID, Permissions: []string{"read"}})
			if err != nil {
				t.Fatal(err)
			}
			vars["KEYWARD_KEY_ID"] = k.ID
			vars["KEYWARD_VERIFY_KEY"] = k.Secret.Reveal()
			if strings.HasSuffix(op.Path, "/restore") {
				if err := root.Org(org).DeleteKey(ctx, k.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Only these: nothing of the test's own environment may help an
		// example along.
		out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		for k, v := range vars {
			out = append(out, k+"="+v)
		}
		return out
	}

	ops := documentOperations(t)
	for _, l := range apidocs.Languages {
		t.Run(l.ID, func(t *testing.T) {
			// Each example has keys of its own: the languages need not
			// wait for each other.
			t.Parallel()
			run := runner(t, l)
			for _, op := range ops {
				t.Run(op.ID, func(t *testing.T) {
					out := run(t, op, env(t, op))
					if want := wantOutput(op); !want.MatchString(out) {
						t.Errorf("%s printed %q, want a match of %s", l.File, out, want)
					}
				})
			}
		})
	}
}

// wantOutput is what op's examples print when they succeed: enough to
// tell that the answer was read, not only that the program did not fail.
func wantOutput(op operation) *regexp.Regexp {
	switch {
	case op.ID == "verifyKey":
		return regexp.MustCompile(`(?m)^valid: |"valid":true`)
	case op.Method == "DELETE":
		return regexp.MustCompile(`(?i)deleted`)
	case op.Path == "/openapi.yaml", op.Path == "/docs", op.Path == "/healthz", op.Path == "/readyz":
		return regexp.MustCompile(`\S`)
	}
	// Everything else names a key: a key's or an event's key_id.
	return regexp.MustCompile(`key-[1-9][0-9]*`)
}

// runner returns how the examples of language l run, skipping t where its
// tools are missing (the Go ones need only the go command that runs the
// test).
func runner(t *testing.T, l apidocs.Language) func(t *testing.T, op operation, env []string) string {
	t.Helper()
	var command func(dir string) []string
	switch l.ID {
	case "go":
		bin := buildGoExamples(t)
		return func(t *testing.T, op operation, env []string) string {
			t.Helper()
			return runExample(t, env, "", bin, op.ID)
		}
	case "curl":
		need(t, "bash", "curl")
		command = func(dir string) []string {
			return []string{"bash", "-eu", "-o", "pipefail", filepath.Join(dir, l.File)}
		}
	case "python":
		need(t, "python3")
		// The interpreter itself, not a version manager's shim in front of
		// it, which may take a second to start each time.
		out, err := exec.Command("python3", "-c", "import requests, sys; print(sys.executable)").CombinedOutput()
		if err != nil {
			t.Skipf("python3 has no requests: %s", out)
		}
		python := strings.TrimSpace(string(out))
		command = func(dir string) []string { return []string{python, filepath.Join(dir, l.File)} }
	case "javascript":
		need(t, "node")
		out, err := exec.Command("node", "-e", "process.exit(typeof fetch === 'function' ? 0 : 1)").CombinedOutput()
		if err != nil {
			t.Skipf("node has no fetch (Node.js 18 or later has): %s %v", out, err)
		}
		command = func(dir string) []string { return []string{"node", filepath.Join(dir, l.File)} }
	default:
		t.Fatalf("no runner for %s", l.ID)
	}
	return func(t *testing.T, op operation, env []string) string {
		t.Helper()
		args := command(filepath.Join("examples", op.ID))
		return runExample(t, env, "", args[0], args[1:]...)
	}
}

// need skips t unless every command is on the PATH.
func need(t *testing.T, commands ...string) {
	t.Helper()
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s is not installed", c)
		}
	}
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// buildGoExamples builds every Go example, with this module's client,
// into one program that runs the example its first argument names (each
// a binary of its own would take a link each, a minute in all on a busy
// machine). Each example's main becomes a function of that program, named
// by its operation, its code otherwise untouched; the program exists only
// in the go command's -overlay, never in the source tree.
func buildGoExamples(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	dirs, err := os.ReadDir("examples")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(filepath.Join("examples", "zz_all"))
	if err != nil {
		t.Fatal(err)
	}
	overlay := map[string]string{}
	dispatch := "package main\n\nimport \"os\"\n\nvar examples = map[string]func(){\n"
	for _, d := range dirs {
		op := d.Name()
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join("examples", op, "main.go"), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		renamed := false
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "main" {
				fn.Name.Name = "example_" + op
				renamed = true
			}
		}
		if f.Name.Name != "main" || !renamed {
			t.Fatalf("examples/%s/main.go is not a package main with a func main", op)
		}
		var src bytes.Buffer
		if err := format.Node(&src, fset, f); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(tmp, op+".go")
		if err := os.WriteFile(file, src.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		overlay[filepath.Join(abs, op+".go")] = file
		dispatch += fmt.Sprintf("\t%q: example_%s,\n", op, op)
	}
	dispatch += "}\n\nfunc main() {\n\tname := os.Args[1]\n\tos.Args = os.Args[:1]\n\texamples[name]()\n}\n"
	file := filepath.Join(tmp, "dispatch.go")
	if err := os.WriteFile(file, []byte(dispatch), 0o644); err != nil {
		t.Fatal(err)
	}
	overlay[filepath.Join(abs, "dispatch.go")] = file
	b, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "examples"+exeSuffix())
	cmd := exec.Command("go", "build", "-overlay", overlayFile, "-o", bin, "./examples/zz_all")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the Go examples: %v\n%s", err, out)
	}
	return bin
}

// runExample runs name with args in env, and fails t unless it exits 0
// within a minute. It returns what it printed on stdout.
func runExample(t *testing.T, env []string, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env, cmd.Dir = env, dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", strings.Join(append([]string{name}, args...), " "), err, redactSecrets(stdout.String()), redactSecrets(stderr.String()))
	}
	return redactSecrets(stdout.String())
}

// redactSecrets masks the secrets a create or a rotation prints (curl
// prints the whole answer), so that no test log holds one.
func redactSecrets(s string) string {
	return secretShaped.ReplaceAllStringFunc(s, func(m string) string { return fmt.Sprintf("%.7s[REDACTED]", m) })
}
