"""veRL 0.9.1 rollout/validation dumps and file-logger output, written by veRL's own code.

Run (see README.md for the venv):
    OMP_NUM_THREADS=1 /tmp/fx-verl/bin/python scripts/make_outside_fixtures/verl_dumps.py

veRL needs GPUs and Ray to train, so its trainers are not run; their dump methods are called on
a trainer object made without __init__ (only the attributes the methods read are set):

* verl/rollout/<step>.jsonl and verl/validation/<step>.jsonl: the default trainer of 0.9.1
  (`trainer.use_v1: true`, verl/trainer/ppo/v1/trainer_base.py PPOTrainer). Its
  `_log_rollout_data` / `_validate` read prompts and responses from TransferQueue, pad them with
  the pad token, decode each with `tokenizer.decode(ids, skip_special_tokens=True)` and pass them
  to `PPOTrainer._dump_generations` with `{"uid": keys}` (keys `{uid}_{session}_{index}`), plus for
  validation the `reward` list and every reward_extra_info key; we do the same decode and call
  `PPOTrainer._dump_generations` itself.
* verl/legacy_rollout/<step>.jsonl: the legacy trainer (`trainer.use_v1=False`,
  verl/trainer/ppo/ray_trainer.py RayPPOTrainer), whose own `_log_rollout_data(batch,
  reward_extra_infos_dict, timing_raw, rollout_data_dir)` is called on a real DataProto (left
  padded prompts, right padded responses, token_level_scores, reward_model.ground_truth): its
  decoding and dumping are veRL's code end to end.
* verl/metrics.jsonl: `verl.utils.tracking.Tracking(default_backend="file")` (FileLogger), 3 steps,
  with `VERL_FILE_LOGGER_PATH` pointing at the file, as `trainer.logger=[file]` writes it.

Prompts are the chat-templated SmolLM2 prompts with a system message (apply_chat_template,
add_generation_prompt=True), so the decoded `input` reads "system\\n...\\nuser\\n...\\nassistant\\n".
Scores come from veRL's own reward functions: rollouts from verl.utils.reward_score.gsm8k
(`method="flexible"`: last number in the reply == gold string), validation from
verl.utils.reward_score.math_reward (last \\boxed{} answer, normalised string match).
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import OUT, PROBLEMS, REPLIES, fresh_dir, load_tokenizer, messages_for  # noqa: E402

from verl import DataProto  # noqa: E402
from verl.trainer.ppo.ray_trainer import RayPPOTrainer  # noqa: E402
from verl.trainer.ppo.v1 import get_trainer_cls  # noqa: E402
from verl.utils.reward_score import gsm8k, math_reward  # noqa: E402
from verl.utils.tracking import Tracking  # noqa: E402

tok = load_tokenizer()
PAD = tok.pad_token_id


def uid_of(pid: str, step: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"entropykit-fixture/{pid}/{step}"))


def prompt_ids(question: str) -> list[int]:
    return tok.apply_chat_template(messages_for(question), add_generation_prompt=True, tokenize=True,
                                   return_dict=True)["input_ids"]


def response_ids(text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


def pad_right(rows: list[list[int]]) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (width - len(r)) for r in rows], dtype=torch.long)


def pad_left(rows: list[list[int]]) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([[PAD] * (width - len(r)) + r for r in rows], dtype=torch.long)


def samples(step: int, n: int = 2):
    """(key, pid, question, gold, reply) for every problem x n samples, reply order rotated per step."""
    out = []
    for pid, q, g in PROBLEMS:
        for s in range(n):
            reply = REPLIES[pid][(s + step) % len(REPLIES[pid])]
            out.append((f"{uid_of(pid, step)}_{s}_0", pid, q, g, reply))
    return out


def math_score(reply: str, gold: str) -> dict:
    """A veRL custom reward returning a dict (score + extra infos), built on veRL's math_reward."""
    boxed = math_reward.last_boxed_only_string(reply)
    pred = math_reward.remove_boxed(boxed) if boxed else ""
    score = float(math_reward.compute_score(reply, gold))
    return {"score": score, "acc": score == 1.0, "pred": pred}


def v1_trainer(step: int):
    # trainer.v1.trainer_mode defaults to "sync"; the dump methods are PPOTrainer's (trainer_base.py)
    t = object.__new__(get_trainer_cls("sync"))
    t.tokenizer = tok
    t.global_steps = step
    t._init_dump_executor()
    return t


def v1_rollout(dest: Path, step: int) -> None:
    rows = samples(step)
    prompts = pad_right([prompt_ids(q) for _, _, q, _, _ in rows])   # to_padded_tensor(padding=pad id)
    responses = pad_right([response_ids(r) for *_, r in rows])
    inputs = [tok.decode(ids, skip_special_tokens=True) for ids in prompts]
    outputs = [tok.decode(ids, skip_special_tokens=True) for ids in responses]
    scores = [float(gsm8k.compute_score(o, g, method="flexible")) for o, (_, _, _, g, _) in zip(outputs, rows)]
    t = v1_trainer(step)
    t._dump_generations(inputs=inputs, outputs=outputs, gts=[g for _, _, _, g, _ in rows], scores=scores,
                        reward_extra_infos_dict={"uid": [k for k, *_ in rows]}, dump_path=str(dest))
    t._shutdown_dump_executor()


def v1_validation(dest: Path, step: int) -> None:
    rows = samples(step + 1)
    prompts = pad_right([prompt_ids(q) for _, _, q, _, _ in rows])
    responses = pad_right([response_ids(r) for *_, r in rows])
    inputs = [tok.decode(ids, skip_special_tokens=True) for ids in prompts]
    outputs = [tok.decode(ids, skip_special_tokens=True) for ids in responses]
    results = [math_score(o, g) for o, (_, _, _, g, _) in zip(outputs, rows)]
    scores = [r["score"] for r in results]
    extra = {"reward": scores, **{k: [r[k] for r in results] for k in ("score", "acc", "pred")}}
    t = v1_trainer(step)
    t._dump_generations(inputs=inputs, outputs=outputs, gts=[g for _, _, _, g, _ in rows], scores=scores,
                        reward_extra_infos_dict=extra | {"uid": [k for k, *_ in rows]}, dump_path=str(dest))
    t._shutdown_dump_executor()


def legacy_rollout(dest: Path, step: int) -> None:
    rows = samples(step)
    p = [prompt_ids(q) for _, _, q, _, _ in rows]
    r = [response_ids(x) for *_, x in rows]
    prompts, responses = pad_left(p), pad_right(r)
    results = [math_score(x, g) for _, _, _, g, x in rows]
    tls = torch.zeros(responses.shape, dtype=torch.float32)
    for i, (ids, res) in enumerate(zip(r, results)):
        tls[i, len(ids) - 1] = res["score"]  # reward on the last response token
    batch = DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "token_level_scores": tls},
        non_tensors={"reward_model": np.array([{"ground_truth": g, "style": "rule"} for _, _, _, g, _ in rows],
                                               dtype=object),
                     "uid": np.array([k.rsplit("_", 2)[0] for k, *_ in rows], dtype=object)},
    )
    t = object.__new__(RayPPOTrainer)
    t.tokenizer = tok
    t.global_steps = step
    t._init_dump_executor()
    extra = {"acc": np.array([res["acc"] for res in results]), "pred": [res["pred"] for res in results]}
    t._log_rollout_data(batch, extra, {}, str(dest))
    t._shutdown_dump_executor()


def file_logger(path: Path) -> None:
    os.environ["VERL_FILE_LOGGER_PATH"] = str(path)
    logger = Tracking(project_name="entropykit-fixture", experiment_name="grpo-smollm2", default_backend="file",
                      config={})
    for step in (1, 2, 3):
        m = {
            "actor/entropy": 0.62 - 0.05 * step,
            "actor/pg_loss": -0.012 + 0.004 * step,
            "actor/pg_clipfrac": 0.0021 * step,
            "actor/pg_clipfrac_lower": 0.0,
            "actor/ppo_kl": 0.0004 * step,
            "actor/grad_norm": 0.31 - 0.02 * step,
            "actor/lr": 1e-6,
            "actor/entropy_adv_psi": 0.05 + 0.01 * step,
            "actor/entropy_adv_psi_ratio": 0.11 - 0.01 * step,
            "critic/score/mean": 0.375 + 0.125 * step,
            "critic/score/max": 1.0,
            "critic/score/min": 0.0,
            "critic/rewards/mean": 0.375 + 0.125 * step,
            "critic/advantages/mean": 0.0,
            "critic/advantages/max": 0.7071,
            "critic/advantages/min": -0.7071,
            "response_length/mean": 48.5 - 3 * step,
            "response_length/max": 81.0,
            "response_length/min": 31.0,
            "response_length/clip_ratio": 0.0,
            "prompt_length/mean": 52.25,
            "timing_s/gen": 3.1,
            "timing_s/step": 9.8 + step / 10,
            "perf/throughput": 210.5,
            "training/global_step": step,
            "training/epoch": 0,
        }
        if step == 3:
            m["val-core/HuggingFaceH4/MATH-500/reward/mean@2"] = 0.5
            m["val-aux/HuggingFaceH4/MATH-500/acc/mean@2"] = 0.5
        m = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in m.items()}
        logger.log(data=m, step=step)
    logger.logger["file"].finish()


if __name__ == "__main__":
    root = OUT / "verl"
    for sub in ("rollout", "validation", "legacy_rollout"):
        fresh_dir(root / sub)
    for step in (1, 2):
        v1_rollout(root / "rollout", step)
        legacy_rollout(root / "legacy_rollout", step)
    for step in (0, 2):
        v1_validation(root / "validation", step)
    file_logger(root / "metrics.jsonl")
    print("wrote", sorted(str(p.relative_to(OUT)) for p in root.rglob("*") if p.is_file()))
