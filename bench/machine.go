package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// machineInfo is what the report says of the machine.
type machineInfo struct {
	CPU      string
	CPUs     int // runtime.NumCPU: the CPUs this process may use
	MemBytes int64
	Kernel   string
	Go       string
}

func describeMachine() machineInfo {
	m := machineInfo{CPU: "unknown CPU", CPUs: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) == 2 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemBytes = kb << 10
				}
			}
		}
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	} else {
		m.Kernel = runtime.GOOS
	}
	return m
}

func (m machineInfo) String() string {
	mem := "unknown RAM"
	if m.MemBytes > 0 {
		mem = fmt.Sprintf("%.1f GiB RAM", float64(m.MemBytes)/(1<<30))
	}
	return fmt.Sprintf("%s, %d CPUs, %s; %s; %s", m.CPU, m.CPUs, mem, m.Kernel, m.Go)
}

// loadAverage is the 1, 5 and 15 minute load averages, at the start of
// the run: other work on the machine skews every figure.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ") + " (1, 5, 15 min) at the start"
	}
	return "unknown"
}
