#!/usr/bin/env bash
# Set up everything, ingest the demo feeds (data/feeds) into the embedded index, and serve the app.
#
#   scripts/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
.venv/bin/assistant ingest data/feeds
cat <<'MSG'

Serving the web chat at http://127.0.0.1:8000/ (HTTP API under /v1, OpenAPI at /docs). Ctrl+C stops it.
From another shell (the server owns the embedded index, so use the API):
  curl -s 'http://127.0.0.1:8000/v1/search?q=post-training+quantization+of+GPT+models&k=5'
MSG
exec .venv/bin/assistant serve
