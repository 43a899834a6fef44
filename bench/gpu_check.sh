#!/usr/bin/env bash
# The lent-GPU checks in one call (installs nothing): entropy chunk bench, then the trainer bench.
# Usage on the device machine, from the repo root:  bash bench/gpu_check.sh [entropy|train|all]
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
what="${1:-all}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
if [[ "$what" == entropy || "$what" == all ]]; then
    timeout 240 python3 bench/entropy.py --device cuda
fi
if [[ "$what" == train || "$what" == all ]]; then
    [[ -f bench/train.py ]] && timeout 240 python3 bench/train.py --device cuda
fi
