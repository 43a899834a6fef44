#!/usr/bin/env bash
# Create (or reuse) the separate veRL environment .venv-verl used by tests/verl_env/.
#
# verl 0.9.1 pins transformers >=5.5.3,<5.11, tensordict <=0.10 and needs ray[default] and
# hydra-core; the main .venv has transformers 5.24, so veRL gets its own virtualenv. torch is
# installed first and pinned (2.13.0, the CPU wheel on our machines) so nothing can pull a
# CUDA build; verl's base requirements leave torch unpinned (only its [fsdp]/[vllm] extras pin
# a CUDA stack, which a CPU machine cannot use anyway). math-verify comes with its antlr4 4.9.3
# extra: hydra/omegaconf pin antlr4-python3-runtime 4.9.*, math-verify's default (4.13.2)
# would break them. The project is installed with --no-deps, so `import verl` finds its
# `verl.plugins` entry point (entropykit.train.verl_plugin).
# Idempotent: a finished environment is recognised by a stamp file holding this script's hash.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VERL_VENV:-$ROOT/.venv-verl}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.entropykit-verl-ready"
VERL_SPEC="verl[verl-core]==0.9.1"  # verl-core: what main_ppo and its workers import (uvicorn, TransferQueue, ...)
TORCH_SPEC="torch==2.13.0"
want="$(sha256sum "$ROOT/scripts/setup_verl.sh" | cut -d' ' -f1)"

if [[ "$(cat "$STAMP" 2>/dev/null)" == "$want" ]] && "$VENV/bin/python" -c "import verl, torch, math_verify, entropykit" 2>/dev/null; then
    # Reinstall the project itself (cheap) so an edited checkout and its entry points are picked up.
    if ! "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" >"$VENV/reinstall.log" 2>&1; then
        tail -n 20 "$VENV/reinstall.log" >&2
        exit 1
    fi
    echo "setup_verl: reusing $VENV"
    exit 0
fi

start=$(date +%s)
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
install_all() {  # explicit returns: errexit does not apply inside `if !`
    "${PIP[@]}" install -q --upgrade pip setuptools wheel || return 1
    "${PIP[@]}" install -q "$TORCH_SPEC" || return 1
    "${PIP[@]}" install -q "$VERL_SPEC" "$TORCH_SPEC" || return 1
    # torchcodec's PyPI build does not load beside the CPU torch; verl imports it only for video.
    "${PIP[@]}" uninstall -y -q torchcodec 2>/dev/null || true
    # What entropykit's core + the tests import, without letting pip touch torch/transformers.
    "${PIP[@]}" install -q "$TORCH_SPEC" "math-verify[antlr4_9_3]>=0.7" "typer>=0.12" "rich>=13.0" \
        "platformdirs>=4.0" "pytest>=8" "pytest-timeout>=2.3" || return 1
    "${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT" || return 1
    # Every installed package's requirements hold, except entropykit's own (installed --no-deps:
    # the analysis tool's libraries are not needed here).
    local broken
    broken="$("$VENV/bin/python" -m pip check | grep -v -e '^entropykit ' -e '^No broken requirements' || true)"
    [[ -z "$broken" ]] || { echo "$broken"; return 1; }
}
echo "setup_verl: building $VENV (first time: a few minutes; log: $VENV/setup.log)" >&2
if ! install_all >"$VENV/setup.log" 2>&1; then
    tail -n 30 "$VENV/setup.log" >&2
    echo "setup_verl: installation failed (full log: $VENV/setup.log)" >&2
    exit 1
fi
"$VENV/bin/python" -c "import verl, torch, transformers; print('setup_verl: verl', verl.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
echo "$want" > "$STAMP"
echo "setup_verl: ready at $VENV in $(( $(date +%s) - start )) s"
