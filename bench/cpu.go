package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// cpuUse is where CPU time went during a measured run: the server
// process's own use, and how busy the server's and the load generator's
// CPUs were (whoever used them). A server below 100% of its CPU while the
// load generator's CPU is full means the generator, not the server, set
// the pace; a busy server CPU that the server did not use means other
// processes on the machine interfered.
type cpuUse struct {
	OK         bool
	Server     float64 // the server process, in CPUs (1 = one CPU all the time)
	Gen        float64 // the load generator process, in CPUs; -1 if unknown
	ServerCPU  float64 // the server's CPU, busy fraction; -1 when not pinned
	LoadGenCPU float64 // the load generator's CPU, busy fraction; -1 when not pinned
}

type cpuSample struct {
	at        time.Time
	procTicks uint64
	busy      map[int]uint64 // per CPU, in ticks
	total     map[int]uint64
	ok        bool
}

// clockTicks is USER_HZ, the unit of /proc's CPU times.
var clockTicks = func() float64 {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
}()

func sampleCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now(), busy: map[int]uint64{}, total: map[int]uint64{}}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return s
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return s
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s
	}
	s.procTicks = ut + st
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	for line := range strings.Lines(string(stat)) {
		rest, ok := strings.CutPrefix(line, "cpu")
		if !ok || rest == "" || rest[0] < '0' || rest[0] > '9' {
			continue
		}
		f := strings.Fields(rest)
		cpu, err := strconv.Atoi(f[0])
		if err != nil || len(f) < 5 {
			continue
		}
		var total, idle uint64
		for j, v := range f[1:] {
			if j >= 8 { // guest times are already in user and nice
				break
			}
			n, _ := strconv.ParseUint(v, 10, 64)
			total += n
			if j == 3 || j == 4 { // idle, iowait
				idle += n
			}
		}
		s.busy[cpu], s.total[cpu] = total-idle, total
	}
	s.ok = true
	return s
}

// cpuBetween is the use between two samples of the same server, during
// which the load generator ran r.
func cpuBetween(a, b cpuSample, p pinning, r loadResult) cpuUse {
	if !a.ok || !b.ok {
		return cpuUse{}
	}
	wall := b.at.Sub(a.at).Seconds()
	u := cpuUse{OK: true, Gen: -1, ServerCPU: -1, LoadGenCPU: -1}
	if r.GenWall > 0 {
		u.Gen = r.GenCPU.Seconds() / r.GenWall.Seconds()
	}
	u.Server = float64(b.procTicks-a.procTicks) / clockTicks / wall
	busy := func(cpu int) float64 {
		t := b.total[cpu] - a.total[cpu]
		if t == 0 {
			return -1
		}
		return float64(b.busy[cpu]-a.busy[cpu]) / float64(t)
	}
	if p.enabled() {
		u.ServerCPU, u.LoadGenCPU = busy(p.serverCPU), busy(p.loadCPU)
	}
	return u
}
