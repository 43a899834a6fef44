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
(alpha > 0, kappa > 1) in the driver before any GPU work. It composes with veRL's own
`loss_mode` (vanilla, clip_cov, kl_cov, ...): the shaped advantages go to whichever loss veRL runs.

The same wrapper carries the 80/20 rule (Wang et al. 2025) with
`+actor_rollout_ref.actor.policy_loss.top_entropy_quantile=0.2`: advantages are set to 0 outside
the top share of tokens by the current forward's entropy (`algos.high_entropy_mask`). veRL hands
the loss one micro-batch at a time and drops the rollout's entropies before the update, so here
the quantile is over each micro-batch's response tokens (as TRL's `top_entropy_quantile`); the
native trainer takes it over the whole mini-batch, on the rollout policy's entropies.

Why it cannot fail silently: veRL loads `verl.plugins` entry points on `import verl` and logs
load errors at DEBUG only. Here (1) instantiating `EntropyAdvPolicyLossConfig` (done by veRL in
the driver's config check and in every actor worker) installs the wrapper itself and raises on
an unsupported veRL; (2) the first shaped loss in each worker logs one WARNING line with alpha,
kappa and the veRL version; (3) the loss raises if the entropy is missing; (4) every update
step reports `actor/entropy_adv_psi` and `actor/entropy_adv_psi_ratio`.

Binding: `verl/workers/engine_workers.py` does `from verl.workers.utils.losses import ppo_loss`
and later `partial(ppo_loss, config=...)`, so the module attribute alone is not enough. The
wrapper replaces `ppo_loss` in `verl.workers.utils.losses` when `import verl` loads this entry
point, so every module imported afterwards binds the wrapper; every module already imported is
scanned (`sys.modules`) and each global bound to the original is rebound. A binding that cannot
be rebound (a `functools.partial`, a dict or list holding the original) raises
UnsupportedVerlError naming the module instead of leaving the original silently in use.

Metrics: `actor/entropy_adv_psi` is the mean psi and `actor/entropy_adv_psi_ratio` the mean
psi/|A| over the response tokens with A != 0 of the mini-batch, the native trainer's weighting
(`entropy_bonus_stats`), so both engines report the same Figure 7 number for the same batch.
veRL averages MEAN metrics over micro-batches unweighted, so each micro-batch instead reports a
SUM metric scaled by its share of the mini-batch's A != 0 tokens; that count is taken over the
whole mini-batch (all data-parallel ranks) before it is split into micro-batches, by a wrapper
of the FSDP engine's `forward_backward_batch` (the same scheme veRL uses for `batch_num_tokens`).
Padding samples veRL adds to fill a batch have response_mask 0 and are not counted. Across
mini-batches veRL takes an unweighted mean, as for all of its own metrics.
"""

from __future__ import annotations

import inspect
import logging
import sys
from dataclasses import dataclass
from typing import Any, Optional

import torch

from entropykit.train.algos import entropy_bonus_stats, high_entropy_mask, shape_advantages

# Imported by veRL itself (hydra `_target_`, entry point); verl is present wherever this runs.
from verl.workers.config import PolicyLossConfig

log = logging.getLogger("entropykit.verl_plugin")

SUPPORTED_VERL = ("0.9.1", "0.10")  # [min, max): the versions whose ppo_loss was read for this
METRIC_PSI = "actor/entropy_adv_psi"
METRIC_PSI_RATIO = "actor/entropy_adv_psi_ratio"
METRIC_MASK = "actor/entropy_mask_frac"
NONZERO_ADV_TOKENS = "entropykit_nonzero_adv_tokens"  # set on the mini-batch by the engine hook

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
    rebound = rebind_everywhere(original, entropy_shaped_ppo_loss)
    _install_token_count_hook()
    log.info("entropykit veRL plugin: ppo_loss rebound in %s", ", ".join(rebound))
    log.info("entropykit veRL plugin installed: verl.workers.utils.losses.ppo_loss wrapped (verl %s)", verl.__version__)
    return True


def rebind_everywhere(original, replacement) -> list[str]:
    """Replace every module-level binding of `original` by `replacement` in the loaded modules.

    Returns "module.name" of each rebinding. Raises UnsupportedVerlError for a binding this
    cannot replace (the original inside a partial, a dict, a list or a tuple at module level):
    such a module would keep calling veRL's unshaped loss.
    """
    import functools

    done, stuck = [], []
    for mod_name, mod in list(sys.modules.items()):
        namespace = getattr(mod, "__dict__", None)
        if type(namespace) is not dict or mod_name == __name__:  # this module keeps the original to call it
            continue
        # exact types only: isinstance() or a subclass's values() may run a lazy loader or a
        # deprecation proxy (transformers' auto mappings, torch.distributed.reduce_op)
        for name, value in list(namespace.items()):
            kind = type(value)
            if value is original:
                namespace[name] = replacement
                done.append(f"{mod_name}.{name}")
            elif kind is functools.partial and value.func is original:
                stuck.append(f"{mod_name}.{name} (a functools.partial)")
            elif kind in (dict, list, tuple) and any(v is original for v in (dict.values(value) if kind is dict else value)):
                stuck.append(f"{mod_name}.{name} (a {kind.__name__})")
    if stuck:
        raise UnsupportedVerlError(
            "entropykit's veRL plugin cannot wrap veRL's actor loss where it is held as " + ", ".join(stuck)
            + ": the entropy advantage would not reach that code path. Report this with your veRL version.")
    return done


def nonzero_advantage_tokens(data) -> int:
    """Response tokens with A != 0 in a veRL batch (dense or jagged; padding samples have mask 0)."""
    adv = _padded(data["advantages"])
    mask = _fit_width(_padded(data["response_mask"]).to(adv.dtype), adv.shape[1])
    return int(((adv != 0) & (mask > 0)).sum())


def _install_token_count_hook() -> None:
    """Wrap the FSDP engine's forward_backward_batch so that every micro-batch of an update knows
    the A != 0 token count of its whole mini-batch (summed over data-parallel ranks)."""
    try:
        from verl.workers.engine.fsdp.transformer_impl import FSDPEngine
    except ImportError as e:  # another engine only: the psi metrics fall back to micro-batch means
        log.warning("entropykit: FSDP engine not importable (%s); psi metrics are per-micro-batch means", e)
        return
    original = FSDPEngine.forward_backward_batch
    if getattr(original, "_entropykit", False):
        return

    def forward_backward_batch(self, data, loss_function, forward_only=False):
        if not forward_only and "advantages" in data.keys() and "response_mask" in data.keys():
            import torch.distributed as dist
            from verl.utils import tensordict_utils as tu
            from verl.utils.device import get_device_id

            count = torch.tensor(nonzero_advantage_tokens(data), device=get_device_id())
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(count, op=dist.ReduceOp.SUM, group=self.get_data_parallel_group())
            tu.assign_non_tensor(data, **{NONZERO_ADV_TOKENS: int(count.item())})
        return original(self, data, loss_function, forward_only)

    forward_backward_batch._entropykit = True
    FSDPEngine.forward_backward_batch = forward_backward_batch


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
    top_entropy_quantile: float = 1.0

    def __post_init__(self):
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        if self.entropy_adv_alpha is not None:
            if not float(self.entropy_adv_alpha) > 0:
                raise ValueError(f"policy_loss.entropy_adv_alpha must be > 0 (got {self.entropy_adv_alpha}); leave it unset to turn the entropy advantage off")
            if not float(self.entropy_adv_kappa) > 1:
                raise ValueError(f"policy_loss.entropy_adv_kappa must be > 1 (got {self.entropy_adv_kappa}): with kappa <= 1 psi could flip the sign of the advantage")
        if not 0 < float(self.top_entropy_quantile) <= 1:
            raise ValueError(f"policy_loss.top_entropy_quantile must lie in (0, 1] (got {self.top_entropy_quantile})")
        if float(self.top_entropy_quantile) < 1 and self.loss_mode in ("clip_cov", "kl_cov"):
            raise ValueError(f"policy_loss.top_entropy_quantile with loss_mode {self.loss_mode}: both choose the tokens that carry "
                             "the gradient; use one of them")
        if self.entropy_adv_alpha is not None or float(self.top_entropy_quantile) < 1:
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


def mask_quantile(config: Any) -> float:
    """The actor config's `policy_loss.top_entropy_quantile` (1: no mask)."""
    policy_loss = config.get("policy_loss", None) if hasattr(config, "get") else getattr(config, "policy_loss", None)
    if policy_loss is None:
        return 1.0
    get = policy_loss.get if hasattr(policy_loss, "get") else lambda k, d=None: getattr(policy_loss, k, d)
    return float(get("top_entropy_quantile", 1.0) or 1.0)


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
        adv_p, shaped_p = _padded(adv), _padded(shaped)
        mask = _fit_width(_padded(data["response_mask"]).to(adv_p.dtype), adv_p.shape[1]).to(adv_p.device)
        stats = entropy_bonus_stats(adv_p, shaped_p, mask)  # padding samples (mask 0) not counted
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


def mask_batch_advantages(data, entropy_padded: torch.Tensor, top_quantile: float):
    """A shallow copy of `data` whose advantages are 0 outside the micro-batch's top
    `top_quantile` of response tokens by entropy (`algos.high_entropy_mask`), and the share kept."""
    adv = data["advantages"]
    adv_p = _padded(adv)
    width = adv_p.shape[1]
    ent = _fit_width(entropy_padded.detach(), width).to(adv_p.device)
    mask = _fit_width(_padded(data["response_mask"]).to(adv_p.dtype), width).to(adv_p.device)
    keep = high_entropy_mask(ent, mask, top_quantile)
    if adv.is_nested:
        lengths = adv.offsets().diff().to(adv_p.device)
        inside = torch.arange(width, device=adv_p.device)[None, :] < lengths[:, None]
        masked = torch.nested.nested_tensor_from_jagged(adv.values() * keep[inside].to(adv.dtype), offsets=adv.offsets())
    else:
        masked = adv * keep.to(adv.dtype)
    out = data.copy()
    out["advantages"] = masked
    return out, float(keep.sum()) / max(float(mask.sum()), 1.0)


def entropy_shaped_ppo_loss(config, model_output, data, dp_group=None):
    """veRL's `ppo_loss` with A' = A + min(alpha * H.detach(), |A| / kappa) when configured, and
    A' = 0 outside the top `top_entropy_quantile` of the micro-batch's tokens by entropy.

    Without `policy_loss.entropy_adv_alpha` and the mask it is veRL's loss, untouched.
    """
    settings, top_quantile = entropy_adv_settings(config), mask_quantile(config)
    if settings is None and top_quantile >= 1:
        return _original_ppo_loss(config, model_output, data, dp_group)
    entropy = model_output.get("entropy", None)
    if entropy is None:
        raise RuntimeError(
            "entropykit: the entropy advantage needs the current forward's entropy, but the model output has none: "
            "set actor_rollout_ref.actor.calculate_entropy=True"
        )
    from verl.workers.utils.padding import no_padding_2_padding

    from verl.utils.metric import AggregationType, Metric

    _announce(settings, top_quantile)
    entropy_padded = no_padding_2_padding(entropy, data)
    shaped_data, stats = data, None
    if settings is not None:
        shaped_data, stats = shape_batch_advantages(data, entropy_padded, *settings)
    if top_quantile < 1:
        shaped_data, kept = mask_batch_advantages(shaped_data, entropy_padded, top_quantile)
    loss, metrics = _original_ppo_loss(config, model_output, shaped_data, dp_group)
    if stats is not None:
        metrics.update(psi_metrics(stats, data))
    if top_quantile < 1:
        metrics[METRIC_MASK] = Metric(AggregationType.MEAN, kept)
    return loss, metrics


def psi_metrics(stats: dict, data) -> dict:
    """The psi metrics of one micro-batch, weighted by its A != 0 tokens (see the module docstring):
    SUM metrics value * tokens / mini-batch tokens * dp_size, which veRL's aggregation (mean over
    ranks, sum over micro-batches) turns into the mini-batch's token-weighted mean."""
    from verl.utils import tensordict_utils as tu
    from verl.utils.metric import AggregationType, Metric

    total = tu.get_non_tensor_data(data=data, key=NONZERO_ADV_TOKENS, default=None)
    if total is None:  # no engine hook (not the FSDP engine): unweighted micro-batch means
        return {METRIC_PSI: Metric(AggregationType.MEAN, stats["psi_mean"]),
                METRIC_PSI_RATIO: Metric(AggregationType.MEAN, stats["psi_ratio"])}
    dp_size = tu.get_non_tensor_data(data=data, key="dp_size", default=1) or 1
    share = stats["tokens"] / total * dp_size if total else 0.0
    return {METRIC_PSI: Metric(AggregationType.SUM, stats["psi_mean"] * share),
            METRIC_PSI_RATIO: Metric(AggregationType.SUM, stats["psi_ratio"] * share)}


def _announce(settings: tuple[float, float] | None, top_quantile: float) -> None:
    global _announced
    if not _announced:
        import verl

        _announced = True
        if settings is not None:
            log.warning("entropykit: entropy-based advantage active in veRL's actor loss (alpha=%g, kappa=%g, verl %s)",
                        *settings, verl.__version__)
        if top_quantile < 1:
            log.warning("entropykit: policy gradient only through the top %g of each micro-batch's tokens by entropy (verl %s)",
                        top_quantile, verl.__version__)


# Loaded as a `verl.plugins` entry point by `import verl`: wrap the loss now, before
# verl.workers.engine_workers binds it. Never raise here (veRL would hide it at DEBUG level).
install(strict=False)
