#!/usr/bin/env bash
# The lent-GPU checks in one call (installs nothing): entropy chunk bench, then the native trainer
# on a random Qwen2.5-0.5B-shape model with and without the entropy advantage (rollout / scoring /
# update split of each step, and the ratios entropy-adv / plain).
# Usage on the device machine, from the repo root:  bash bench/gpu_check.sh [entropy|train|train-vllm|all]
#   all         entropy + train (about 6 minutes on an H100/H200)
#   train-vllm  the trainer with colocated vLLM rollouts (only where vllm is installed)
# CPU smoke test of the trainer part: python bench/train.py --qwen --layers 2 --vocab 4096 --compare --max-tokens 16
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
what="${1:-all}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
if [[ "$what" == entropy || "$what" == all ]]; then
    timeout 200 python3 bench/entropy.py --device cuda
fi
if [[ "$what" == train || "$what" == all ]]; then
    echo "== native trainer, transformers rollouts (on-device sampling), with and without the entropy advantage"
    timeout 420 python3 bench/train.py --device cuda --compare --steps 3 --rollout-backend hf
fi
if [[ "$what" == train-vllm ]]; then
    if python3 -c "import vllm" 2>/dev/null; then
        echo "== native trainer, colocated vLLM rollouts (weights pushed after every update)"
        timeout 420 python3 bench/train.py --device cuda --compare --steps 3 --rollout-backend vllm
    else
        echo "vllm is not installed here: skipped"
    fi
fi
