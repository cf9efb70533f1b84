#!/usr/bin/env bash
# Create .venv and install the project with pinned dependencies (CPU only, no torch), then the
# paper reader (scripts/setup_reader.sh) and the embedded chat model (scripts/setup_llm.sh). Idempotent;
# safe to re-run.
#
#   scripts/setup.sh [--dev] [--no-llm]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

extras="" with_llm=1
for arg in "$@"; do
    case "$arg" in
        --dev) extras="[dev]" ;;
        --no-llm) with_llm=0 ;;
        *) echo "setup: unknown option $arg" >&2; exit 1 ;;
    esac
done

# uv installs about 6x faster than pip here; bootstrap it with pip when missing.
if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi
# Copies instead of hard links: NLTK (inside llama-index) refuses to open hard-linked data files.
export UV_LINK_MODE=copy
[[ -x .venv/bin/python ]] || uv venv --quiet --python 3.11 .venv
uv pip install --quiet --python .venv/bin/python -e ".${extras}"
echo "setup: python dependencies installed in .venv"

PYTHON=.venv/bin/python scripts/setup_reader.sh

if [[ "$with_llm" == 1 ]]; then
    PYTHON=.venv/bin/python scripts/setup_llm.sh
fi
