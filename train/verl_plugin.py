"""The paper's entropy-based advantage inside veRL's actor (a `verl.plugins` entry point).

    psi_t = min(alpha * H_t.detach(), |A_t| / kappa),    A'_t = A_t + psi_t

veRL (0.9.1 <= version < 0.10) computes the actor loss in `verl.workers.utils.losses.ppo_loss(
config, model_output, data, dp_group)`: `model_output["entropy"]` is the current forward's
token entropy (present when `actor.calculate_entropy=True`), `data["advantages"]` the GRPO/GAE
advantages, and the policy loss itself comes from veRL's registry, which never sees the
entropy. So this module wraps `ppo_loss`: it shapes `data["advantages"]` with
`entropykit.train.algos.shape_advantages` (the native trainer's function: one implementation)
and the detached entropy, then calls veRL's own `ppo_loss` on the shaped copy. Nothing else of
veRL's loss changes (clip-higher, dual-clip, token-mean over the global mini-batch, KL, ...).

Turning it on, through veRL's own (Hydra) config:

    actor_rollout_ref.actor.calculate_entropy=True
    actor_rollout_ref.actor.policy_loss._target_=entropykit.train.verl_plugin.EntropyAdvPolicyLossConfig
    +actor_rollout_ref.actor.policy_loss.entropy_adv_alpha=0.4      # 0.4 GRPO, 0.1 PPO (paper)
    +actor_rollout_ref.actor.policy_loss.entropy_adv_kappa=2.0

(`entropykit train --engine verl` writes exactly these.) `EntropyAdvPolicyLossConfig` is veRL's
`PolicyLossConfig` plus those two fields, so veRL's config loading accepts them and checks them
(alpha > 0, kappa > 1) in the driver before any GPU work.

Why it cannot fail silently: veRL loads `verl.plugins` entry points on `import verl` and logs
load errors at DEBUG only. Here (1) instantiating `EntropyAdvPolicyLossConfig` (done by veRL in
the driver's config check and in every actor worker) installs the wrapper itself and raises on
an unsupported veRL; (2) the first shaped loss in each worker logs one WARNING line with alpha,
kappa and the veRL version; (3) the loss raises if the entropy is missing; (4) every update
step reports `actor/entropy_adv_psi` and `actor/entropy_adv_psi_ratio`.

Binding: `verl/workers/engine_workers.py` does `from verl.workers.utils.losses import ppo_loss`
and later `partial(ppo_loss, config=...)`, so the module attribute alone is not enough. The
wrapper replaces `ppo_loss` in `verl.workers.utils.losses` when `import verl` loads this entry
point (before engine_workers is imported, so its `from ... import` binds the wrapper), and in
every already-imported module that bound the original (`engine_workers`,
`verl.trainer.distillation.losses`).

Metrics (veRL aggregates actor metrics as the mean over micro-batches, data-parallel ranks and
mini-batches; each value here is `entropy_bonus_stats` of one micro-batch, as for veRL's own
`actor/pg_clipfrac`): `actor/entropy_adv_psi` is the mean psi and `actor/entropy_adv_psi_ratio`
the mean psi/|A| over the micro-batch's response tokens with A != 0 (0 for a micro-batch whose
advantages are all 0, e.g. only GRPO groups with equal rewards).
"""

from __future__ import annotations

import inspect
import logging
import sys
from dataclasses import dataclass
from typing import Any, Optional

import torch

from entropykit.train.algos import entropy_bonus_stats, shape_advantages

# Imported by veRL itself (hydra `_target_`, entry point); verl is present wherever this runs.
from verl.workers.config import PolicyLossConfig

log = logging.getLogger("entropykit.verl_plugin")

SUPPORTED_VERL = ("0.9.1", "0.10")  # [min, max): the versions whose ppo_loss was read for this
METRIC_PSI = "actor/entropy_adv_psi"
METRIC_PSI_RATIO = "actor/entropy_adv_psi_ratio"
_MODULES_BINDING_PPO_LOSS = ("verl.workers.engine_workers", "verl.trainer.distillation.losses")

_original_ppo_loss = None  # veRL's ppo_loss once installed
_announced = False


class UnsupportedVerlError(RuntimeError):
    """veRL's version or actor-loss API is not the one this plugin was written against."""


def check_verl_version(version: str) -> None:
    """Raise UnsupportedVerlError unless SUPPORTED_VERL[0] <= version < SUPPORTED_VERL[1]."""
    from packaging.version import Version

    low, high = SUPPORTED_VERL
    if not Version(low) <= Version(version) < Version(high):
        raise UnsupportedVerlError(
            f"entropykit's veRL plugin supports verl >= {low}, < {high}; found verl {version}. "
            f"Install verl=={low} (pip install 'verl=={low}') or turn the entropy advantage off."
        )


def install(*, strict: bool = True) -> bool:
    """Wrap veRL's actor loss with the entropy-shaped one (idempotent).

    `strict`: raise UnsupportedVerlError on an unsupported veRL; otherwise log an ERROR line and
    leave veRL untouched (the entry-point path: an exception there would be swallowed).
    """
    global _original_ppo_loss
    if _original_ppo_loss is not None:
        return True
    try:
        import verl
        from verl.workers.utils import losses

        check_verl_version(getattr(verl, "__version__", "0"))
        params = list(inspect.signature(losses.ppo_loss).parameters)
        if params[:3] != ["config", "model_output", "data"]:
            raise UnsupportedVerlError(f"verl.workers.utils.losses.ppo_loss{tuple(params)} is not the 0.9 actor loss")
    except (ImportError, AttributeError, UnsupportedVerlError) as e:
        if strict:
            raise UnsupportedVerlError(str(e)) from e
        log.error("entropykit veRL plugin NOT installed: %s", e)
        return False
    original = losses.ppo_loss
    _original_ppo_loss = original
    losses.ppo_loss = entropy_shaped_ppo_loss
    for name in _MODULES_BINDING_PPO_LOSS:
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "ppo_loss", None) is original:
            mod.ppo_loss = entropy_shaped_ppo_loss
    log.info("entropykit veRL plugin installed: verl.workers.utils.losses.ppo_loss wrapped (verl %s)", verl.__version__)
    return True


def installed() -> bool:
    """True when veRL's actor loss is wrapped in this process."""
    from verl.workers.utils import losses

    return _original_ppo_loss is not None and losses.ppo_loss is entropy_shaped_ppo_loss


@dataclass
class EntropyAdvPolicyLossConfig(PolicyLossConfig):
    """veRL's PolicyLossConfig plus the paper's two settings.

    entropy_adv_alpha: scale of the entropy term (paper: 0.4 GRPO, 0.1 PPO); None turns it off.
    entropy_adv_kappa: psi <= |A| / kappa (paper: 2); must be > 1 so A' keeps the sign of A.
    """

    entropy_adv_alpha: Optional[float] = None
    entropy_adv_kappa: float = 2.0

    def __post_init__(self):
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        if self.entropy_adv_alpha is not None:
            if not float(self.entropy_adv_alpha) > 0:
                raise ValueError(f"policy_loss.entropy_adv_alpha must be > 0 (got {self.entropy_adv_alpha}); leave it unset to turn the entropy advantage off")
            if not float(self.entropy_adv_kappa) > 1:
                raise ValueError(f"policy_loss.entropy_adv_kappa must be > 1 (got {self.entropy_adv_kappa}): with kappa <= 1 psi could flip the sign of the advantage")
            install(strict=True)


def entropy_adv_settings(config: Any) -> tuple[float, float] | None:
    """(alpha, kappa) from an actor config's `policy_loss`, or None when the term is off."""
    policy_loss = config.get("policy_loss", None) if hasattr(config, "get") else getattr(config, "policy_loss", None)
    if policy_loss is None:
        return None
    get = policy_loss.get if hasattr(policy_loss, "get") else lambda k, d=None: getattr(policy_loss, k, d)
    alpha = get("entropy_adv_alpha", None)
    if alpha is None:
        return None
    return float(alpha), float(get("entropy_adv_kappa", 2.0))


def _padded(x: torch.Tensor) -> torch.Tensor:
    return torch.nested.to_padded_tensor(x, 0.0) if x.is_nested else x


def _fit_width(x: torch.Tensor, width: int) -> torch.Tensor:
    """Crop or zero-pad the last dim of a [B, W] tensor to `width`."""
    if x.shape[1] >= width:
        return x[:, :width]
    return torch.nn.functional.pad(x, (0, width - x.shape[1]))


def shape_batch_advantages(data, entropy_padded: torch.Tensor, alpha: float, kappa: float):
    """A shallow copy of veRL's micro-batch `data` whose "advantages" are shaped, plus stats.

    `entropy_padded` [B, W]: the entropy of response token t at [b, t] (response-aligned, as
    `no_padding_2_padding` returns log-probs). `data["advantages"]` is either dense [B, T] or a
    jagged nested tensor (one row per response); the result keeps its layout. The caller's
    `data` is not modified (a mini-batch is reused across PPO epochs).
    """
    adv = data["advantages"]
    ent = entropy_padded.detach()
    if adv.is_nested:
        offsets = adv.offsets()
        lengths = offsets.diff().to(ent.device)
        if int(lengths.max()) > ent.shape[1]:
            raise RuntimeError(f"entropykit: entropy covers {ent.shape[1]} response tokens, advantages {int(lengths.max())}")
        keep = torch.arange(ent.shape[1], device=ent.device)[None, :] < lengths[:, None]
        values = adv.values()
        shaped_values = shape_advantages(values, ent[keep].to(values.device), alpha, kappa)
        shaped = torch.nested.nested_tensor_from_jagged(shaped_values, offsets=offsets)
        stats = entropy_bonus_stats(values, shaped_values, torch.ones_like(values))
    else:
        width = adv.shape[1]
        if ent.shape[1] < width:
            raise RuntimeError(f"entropykit: entropy covers {ent.shape[1]} response tokens, advantages {width}")
        shaped = shape_advantages(adv, _fit_width(ent, width).to(adv.device), alpha, kappa)
        mask = _fit_width(_padded(data["response_mask"]).to(adv.dtype), width).to(adv.device)
        stats = entropy_bonus_stats(adv, shaped, mask)
    out = data.copy()
    out["advantages"] = shaped
    return out, stats


def entropy_shaped_ppo_loss(config, model_output, data, dp_group=None):
    """veRL's `ppo_loss` with A' = A + min(alpha * H.detach(), |A| / kappa) when configured.

    Without `policy_loss.entropy_adv_alpha` it is veRL's loss, untouched.
    """
    settings = entropy_adv_settings(config)
    if settings is None:
        return _original_ppo_loss(config, model_output, data, dp_group)
    alpha, kappa = settings
    entropy = model_output.get("entropy", None)
    if entropy is None:
        raise RuntimeError(
            "entropykit: the entropy advantage needs the current forward's entropy, but the model output has none: "
            "set actor_rollout_ref.actor.calculate_entropy=True"
        )
    from verl.utils.metric import AggregationType, Metric
    from verl.workers.utils.padding import no_padding_2_padding

    _announce(alpha, kappa)
    shaped_data, stats = shape_batch_advantages(data, no_padding_2_padding(entropy, data), alpha, kappa)
    loss, metrics = _original_ppo_loss(config, model_output, shaped_data, dp_group)
    metrics[METRIC_PSI] = Metric(AggregationType.MEAN, stats["psi_mean"])
    metrics[METRIC_PSI_RATIO] = Metric(AggregationType.MEAN, stats["psi_ratio"])
    return loss, metrics


def _announce(alpha: float, kappa: float) -> None:
    global _announced
    if not _announced:
        import verl

        _announced = True
        log.warning("entropykit: entropy-based advantage active in veRL's actor loss (alpha=%g, kappa=%g, verl %s)",
                    alpha, kappa, verl.__version__)


# Loaded as a `verl.plugins` entry point by `import verl`: wrap the loss now, before
# verl.workers.engine_workers binds it. Never raise here (veRL would hide it at DEBUG level).
install(strict=False)
