#!/usr/bin/env bash
# depcheck.sh enforces the dependency rules of STYLE.md §1: model imports
# only the standard library, api reaches neither db nor notify, the server
# carries no bench or test code, and the clients (client, tui) reach the
# server only over the wire.
set -euo pipefail
fail=0
extra=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./model | grep -vx 'parley/model' || true)
if [ -n "$extra" ]; then
	echo "depcheck: model must import only the standard library, but imports:" >&2
	echo "$extra" >&2
	fail=1
fi
bad=$(go list -deps ./api | grep -E '^parley/(db|notify)(/|$)|^github.com/coder/websocket(/|$)' || true)
if [ -n "$bad" ]; then
	echo "depcheck: api must not import db, notify or the WebSocket library (the transport is notify's), but imports:" >&2
	echo "$bad" >&2
	fail=1
fi
# Each server package and the packages of ours it may import (README,
# "Architecture"): PACKAGE ALLOWED, ALLOWED a regular expression of import
# paths. db, notify, auth and ratelimit never import each other, api or cmd.
allow() {
	local pkg=$1 allowed=$2 bad
	bad=$(go list -deps "./$pkg" | grep -E '^parley(/|$)' | grep -vxE "parley/$pkg|$allowed" || true)
	if [ -n "$bad" ]; then
		echo "depcheck: $pkg may import only ($allowed) of ours, but imports:" >&2
		echo "$bad" >&2
		fail=1
	fi
}
allow db 'parley/model'
allow notify 'parley/model'
allow auth 'parley/model'
allow ratelimit 'parley/model'
allow static ''
allow api 'parley|parley/model|parley/auth'

# push delivers to endpoints and knows only model; jobs runs the tasks
# through the interfaces it declares, so cmd/parley alone wires db, notify
# and push into it.
bad=$(go list -deps ./push | grep -E '^parley/' | grep -vx -e 'parley/push' -e 'parley/model' || true)
if [ -n "$bad" ]; then
	echo "depcheck: push must import only model of ours, but imports:" >&2
	echo "$bad" >&2
	fail=1
fi
bad=$(go list -deps ./jobs | grep -E '^parley/(api|cmd|db|notify)(/|$)' || true)
if [ -n "$bad" ]; then
	echo "depcheck: jobs must not import api, cmd, db or notify, but imports:" >&2
	echo "$bad" >&2
	fail=1
fi
# client speaks to a server only over the wire: besides the standard
# library it imports model and the WebSocket library, so that anything
# (the terminal client, tests, other programs) can use it.
extra=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./client |
	grep -vxE 'parley/(client|model)|github.com/coder/websocket(/.*)?' || true)
if [ -n "$extra" ]; then
	echo "depcheck: client must import only model and coder/websocket, but imports:" >&2
	echo "$extra" >&2
	fail=1
fi
# The terminal UI is a client: it reaches the server through client only.
bad=$(go list -deps ./tui | grep -E '^parley/' | grep -vxE 'parley/(tui|client|model)' || true)
if [ -n "$bad" ]; then
	echo "depcheck: tui must import only client and model of ours, but imports:" >&2
	echo "$bad" >&2
	fail=1
fi
# The product never reaches the bench tools or the test helpers: only
# tests and bench/ import internal/, and nothing outside bench/ imports it.
bad=$(go list -deps ./cmd/parley | grep -E '^parley/(bench|internal)(/|$)' || true)
if [ -n "$bad" ]; then
	echo "depcheck: the server must not import bench or internal (test helpers), but imports:" >&2
	echo "$bad" >&2
	fail=1
fi
exit $fail
