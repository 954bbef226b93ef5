#!/usr/bin/env bash
# fuzz.sh [DURATION] runs every Go fuzz target in the module for DURATION
# (default 30s) each. New crashers land in the package's testdata/fuzz and
# fail the run; commit them so they become regression tests.
#
# Targets are found in the _test.go sources rather than with go test -list,
# which would build every package's test binary just to list none.
set -euo pipefail
fuzztime=${1:-30s}
go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$dir"/*_test.go 2>/dev/null); do
		echo "fuzz: $pkg $target for $fuzztime"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" </dev/null
	done
done
