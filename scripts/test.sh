#!/usr/bin/env bash
# Set up (with dev tools and the embedded model), lint, and run the whole test suite offline.
#
#   scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --dev
# The web chat's end-to-end test drives Debian's Chromium (never `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
    else
        sudo sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium' >/dev/null
    fi
fi
.venv/bin/ruff check .
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [[ "$status" == 5 ]]; then
    echo "test: pytest collected no tests; that is a failure here" >&2
    exit 1
fi
exit "$status"
