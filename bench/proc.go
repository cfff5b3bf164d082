package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Environment variables of the hidden modes.
const (
	envBare = "KEYWARD_BENCH_BARE" // path of a bareConfig: serve it
	envLoad = "KEYWARD_BENCH_LOAD" // a loadSpec as JSON: run it, print BENCH_JSON
)

// proc is a child process: keyward, the bare server or a load generator.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser // closing it stops the bench's own children
	done  chan struct{}  // closed when the process has exited
	err   error          // Wait's error, once done
	set   *procSet
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end (its stdin closes, then SIGTERM) and kills
// it if it has not ended within timeout.
func (p *proc) stop(timeout time.Duration) error {
	defer p.set.remove(p)
	if p.exited() {
		return nil
	}
	if p.stdin != nil {
		p.stdin.Close()
	}
	_ = resume(p) // a paused process would not see SIGTERM
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		var exit *exec.ExitError
		if errors.As(p.err, &exit) && !exit.Exited() {
			return nil // ended by our signal
		}
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v: killed", p.name, timeout)
	}
}

// procSet holds the running children so that every exit path, SIGINT
// included, stops them.
type procSet struct {
	mu    sync.Mutex
	procs map[*proc]bool
}

func newProcSet() *procSet { return &procSet{procs: make(map[*proc]bool)} }

func (s *procSet) remove(p *proc) {
	s.mu.Lock()
	delete(s.procs, p)
	s.mu.Unlock()
}

// stopAll stops every child still running.
func (s *procSet) stopAll(log io.Writer) {
	s.mu.Lock()
	ps := make([]*proc, 0, len(s.procs))
	for p := range s.procs {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		if !p.exited() {
			fmt.Fprintf(log, "bench: stopping %s (pid %d)\n", p.name, p.pid())
		}
		if err := p.stop(20 * time.Second); err != nil {
			fmt.Fprintf(log, "bench: %v\n", err)
		}
	}
}

// start starts cmd as a tracked child. The child is killed if this
// process dies (parentDeathSignal), and stopped by stopAll.
func (s *procSet) start(name string, cmd *exec.Cmd, withStdin bool) (*proc, error) {
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), set: s}
	setParentDeathSignal(cmd)
	if withStdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		p.stdin = w
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s.mu.Lock()
	s.procs[p] = true
	s.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// childEnv is this process's environment without the variables that would
// change what a child does: the hidden modes' and keyward's own settings
// (a stray KEYWARD_CACHE_TTL would skew the figures), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KEYWARD_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// pinning says where the server and the load generator run.
type pinning struct {
	taskset             string // path of taskset; "" when not pinning
	serverCPU, loadCPU  int
	why                 string // why not, when not pinning
	allowedCPUs, numCPU int
}

// choosePinning pins the server to the first CPU this process may use and
// the load generator to the second, when taskset exists and there are two.
func choosePinning(want bool) pinning {
	cpus := allowedCPUs()
	p := pinning{allowedCPUs: len(cpus), numCPU: runtime.NumCPU()}
	switch {
	case !want:
		p.why = "disabled by --pin=false"
	case len(cpus) < 2:
		p.why = fmt.Sprintf("only %d CPU available", len(cpus))
	default:
		path, err := exec.LookPath("taskset")
		if err != nil {
			p.why = "taskset not found"
			break
		}
		p.taskset, p.serverCPU, p.loadCPU = path, cpus[0], cpus[1]
	}
	return p
}

func (p pinning) enabled() bool { return p.taskset != "" }

func (p pinning) describe() string {
	if !p.enabled() {
		return "none (" + p.why + "): server and load generator share all CPUs"
	}
	return fmt.Sprintf("yes (taskset): server under test on CPU %d, load generator on CPU %d", p.serverCPU, p.loadCPU)
}

// command returns the command running name args on cpu, under taskset when
// pinning. taskset execs the program, so the pid is the program's.
func (p pinning) command(ctx context.Context, cpu int, name string, args ...string) *exec.Cmd {
	if !p.enabled() {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, p.taskset, append([]string{"-c", strconv.Itoa(cpu), name}, args...)...)
}

// allowedCPUs lists the CPUs this process may run on, from
// /proc/self/status; or 0..NumCPU-1 where that cannot be read.
func allowedCPUs() []int {
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range strings.Lines(string(data)) {
			v, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
			if !ok {
				continue
			}
			if cpus, ok := parseCPUList(strings.TrimSpace(v)); ok {
				return cpus
			}
		}
	}
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

// parseCPUList parses a list such as "0-3,6,8-9".
func parseCPUList(s string) ([]int, bool) {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, false
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, len(cpus) > 0
}

// buildKeyward builds ./cmd/keyward of the module this is run in.
func buildKeyward(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module: run the bench from a clone of keyward")
	}
	root := filepath.Dir(gomod)
	bin := filepath.Join(dir, "keyward")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/keyward")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keyward in %s: %w\n%s", root, err, stderr.String())
	}
	return bin, nil
}
