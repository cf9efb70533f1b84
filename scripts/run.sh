#!/usr/bin/env bash
# Set up everything, ingest the demo feeds (data/feeds) into the embedded index, and show how to ask.
#
#   scripts/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
.venv/bin/assistant ingest data/feeds
cat <<'MSG'

Ready. Activate the environment and ask:
  source .venv/bin/activate
  assistant search "post-training quantization of GPT models" -k 5
  assistant ask "Which papers speed up diffusion transformer training by aligning with vision encoders?"
MSG
