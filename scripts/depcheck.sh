#!/usr/bin/env bash
# depcheck.sh enforces the dependency rules of STYLE.md §1: model imports
# only the standard library, api reaches neither db nor notify, and the server
# carries no bench or test code.
set -euo pipefail
fail=0
extra=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./model | grep -vx 'parley/model' || true)
if [ -n "$extra" ]; then
	echo "depcheck: model must import only the standard library, but imports:" >&2
	echo "$extra" >&2
	fail=1
fi
bad=$(go list -deps ./api | grep -E '^parley/(db|notify)(/|$)' || true)
if [ -n "$bad" ]; then
	echo "depcheck: api must not import db or notify, but imports:" >&2
	echo "$bad" >&2
	fail=1
fi
for pkg in db notify; do
	[ -d "$pkg" ] || continue
	bad=$(go list -deps "./$pkg" | grep -E '^parley/(api|cmd)(/|$)' || true)
	if [ -n "$bad" ]; then
		echo "depcheck: $pkg must not import api or cmd, but imports:" >&2
		echo "$bad" >&2
		fail=1
	fi
done
# The product never reaches the bench tools or the test helpers: only
# tests and bench/ import internal/, and nothing outside bench/ imports it.
bad=$(go list -deps ./cmd/parley | grep -E '^parley/(bench|internal)(/|$)' || true)
if [ -n "$bad" ]; then
	echo "depcheck: the server must not import bench or internal (test helpers), but imports:" >&2
	echo "$bad" >&2
	fail=1
fi
exit $fail
