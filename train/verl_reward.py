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
_verifier = None
_custom: dict[str, Any] = {}


def _get_verifier(timeout_s: float):
    global _verifier
    with _lock:
        if _verifier is None:
            from entropykit.verify import Verifier

            # veRL already runs `reward.num_workers` reward processes: one checker each is enough.
            _verifier = Verifier(timeout_s=timeout_s, workers=1)
            atexit.register(_verifier.close)
        return _verifier


def _get_custom(spec: str):
    with _lock:
        if spec not in _custom:
            from entropykit.train.data import resolve_reward

            _custom[spec] = resolve_reward(spec)
        return _custom[spec]


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
    if reward == "math":
        verdict = _get_verifier(float(timeout_s)).verify([gold], [solution_str or ""])[0]
        return {"score": 1.0 if verdict.correct else -1.0, "acc": float(verdict.correct)}
    prompt = str((extra_info or {}).get("prompt", ""))
    score = float(_get_custom(reward)([prompt], [solution_str or ""], [gold])[0])
    return {"score": score, "acc": float(score > 0)}
