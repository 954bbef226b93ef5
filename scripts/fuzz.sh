#!/usr/bin/env bash
# fuzz.sh [DURATION] runs every Go fuzz target in the module for DURATION
# (default 30s) each. New crashers land in the package's testdata/fuzz and
# fail the run; commit them so they become regression tests.
#
# Targets are found in the _test.go sources rather than with go test -list,
# which would build every package's test binary just to list none.
#
# Go 1.26's fuzzing coordinator can fail a target with a bare "context
# deadline exceeded" as -fuzztime runs out, having found nothing
# (go.dev/issue/75804, fixed in Go 1.27). A failure that wrote no crasher
# and says just that is run once more; any other failure fails at once.
set -euo pipefail
fuzztime=${1:-30s}

# crashers DIR TARGET counts the inputs saved for TARGET in DIR.
crashers() {
	{ find "$1/testdata/fuzz/$2" -type f 2>/dev/null || true; } | wc -l
}

go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$dir"/*_test.go 2>/dev/null); do
		for attempt in 1 2; do
			echo "fuzz: $pkg $target for $fuzztime"
			before=$(crashers "$dir" "$target")
			out=$(mktemp)
			status=0
			go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" </dev/null 2>&1 | tee "$out" || status=$?
			after=$(crashers "$dir" "$target")
			flake=0
			if [ "$status" != 0 ] && [ "$after" = "$before" ] && grep -qx '    context deadline exceeded' "$out"; then
				flake=1
			fi
			rm -f "$out"
			[ "$status" = 0 ] && break
			if [ "$flake" = 1 ] && [ "$attempt" = 1 ]; then
				echo "fuzz: $target ended with Go's fuzztime race (go.dev/issue/75804) and no crasher; once more"
				continue
			fi
			exit "$status"
		done
	done
done
