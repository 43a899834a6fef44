"""entropykit.train: GRPO and PPO with the entropy-based advantage (paper section 3).

- `entropykit.train.algos`: the algorithm as pure tensor functions (shared with the veRL plugin):
  `shape_advantages`, `grpo_advantages`, `gae_advantages`, `policy_loss`, `entropy_regularizer`,
  `kl_penalty`, `value_loss`, registries `ADV_ESTIMATORS` / `POLICY_LOSSES`.
- `entropykit.train.config.TrainConfig`: the paper's defaults, validated before any model load.
- `entropykit.train.loop.train(cfg)`: the single-machine loop; `train.report.build_report` the dashboard.
- `entropykit.train.verl_launch.launch_verl(cfg, launch)`: the same config on veRL (`--engine verl`);
  `entropykit.train.verl_plugin` (a `verl.plugins` entry point, imported only by veRL) applies
  `shape_advantages` in veRL's actor loss; `entropykit.train.verl_reward` is the veRL reward.

Names are imported lazily (PEP 562) so that `import entropykit.train.config` stays torch-free.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "algos": [
        "ADV_ESTIMATORS", "POLICY_LOSSES", "PolicyLossOutput", "entropy_regularizer", "gae_advantages",
        "get_adv_estimator", "get_policy_loss", "grpo_advantages", "kl_penalty", "outcome_token_rewards",
        "policy_loss", "shape_advantages", "token_mean", "value_loss",
    ],
    "config": ["PAPER_ALPHA", "PROMPT_TEMPLATES", "TrainConfig"],
    "data": ["RewardFn", "MathReward", "math_reward", "resolve_reward", "toy_reward"],
    "loop": ["train", "resume_config", "update_step"],
    "checkpoint": ["export_policy"],
    "report": ["build_report"],
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
