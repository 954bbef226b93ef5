#!/usr/bin/env bash
# ensure-node.sh installs Node and npm from Debian's packages when missing:
# they build the web app.
set -euo pipefail
. "$(dirname "$0")/services.sh"
ensure_node
