#!/usr/bin/env bash
# The main job on the embedded default model (SmolLM2-135M-Instruct), offline, on a CPU:
# score the bundled sample responses, analyze them, and sample/verify/score pass@k on the
# bundled easy problems. Results land in runs/demo/. Extra arguments go to `entropykit demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/entropykit" demo "$@"
