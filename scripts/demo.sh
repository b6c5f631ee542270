#!/usr/bin/env bash
# The README's first command: installs what is missing (as root), builds, and runs the
# embedded demo: a live autoscaling loop with no outside service. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
make --no-print-directory all
exec build/autoscaler demo "$@"
