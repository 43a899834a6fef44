"""The trainer's reward as a veRL reward function (`reward.custom_reward_function`).

veRL (0.9) calls `compute_score(data_source=, solution_str=, ground_truth=, extra_info=,
**reward_kwargs)` once per response, from a thread pool inside each reward worker process
(`reward.num_workers` of them). `entropykit train --engine verl` points veRL here with

    reward.custom_reward_function.path=pkg://entropykit.train.verl_reward
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.reward=math

`reward`: `math` (the paper's: +1 when the shared math-verify verifier accepts the response's
final answer, else -1) or anything `--reward` takes (`toy`, `package.module:function`), called
as the native trainer calls it: `fn([prompt], [response], [gold]) -> [score]`.

Truncated responses: the native trainer grades a reply cut off at the token limit by the stricter
rule for cut-off replies (it counts only with a complete explicit answer marker). veRL's default
("naive") reward manager decodes the response without its end-of-sequence token and does not
pass its length, so a truncated reply is indistinguishable there. `entropykit train --engine
verl` therefore selects `FinishReasonRewardManager` (veRL's naive manager plus one field): it
sets `extra_info["finish_reason"]` to "length" when the response fills
`actor_rollout_ref.rollout.response_length` tokens without ending in the end-of-sequence token,
else "stop", exactly what vLLM reports natively, and `compute_score` grades with it:

    reward.reward_manager.source=importlib
    reward.reward_manager.module.path=pkg://entropykit.train.verl_reward
    reward.reward_manager.name=FinishReasonRewardManager

math-verify's own time limits use signal.alarm, which does nothing in veRL's threads, and a
hostile expression can keep sympy busy for hours; so `math` goes through one
`entropykit.verify.Verifier` per process (a verifier subprocess with a hard per-answer time
limit: a stuck answer costs `timeout_s` and scores -1).
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

_lock = threading.Lock()
_rewards: dict[tuple, Any] = {}  # one reward function per (spec, time limit) in this process


def _get_reward(spec: str, timeout_s: float):
    """The native trainer's reward for `spec` ("math": `train.data.MathReward`, the same +1/-1
    and verifier; else `resolve_reward`), made once per process."""
    key = (spec, timeout_s)
    with _lock:
        if key not in _rewards:
            from entropykit.train.data import MathReward, resolve_reward

            if spec == "math":  # veRL already runs `reward.num_workers` reward processes: one checker each is enough
                _rewards[key] = MathReward(timeout_s=timeout_s, workers=1)
                atexit.register(_rewards[key].close)
            else:
                _rewards[key] = resolve_reward(spec)
        return _rewards[key]


def compute_score(
    data_source: str | None = None,
    solution_str: str = "",
    ground_truth: Any = "",
    extra_info: dict | None = None,
    reward: str = "math",
    timeout_s: float = 5.0,
    **_: Any,
) -> dict:
    """{"score": reward, "acc": 1.0 if correct else 0.0} for one response (veRL's reward dict).

    `ground_truth` is the gold answer (`reward_model.ground_truth` of the data row); a list
    (as some veRL datasets store it) is reduced to its first element.
    """
    gold = ground_truth[0] if isinstance(ground_truth, (list, tuple)) and ground_truth else ground_truth
    gold = str(gold)
    finish = (extra_info or {}).get("finish_reason") if isinstance(extra_info, dict) else None
    fn = _get_reward(reward, float(timeout_s))
    from entropykit.train.data import accepts_finish_reasons

    args = ([str((extra_info or {}).get("prompt", ""))], [solution_str or ""], [gold])
    score = float((fn(*args, finish_reasons=[finish]) if accepts_finish_reasons(fn) else fn(*args))[0])
    return {"score": score, "acc": float(score > 0)}


def finish_reason(response_ids, response_length: int, eos_token_ids) -> str:
    """"length" when a response fills the token limit without ending in an end-of-sequence token
    (vLLM's finish reason for it), else "stop". `response_ids`: the response's valid token ids."""
    ids = [int(t) for t in response_ids]
    eos = {int(e) for e in (eos_token_ids if isinstance(eos_token_ids, (list, tuple, set)) else [eos_token_ids]) if e is not None}
    return "length" if len(ids) >= response_length and (not ids or ids[-1] not in eos) else "stop"


try:  # defined where veRL is installed (its reward loop loads it by name); the functions above need no veRL
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
except ImportError:  # pragma: no cover - the main environment has no veRL
    NaiveRewardManager = None

if NaiveRewardManager is not None:

    class FinishReasonRewardManager(NaiveRewardManager):
        """veRL's naive reward manager that also tells `compute_score` the response's finish reason."""

        async def run_single(self, data):
            item = data[-1:][0]  # the naive manager grades the last sequence
            ids = item.batch["responses"]
            valid = int(item.batch["attention_mask"][-ids.shape[-1]:].sum())
            limit = int(self.config.actor_rollout_ref.rollout.response_length)
            eos = getattr(self.tokenizer, "eos_token_id", None)
            generation_eos = getattr(getattr(self.tokenizer, "generation_config", None), "eos_token_id", None)
            eos_ids = [e for e in ([eos] + (generation_eos if isinstance(generation_eos, list) else [generation_eos])) if e is not None]
            extras = data.non_tensor_batch.get("extra_info")
            if extras is not None:  # a new dict for this sample: the n samples of a prompt may share one
                old = extras[-1]
                extras[-1] = {**(old if isinstance(old, dict) else {}), "finish_reason": finish_reason(ids[:valid], limit, eos_ids)}
            return await super().run_single(data)
