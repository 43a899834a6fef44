#!/usr/bin/env bash
# The main job on the embedded default model (SmolLM2-135M-Instruct), offline, on a CPU:
# score the bundled sample responses; sample MATH-500 problems at temperatures 0.6 and 1.0
# (passk: math-verify, pass@k); analyze each set with the model that wrote it (rare behaviors
# against the reference solutions); compare the two (paper Figure 8). Results land in
# runs/demo/. Extra arguments go to `entropykit demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/entropykit" demo "$@"
