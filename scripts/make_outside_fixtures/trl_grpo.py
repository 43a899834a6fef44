"""TRL GRPOTrainer completions parquet + trainer_state.json, written by TRL itself.

Run with a throw-away venv (see README.md):
    OMP_NUM_THREADS=1 /tmp/fx-trl/bin/python scripts/make_outside_fixtures/trl_grpo.py

A tiny random 1-layer Llama with SmolLM2's tokenizer is trained for 2 GRPO steps on CPU, once on a
conversational dataset (system + user messages) and once on a plain-text one. With
`log_completions=True`, TRL's GRPOTrainer.log() writes
`<output_dir>/completions/completions_<global_step:05d>.parquet` (pandas DataFrame.to_parquet) on
every logging step. A random model writes noise, so generation goes through TRL's documented
`rollout_func` hook: it returns the token ids of replies written in common.py (a scripted policy);
everything else (decoding of completions, reward functions, advantages, the loss, the logging and
the parquet/trainer_state files) is TRL's own code path.
"""
from __future__ import annotations

import os
import shutil
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from common import OUT, PROBLEMS, REPLIES, SYSTEM, build_tiny_model, fresh_dir, lenient_reward, load_tokenizer  # noqa: E402

torch.set_num_threads(1)
WORK = Path(os.environ.get("FX_WORK", "/tmp/fx-work/trl"))
BY_QUESTION = {q: pid for pid, q, _ in PROBLEMS}


def _question_of(prompt) -> str:
    if isinstance(prompt, list):  # conversational: the last user turn
        return [m for m in prompt if m["role"] == "user"][-1]["content"]
    return prompt.split("Question: ", 1)[-1].split("\n", 1)[0]


def _text_of(completion) -> str:
    return completion[0]["content"] if isinstance(completion, list) else completion


def accuracy_reward(completions, answer, **kwargs):
    """The kind of reward many GRPO recipes use: last number in the reply equals the gold."""
    return [lenient_reward(_text_of(c), a) for c, a in zip(completions, answer)]


def format_reward(completions, **kwargs):
    return [1.0 if "\\boxed{" in _text_of(c) else 0.0 for c in completions]


def make_rollout(tokenizer):
    seen = defaultdict(int)  # how many replies each problem already got (GRPO group index)

    def rollout_func(prompts, trainer):
        prompt_ids, completion_ids, logprobs = [], [], []
        for p in prompts:
            if isinstance(p, list):
                ids = tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
            else:
                ids = tokenizer(p)["input_ids"]
            pid = BY_QUESTION[_question_of(p)]
            reply = REPLIES[pid][seen[pid] % len(REPLIES[pid])]
            seen[pid] += 1
            c = tokenizer(reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            prompt_ids.append(list(ids))
            completion_ids.append(c)
            logprobs.append([0.0] * len(c))  # scripted policy: not sampled from the model
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": logprobs}

    return rollout_func


def run(kind: str, model_dir: Path) -> None:
    tok = load_tokenizer()
    if kind == "conversational":
        rows = [{"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}], "answer": g}
                for _, q, g in PROBLEMS]
    else:
        rows = [{"prompt": f"Question: {q}\nAnswer (end with \\boxed{{}}):", "answer": g} for _, q, g in PROBLEMS]
    ds = Dataset.from_list(rows)
    out_dir = fresh_dir(WORK / kind)
    args = GRPOConfig(
        output_dir=str(out_dir), max_steps=2, per_device_train_batch_size=8, num_generations=2,
        max_completion_length=256, learning_rate=1e-4, logging_steps=1, save_strategy="steps", save_steps=2,
        save_only_model=True, log_completions=True, report_to="none", use_cpu=True, bf16=False,
        seed=0, dataloader_num_workers=0, shuffle_dataset=False,
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    trainer = GRPOTrainer(model=model, reward_funcs=[accuracy_reward, format_reward], args=args,
                          train_dataset=ds, processing_class=tok, rollout_func=make_rollout(tok))
    trainer.train()
    dest = fresh_dir(OUT / "trl" / kind)
    shutil.copytree(out_dir / "completions", dest / "completions")
    shutil.copy(out_dir / "checkpoint-2" / "trainer_state.json", dest / "trainer_state.json")
    print("wrote", sorted(str(p.relative_to(OUT)) for p in dest.rglob("*") if p.is_file()))


if __name__ == "__main__":
    model_dir = build_tiny_model(WORK / "tiny-llama")
    for kind in sys.argv[1:] or ["conversational", "text"]:
        run(kind, model_dir)
