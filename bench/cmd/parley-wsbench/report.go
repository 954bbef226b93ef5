package main

import (
	"fmt"
	"io"
	"strings"
)

// A result is one row of the summary; pass is nil for a figure with no
// target.
type result struct {
	scenario string
	figure   string
	value    string
	target   string
	pass     *bool
	line     string // the scenario's WSBENCH line, on its first row
}

// row adds a summary row.
func (b *bench) row(scenario, figure, value, target string, pass *bool) {
	b.results = append(b.results, result{scenario: scenario, figure: figure, value: value, target: target, pass: pass})
}

// check adds a row with a target and reports whether it passed.
func (b *bench) check(scenario, figure, value, target string, ok bool) bool {
	b.row(scenario, figure, value, target, &ok)
	return ok
}

// machine records a scenario's machine-readable line.
func (b *bench) machine(scenario string, kv ...any) {
	var sb strings.Builder
	sb.WriteString("WSBENCH " + scenario)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&sb, " %v=%v", kv[i], kv[i+1])
	}
	if len(kv)%2 == 1 { // a preformatted tail, such as cpuSince's
		fmt.Fprintf(&sb, " %v", kv[len(kv)-1])
	}
	b.results = append(b.results, result{scenario: scenario, line: sb.String()})
}

// printResults prints the summary table and the WSBENCH lines, and reports
// whether any target was missed.
func (b *bench) printResults(w io.Writer) (failed bool) {
	const f = "%-9s %-44s %16s %12s %s\n"
	fmt.Fprintln(w)
	fmt.Fprintf(w, f, "scenario", "figure", "value", "target", "result")
	for _, r := range b.results {
		if r.line != "" {
			continue
		}
		verdict := "-"
		if r.pass != nil {
			verdict = "PASS"
			if !*r.pass {
				verdict = "FAIL"
				failed = true
			}
		}
		target := r.target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(w, f, r.scenario, r.figure, r.value, target, verdict)
	}
	fmt.Fprintln(w)
	for _, r := range b.results {
		if r.line != "" {
			fmt.Fprintln(w, r.line)
		}
	}
	return failed
}

// pct returns the p-th percentile (0-100) of sorted, nearest rank.
func pct(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// ms formats ns as milliseconds.
func ms(ns int64) string { return fmt.Sprintf("%.2f", float64(ns)/1e6) }
