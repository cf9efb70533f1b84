#!/usr/bin/env bash
# Set up (with dev tools and the embedded model), lint, and run the whole test suite offline.
#
#   scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --dev
.venv/bin/ruff check .
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [[ "$status" == 5 ]]; then
    echo "test: pytest collected no tests; that is a failure here" >&2
    exit 1
fi
exit "$status"
