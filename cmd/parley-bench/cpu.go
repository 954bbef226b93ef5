package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a process whose CPU time a phase reports per request.
type proc struct {
	name string
	pid  int
}

// parseProcs reads -cpu: name=pid pairs separated by commas.
func parseProcs(s string) ([]proc, error) {
	var procs []proc
	for kv := range strings.SplitSeq(s, ",") {
		if kv == "" {
			continue
		}
		name, pidStr, ok := strings.Cut(kv, "=")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || name == "" || name == "client" {
			return nil, fmt.Errorf("-cpu: %q is not name=pid", kv)
		}
		procs = append(procs, proc{name, pid})
	}
	return procs, nil
}

// cpuTimes returns the CPU time used so far by each of procs and, as
// "client", by this process (which includes the server with -serve-dsn).
func cpuTimes(procs []proc) (map[string]time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return nil, err
	}
	times := map[string]time.Duration{
		"client": time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
	}
	for _, p := range procs {
		d, err := treeCPU(p.pid)
		if err != nil {
			return nil, err
		}
		times[p.name] = d
	}
	return times, nil
}

// treeCPU returns the CPU time of process pid, of its children that have
// exited, and of its live children: for a PostgreSQL postmaster, that is
// the whole cluster.
func treeCPU(pid int) (time.Duration, error) {
	total, err := statCPU(pid, true)
	if err != nil {
		return 0, err
	}
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	for _, c := range strings.Fields(string(children)) {
		child, _ := strconv.Atoi(c)
		d, err := statCPU(child, false)
		if err != nil {
			continue // it exited meanwhile; the parent's counters have it now
		}
		total += d
	}
	return total, nil
}

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's times.
const clockTick = 10 * time.Millisecond

// statCPU reads utime+stime of pid from /proc, plus cutime+cstime (its
// waited-for children) if reaped is set.
func statCPU(pid int, reaped bool) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; fields follow it.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	n := 2 // utime and stime, fields 14 and 15 of stat, 12 and 13 after the name
	if reaped {
		n = 4
	}
	var ticks int64
	for _, s := range f[11 : 11+n] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}
