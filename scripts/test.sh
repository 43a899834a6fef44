#!/usr/bin/env bash
# The whole test suite on a fresh machine: sets up .venv/ (and .venv-vllm/ for the real-vLLM
# tests, .venv-verl/ for the real-veRL tests, and Debian's chromium for the report browser
# tests), then runs pytest in each.
# Extra arguments go to the main pytest run (e.g. -k entropy, -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]]; then
        echo "test: installing Debian chromium for the browser tests" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
    else
        echo "test: chromium missing and not root; install it (apt-get install chromium) for the browser tests" >&2
    fi
fi
bash scripts/setup_vllm.sh
bash scripts/setup_verl.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 tests --ignore=tests/vllm_env --ignore=tests/verl_env "$@"
ENTROPYKIT_REQUIRE_VLLM=1 .venv-vllm/bin/python -m pytest -q -p no:cacheprovider tests/vllm_env
ENTROPYKIT_REQUIRE_VERL=1 .venv-verl/bin/python -m pytest -q -p no:cacheprovider -p no:asyncio tests/verl_env
