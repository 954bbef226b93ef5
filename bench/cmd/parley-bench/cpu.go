package main

import (
	"time"

	"parley/bench/procstat"
)

// cpuTimes returns the CPU time used so far by each of procs (with their
// children) and, as "client", by this process.
func cpuTimes(procs []procstat.Proc) (map[string]time.Duration, error) {
	times := map[string]time.Duration{"client": procstat.Self()}
	for _, p := range procs {
		d, err := procstat.Tree(p.PID)
		if err != nil {
			return nil, err
		}
		times[p.Name] = d
	}
	return times, nil
}
