package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The Lua scripts wrk runs; done.lua, which prints the BENCH_JSON line, is
// appended to each.
var (
	//go:embed lua/verify.lua
	verifyLua string
	//go:embed lua/fixed.lua
	fixedLua string
	//go:embed lua/done.lua
	doneLua string
)

// wrkLoad runs wrk: one thread (it has one CPU), --latency, the
// scenario's script.
type wrkLoad struct {
	b                   *bench
	path, version       string
	verifyScript, fixed string
}

func newWrk(b *bench, path string) (*wrkLoad, error) {
	w := &wrkLoad{b: b, path: path, version: "unknown version"}
	// wrk -v prints its version and exits with status 1.
	out, _ := exec.Command(path, "-v").CombinedOutput()
	if f := strings.Fields(string(out)); len(f) > 1 && f[0] == "wrk" {
		w.version = f[1]
	}
	w.verifyScript = filepath.Join(b.dir, "verify.lua")
	w.fixed = filepath.Join(b.dir, "fixed.lua")
	for p, src := range map[string]string{w.verifyScript: verifyLua, w.fixed: fixedLua} {
		if err := os.WriteFile(p, []byte(src+doneLua), 0o600); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *wrkLoad) describe() string {
	return fmt.Sprintf("wrk %s (%s), 1 thread, Lua scripts, closed loop", w.version, w.path)
}

// roundedDuration: wrk takes whole seconds.
func (w *wrkLoad) roundedDuration(d time.Duration) time.Duration {
	return max(time.Second, d.Round(time.Second))
}

func (w *wrkLoad) run(ctx context.Context, spec loadSpec) (loadResult, error) {
	if spec.Mode != "" {
		return loadResult{}, fmt.Errorf("wrk cannot run mode %q", spec.Mode)
	}
	secs := int(w.roundedDuration(spec.Duration) / time.Second)
	args := []string{
		"-t1", "-c" + strconv.Itoa(spec.Connections), "-d" + strconv.Itoa(secs) + "s",
		"--timeout", "10s", "--latency",
	}
	if spec.KeysFile != "" {
		if spec.Method != "POST" || spec.Body != "" || spec.TokenFile != "" {
			return loadResult{}, fmt.Errorf("wrk: a keys file goes with a plain POST")
		}
		args = append(args, "-s", w.verifyScript, spec.URL+"/", "--",
			spec.KeysFile, spec.Path, strconv.FormatUint(newSeed()%(1<<40), 10))
	} else {
		args = append(args, "-s", w.fixed, spec.URL+"/", "--", spec.Method, spec.Path, spec.TokenFile, spec.Body)
	}
	cmd := w.b.pin.command(ctx, w.b.pin.loadCPU, w.path, args...)
	return runChild(cmd, "wrk")
}
