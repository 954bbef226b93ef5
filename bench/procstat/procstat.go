// Package procstat reads the CPU time of processes from Linux's /proc, for
// the load generators of make bench (bench/cmd/parley-bench, bench/cmd/parley-wsbench),
// which report CPU per request or per delivery for every process involved.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a process named on a load generator's command line.
type Proc struct {
	Name string
	PID  int
}

// Parse reads name=pid pairs separated by commas, as given to flag; self is
// the name the load generator reports itself by, which no pair may take.
func Parse(s, flag, self string) ([]Proc, error) {
	var procs []Proc
	for kv := range strings.SplitSeq(s, ",") {
		if kv == "" {
			continue
		}
		name, pidStr, ok := strings.Cut(kv, "=")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || name == "" || name == self {
			return nil, fmt.Errorf("-%s: %q is not name=pid", flag, kv)
		}
		procs = append(procs, Proc{name, pid})
	}
	return procs, nil
}

// Self returns the CPU time this process has used.
func Self() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Tree returns the CPU time of process pid, of its children that have
// exited, and of its live children: for a PostgreSQL postmaster, that is
// the whole cluster.
func Tree(pid int) (time.Duration, error) {
	total, err := CPU(pid, true)
	if err != nil {
		return 0, err
	}
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	for _, c := range strings.Fields(string(children)) {
		child, _ := strconv.Atoi(c)
		d, err := CPU(child, false)
		if err != nil {
			continue // it exited meanwhile; the parent's counters have it now
		}
		total += d
	}
	return total, nil
}

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's times.
const clockTick = 10 * time.Millisecond

// CPU reads utime+stime of pid from /proc, plus cutime+cstime (its
// waited-for children) if reaped is set.
func CPU(pid int, reaped bool) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; fields follow it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	n := 2 // utime and stime, fields 14 and 15 of stat, 12 and 13 after the name
	if reaped {
		n = 4
	}
	var ticks int64
	for _, v := range f[11 : 11+n] {
		t, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += t
	}
	return time.Duration(ticks) * clockTick, nil
}
