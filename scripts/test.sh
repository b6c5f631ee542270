#!/usr/bin/env bash
# The README's second command (and CI's): installs what is missing (as root), builds under
# AddressSanitizer + UndefinedBehaviorSanitizer and runs every test: unit, replay, integration.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
exec make --no-print-directory test
