#!/usr/bin/env bash
# fuzz.sh [DURATION] runs every Go fuzz target in the module for DURATION
# (default 30s) each. New crashers land in the package's testdata/fuzz and
# fail the run; commit them so they become regression tests.
set -euo pipefail
fuzztime=${1:-30s}
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target for $fuzztime"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"
	done
done
