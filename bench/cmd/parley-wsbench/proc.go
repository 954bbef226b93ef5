package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"parley/bench/procstat"
)

// pidOf returns the pid named name on -pids, or 0.
func (b *bench) pidOf(name string) int {
	for _, p := range b.o.procs {
		if p.Name == name {
			return p.PID
		}
	}
	return 0
}

// usage is what processes had used at one moment: CPU time, and the read
// and write system calls of the instances (from /proc/pid/io), which show
// how many frames each write or read carries.
type usage struct {
	cpu  map[string]time.Duration
	sysc map[string][2]int64 // syscr, syscw
}

// cpuTimes returns the CPU time used so far by each process on -pids and,
// as "gen", by this load generator.
func (b *bench) cpuTimes() usage {
	u := usage{
		cpu:  map[string]time.Duration{"gen": procstat.Self()},
		sysc: map[string][2]int64{},
	}
	for _, p := range b.o.procs {
		u.cpu[p.Name], _ = procstat.CPU(p.PID, false) // 0 once it has exited
		u.sysc[p.Name] = syscalls(p.PID)
	}
	u.sysc["gen"] = syscalls(os.Getpid())
	return u
}

// syscalls returns the read and write system calls pid has made, from
// /proc/pid/io, or zeros.
func syscalls(pid int) [2]int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return [2]int64{}
	}
	var out [2]int64
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "syscr":
			out[0] = n
		case "syscw":
			out[1] = n
		}
	}
	return out
}

// cpuSince formats the CPU each process used since before, as a share of
// wall, e.g. "cpu_a=0.82 cpu_b=0.40" (1.00 is one core busy).
func (b *bench) cpuSince(before usage, wall time.Duration) string {
	after := b.cpuTimes()
	var sb strings.Builder
	names := []string{"gen"}
	for _, p := range b.o.procs {
		names = append(names, p.Name)
	}
	for _, n := range names {
		fmt.Fprintf(&sb, " cpu_%s=%.2f", n, float64(after.cpu[n]-before.cpu[n])/float64(wall))
	}
	for _, n := range names {
		if s1, ok := after.sysc[n]; ok && s1 != [2]int64{} {
			s0 := before.sysc[n]
			fmt.Fprintf(&sb, " syscr_%s=%d syscw_%s=%d", n, s1[0]-s0[0], n, s1[1]-s0[1])
		}
	}
	return strings.TrimSpace(sb.String())
}

// procStatus returns the fields of /proc/pid/status in kB or counts:
// VmRSS, VmHWM, Threads.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS", "VmHWM", "Threads", "RssAnon":
			fs := strings.Fields(v)
			if len(fs) > 0 {
				n, _ := strconv.ParseInt(fs[0], 10, 64)
				out[k] = n
			}
		}
	}
	return out, sc.Err()
}

// fdCount returns how many files pid has open, or -1.
func fdCount(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// cpuUsed returns the CPU time each process used since before.
func (b *bench) cpuUsed(before usage) map[string]time.Duration {
	after := b.cpuTimes()
	d := map[string]time.Duration{}
	for n, t := range after.cpu {
		d[n] = t - before.cpu[n]
	}
	return d
}
