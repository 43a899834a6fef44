"""The paper's algorithm, as pure tensor functions (no model, no loop, no device assumptions).

Everything the trainer computes about advantages and losses lives here, one plain function per
estimator/loss, registered by name like veRL's `core_algos.py`, so that the single-machine loop
and the veRL plugin (`entropykit.train.verl_plugin`: `shape_advantages`, `entropy_bonus_stats`)
call the very same code. Shapes use

    B = number of responses (samples) in the batch,  T = padded response length,
    mask = response mask [B, T] (1.0 on real response tokens, 0.0 on padding).

Advantages are per token ([B, T]) throughout: outcome methods (GRPO) broadcast one value per
response over its tokens. All "mean" reductions are token-level: the mean over every response
token of the (mini-)batch, never per-response means (paper, section 3.1).

The paper's one line (section 3.2, eq. 5-6) is `shape_advantages`:

    psi_t = min(alpha * H_t.detach(), |A_t| / kappa),    A'_t = A_t + psi_t

The other entropy-control methods researchers compare it with live here too (train/README.md
has the table): Clip-Cov and KL-Cov (Cui et al. 2025) as the policy losses `clip_cov` and
`kl_cov`, equal to veRL 0.9.1's `compute_policy_loss_clip_cov` / `_kl_cov`, and the
high-entropy-token mask of Wang et al. 2025 (`high_entropy_mask`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import Tensor

ADV_ESTIMATORS: dict[str, Callable[..., tuple[Tensor, Tensor]]] = {}
POLICY_LOSSES: dict[str, Callable[..., "PolicyLossOutput"]] = {}


def _register(table: dict, kind: str, name: str):
    def deco(fn):
        if name in table:
            raise ValueError(f"{kind} {name!r} is already registered (by {table[name].__module__}.{table[name].__qualname__})")
        table[name] = fn
        return fn

    return deco


def register_adv_estimator(name: str):
    """Register an advantage estimator under `name` (decorator); a name can be taken only once.

    An estimator is called as `fn(token_rewards [B, T], mask [B, T], *, group_ids, values, **params)`
    and returns (advantages [B, T], returns [B, T]).
    """
    return _register(ADV_ESTIMATORS, "advantage estimator", name)


def register_policy_loss(name: str):
    """Register a policy loss under `name` (decorator); a name can be taken only once.

    A loss is called as `fn(logp, old_logp, advantages, mask, *, denom, **params)` ([B, T] each)
    and returns a `PolicyLossOutput`.
    """
    return _register(POLICY_LOSSES, "policy loss", name)


def _get(table: dict, kind: str, name: str):
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r} (known: {', '.join(sorted(table))})")
    return table[name]


def get_adv_estimator(name: str) -> Callable[..., tuple[Tensor, Tensor]]:
    """The advantage estimator registered as `name` (ValueError naming the known ones otherwise)."""
    return _get(ADV_ESTIMATORS, "advantage estimator", name)


def get_policy_loss(name: str) -> Callable[..., "PolicyLossOutput"]:
    """The policy loss registered as `name` (ValueError naming the known ones otherwise)."""
    return _get(POLICY_LOSSES, "policy loss", name)


# --------------------------------------------------------------------------------------------
# helpers


def token_mean(x: Tensor, mask: Tensor, denom: Tensor | float | None = None) -> Tensor:
    """The token-level mean (paper, section 3.1): sum_t mask_t * x_t / denom.

    `denom` defaults to sum(mask) (clamped to >= 1, so an empty mask gives 0). For gradient
    accumulation pass the token count of the whole mini-batch: the micro-batch terms then sum
    to the mini-batch mean. Shapes: x, mask [B, T] (or any equal shapes) -> scalar.
    """
    mask = mask.to(x.dtype)
    d = mask.sum().clamp_min(1.0) if denom is None else denom
    return (x * mask).sum() / d


def masked_whiten(x: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """(x - mean) / std over the masked entries (std unbiased), padding left at 0.

    Shapes: x, mask [B, T] -> [B, T].
    """
    mean = token_mean(x, mask)
    n = mask.sum().clamp_min(2.0)
    var = token_mean((x - mean) ** 2, mask) * n / (n - 1)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def outcome_token_rewards(rewards: Tensor, mask: Tensor) -> Tensor:
    """Outcome rewards placed on each response's last token (0 elsewhere), the estimators' input.

    Shapes: rewards [B], mask [B, T] -> [B, T]. A response with no token gets no reward.
    """
    m = mask.to(torch.float32)
    last = (m.sum(1).long() - 1).clamp_min(0)
    out = torch.zeros_like(m)
    out[torch.arange(m.shape[0], device=m.device), last] = rewards.to(m.device, torch.float32)
    return out * m


# --------------------------------------------------------------------------------------------
# the paper's method


def shape_advantages(advantages: Tensor, entropy: Tensor, alpha: float, kappa: float) -> Tensor:
    """Entropy-based advantage shaping (paper eq. 5-6).

        psi_t = min(alpha * H_t.detach(), |A_t| / kappa)
        A'_t  = A_t + psi_t

    With alpha > 0 and kappa > 1: 0 <= psi_t <= |A_t| / kappa, so A' keeps the sign of A and
    A = 0 stays 0; `entropy` is detached, so no gradient ever flows through psi (it is a
    constant offset on the advantage). The result carries no gradient from `entropy`, only
    whatever `advantages` carries (normally none).

    Shapes: advantages [B, T] (or any shape), entropy same shape -> same shape.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if kappa <= 1:
        raise ValueError(f"kappa must be > 1, got {kappa}")
    psi = torch.minimum(alpha * entropy.detach().to(advantages.dtype), advantages.abs() / kappa)
    return advantages + psi


def entropy_bonus_stats(advantages: Tensor, shaped: Tensor, mask: Tensor) -> dict[str, float]:
    """Monitoring for the paper's Figure 7: mean psi and mean psi/|A| over the `tokens` with A != 0
    (their count: the weight of these means when averaging over micro-batches).

    Shapes: advantages, shaped, mask [B, T] -> floats.
    """
    psi = (shaped - advantages).detach()
    nz = (mask > 0) & (advantages != 0)
    tokens = int(nz.sum())
    if not tokens:
        return {"psi_mean": 0.0, "psi_ratio": 0.0, "tokens": 0}
    ratio = psi[nz] / advantages[nz].abs()
    return {"psi_mean": float(psi[nz].mean()), "psi_ratio": float(ratio.mean()), "tokens": tokens}


# --------------------------------------------------------------------------------------------
# advantage estimators


@register_adv_estimator("grpo")
def grpo_advantages(
    token_rewards: Tensor,
    mask: Tensor,
    *,
    group_ids: Tensor | None = None,
    values: Tensor | None = None,
    norm_by_std: bool = True,
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """GRPO group-relative outcome advantages (paper eq. 3), vectorized over groups.

        r_i = sum_t token_rewards[i, t]                                     (the outcome reward)
        A_i = (r_i - mean_{j in g(i)} r_j) / (std_{j in g(i)} r_j + eps)    (norm_by_std)
        A_i =  r_i - mean_{j in g(i)} r_j                                    (otherwise)

    std is the unbiased sample std of the group. A group with a single sample has no baseline:
    mean 0 and std 1 (as veRL), so A_i = r_i. Every token of response i gets A_i.
    Groups need not be contiguous or of equal size; no Python loop over the batch.
    `values` is not used (no critic); it is accepted so that every estimator takes the same call.

    Shapes: token_rewards [B, T], mask [B, T], group_ids [B] (int64, any labels)
        -> (advantages [B, T], returns [B, T]); returns = advantages (no critic).
    """
    if group_ids is None:
        raise ValueError("grpo_advantages needs group_ids (which prompt each response answers)")
    rewards = (token_rewards.to(torch.float32) * mask.to(torch.float32)).sum(-1)
    _, gid = torch.unique(group_ids, return_inverse=True)
    n_groups = int(gid.max()) + 1 if gid.numel() else 0
    count = torch.zeros(n_groups, dtype=rewards.dtype, device=rewards.device).index_add_(0, gid, torch.ones_like(rewards))
    total = torch.zeros_like(count).index_add_(0, gid, rewards)
    mean = total / count
    sq = torch.zeros_like(count).index_add_(0, gid, (rewards - mean[gid]) ** 2)
    std = torch.sqrt(sq / (count - 1).clamp_min(1.0))
    single = count[gid] < 2
    mean_i = torch.where(single, torch.zeros_like(rewards), mean[gid])
    std_i = torch.where(single, torch.ones_like(rewards), std[gid])
    scores = rewards - mean_i
    if norm_by_std:
        scores = scores / (std_i + eps)
    adv = scores.unsqueeze(-1) * mask.to(rewards.dtype)
    return adv, adv


@register_adv_estimator("gae")
def gae_advantages(
    token_rewards: Tensor,
    mask: Tensor,
    *,
    values: Tensor | None = None,
    group_ids: Tensor | None = None,
    gamma: float = 1.0,
    lam: float = 1.0,
    whiten: bool = True,
) -> tuple[Tensor, Tensor]:
    """Generalized Advantage Estimation (Schulman et al., 2015); paper: gamma = lambda = 1.

        delta_t = r_t + gamma * V_{t+1} - V_t          (V_{T_i} = 0 after the last token)
        A_t     = delta_t + gamma * lam * A_{t+1}
        R_t     = A_t + V_t                             (critic target)

    With an outcome reward on the last token and gamma = lam = 1 this is A_t = r - V_t.
    The recursion runs backwards over T (vectorized over B, no loop over the batch).
    `whiten`: advantages normalized to mean 0 / std 1 over the batch's tokens (veRL's default),
    returns computed before whitening. `group_ids` is not used; it is accepted so that every
    estimator takes the same call.

    Shapes: token_rewards [B, T] (e.g. `outcome_token_rewards`), values [B, T], mask [B, T]
        -> (advantages [B, T], returns [B, T]).
    """
    if values is None:
        raise ValueError("gae_advantages needs the critic's values")
    m = mask.to(torch.float32)
    r = token_rewards.to(torch.float32) * m
    v = values.detach().to(torch.float32) * m
    B, T = r.shape
    adv = torch.zeros_like(r)
    next_adv = torch.zeros(B, dtype=r.dtype, device=r.device)
    next_v = torch.zeros_like(next_adv)
    for t in range(T - 1, -1, -1):
        delta = r[:, t] + gamma * next_v - v[:, t]
        a = delta + gamma * lam * next_adv
        # padding positions pass the future through unchanged so gaps never break the chain
        next_adv = torch.where(m[:, t] > 0, a, next_adv)
        next_v = torch.where(m[:, t] > 0, v[:, t], next_v)
        adv[:, t] = a * m[:, t]
    returns = (adv + v) * m
    if whiten:
        adv = masked_whiten(adv, m)
    return adv, returns


# --------------------------------------------------------------------------------------------
# losses


class PolicyLossOutput(NamedTuple):
    """loss: scalar to minimize; the rest are detached monitoring scalars (token means)."""

    loss: Tensor
    pg_loss: Tensor
    clip_frac_low: Tensor  # share of tokens where the lower clip (1 - eps_low, A < 0) is active
    clip_frac_high: Tensor  # share of tokens where the upper clip (1 + eps_high, A > 0) is active
    approx_kl: Tensor  # k3 estimate of KL(pi_old || pi_new): mean((rho - 1) - log rho)
    clip_frac_dual: Tensor  # share of tokens where the dual clip bounds the loss (A < 0, rho > c)
    extra: dict[str, Tensor] | None = None  # loss-specific monitoring (Clip-Cov / KL-Cov: cov_frac, cov, cov_selected)


@register_policy_loss("clip_higher")
def policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    clip_ratio_c: float = 3.0,
    denom: Tensor | float | None = None,
) -> PolicyLossOutput:
    """PPO clipped surrogate with clip-higher, dual-clip and token-level aggregation (paper eq. 1).

        rho_t = exp(logp_t - old_logp_t)                     (log-ratio clamped to [-20, 20])
        l_t   = max(-rho_t A_t, -clip(rho_t, 1 - eps_low, 1 + eps_high) A_t)
        l_t   = min(l_t, -c A_t)          where A_t < 0      (dual clip, Ye et al. 2019: c > 1)
        L     = sum_t mask_t l_t / denom

    The dual clip bounds the loss of a token with a negative advantage whose ratio has grown
    large (rho > c): it contributes the constant c|A| and no gradient. This is veRL's
    `compute_policy_loss_vanilla` (`clip_ratio_c`, default 3); `clip_frac_dual` is its
    `actor/pg_clipfrac_lower`, and clip_frac_low + clip_frac_high its `actor/pg_clipfrac`.
    `denom` defaults to mask.sum() (see `token_mean`). `advantages` is used as a constant.

    Shapes: logp, old_logp, advantages, mask [B, T] (or flat [N]) -> scalars.
    """
    if not clip_ratio_c > 1:
        raise ValueError(f"clip_ratio_c must be > 1, got {clip_ratio_c}")
    m = mask.to(logp.dtype)
    adv = advantages.detach().to(logp.dtype)
    log_ratio = (logp - old_logp.detach()).clamp(-20.0, 20.0)
    ratio = torch.exp(log_ratio)
    clipped = torch.maximum(-ratio * adv, -torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv)
    dual = torch.minimum(clipped, -clip_ratio_c * adv)
    per_token = torch.where(adv < 0, dual, clipped)
    pg_loss = token_mean(per_token, m, denom)
    with torch.no_grad():
        low = ((ratio < 1.0 - eps_low) & (adv < 0)).to(m.dtype)
        high = ((ratio > 1.0 + eps_high) & (adv > 0)).to(m.dtype)
        dual_on = ((clipped > -clip_ratio_c * adv) & (adv < 0)).to(m.dtype)
        kl = (ratio - 1.0) - log_ratio
        stats = (token_mean(low, m), token_mean(high, m), token_mean(kl, m), token_mean(dual_on, m))
    return PolicyLossOutput(pg_loss, pg_loss.detach(), *stats)


def _ratio_stats(ratio: Tensor, log_ratio: Tensor, adv: Tensor, m: Tensor, eps_low: float, eps_high: float):
    """clip_frac_low, clip_frac_high, approx_kl (k3) of a batch: the monitoring every loss reports."""
    with torch.no_grad():
        low = ((ratio < 1.0 - eps_low) & (adv < 0)).to(m.dtype)
        high = ((ratio > 1.0 + eps_high) & (adv > 0)).to(m.dtype)
        return token_mean(low, m), token_mean(high, m), token_mean((ratio - 1.0) - log_ratio, m)


def token_covariance(advantages: Tensor, logp: Tensor, mask: Tensor, *, eps: float = 0.0) -> Tensor:
    """Each token's term of the covariance between log-probability and advantage (Cui et al. 2025):

        cov_t = (A_t - mean(A)) * (logp_t - mean(logp))     means over the mask's tokens

    Its mean over the tokens is Cov(logp, A), which drives the change of policy entropy under a
    policy-gradient step; Clip-Cov and KL-Cov act on the few tokens where it is largest. `eps` is
    added to the token count of the means (veRL's `masked_mean` adds 1e-8; Clip-Cov uses it).
    Shapes: advantages, logp, mask [B, T] -> [B, T] (0 on padding).
    """
    m = mask.to(logp.dtype)
    n = m.sum() + eps
    a = advantages.detach().to(logp.dtype)
    lp = logp.detach()
    return (a - (a * m).sum() / n) * (lp - (lp * m).sum() / n) * m


def _cov_stats(cov: Tensor, selected: Tensor, m: Tensor) -> dict[str, Tensor]:
    """Clip-Cov / KL-Cov monitoring: the share of tokens selected, Cov(logp, A), the selected tokens' mean term."""
    sel = selected.to(m.dtype) * m
    k = sel.sum()
    return {"cov_frac": token_mean(sel, m), "cov": token_mean(cov, m),
            "cov_selected": (cov * sel).sum() / k if k > 0 else torch.zeros((), dtype=m.dtype, device=m.device)}


@register_policy_loss("clip_cov")
def clip_cov_policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    clip_ratio_c: float = 3.0,
    clip_cov_ratio: float = 2e-4,
    clip_cov_lb: float = 1.0,
    clip_cov_ub: float = 5.0,
    denom: Tensor | float | None = None,
    generator: torch.Generator | None = None,
) -> PolicyLossOutput:
    """Clip-Cov (Cui et al. 2025; veRL's `compute_policy_loss_clip_cov`, veRL's defaults).

        rho_t = exp(logp_t - old_logp_t)
        l_t   = max(-rho_t A_t, -clip(rho_t, 1 - eps_low, 1 + eps_high) A_t)     (PPO clip, no dual clip)
        cov_t = token_covariance(A, logp)                                         (means over the batch)
        S     = n tokens drawn uniformly (without replacement) from those with
                clip_cov_lb < cov_t < clip_cov_ub whose ratio is not clipped already,
                n = max(floor(clip_cov_ratio * #tokens), 1)
        L     = sum_t mask_t l_t [t not in S] / denom

    The tokens in S lose their policy gradient: a step on a token with a large positive
    covariance lowers entropy the most. The batch is what the loss is called on (natively a
    micro-batch, as in veRL). `generator` draws S (veRL uses torch's global generator; the
    native trainer passes one seeded per step and mini-batch, so a resumed run repeats).
    `clip_ratio_c` is accepted for a uniform call and not used (veRL's Clip-Cov has no dual clip).
    Shapes: logp, old_logp, advantages, mask [B, T] -> scalars.
    """
    if not clip_cov_ratio > 0:
        raise ValueError(f"clip_cov_ratio must be > 0, got {clip_cov_ratio}")
    m = mask.to(logp.dtype)
    adv = advantages.detach().to(logp.dtype)
    log_ratio = logp - old_logp.detach()
    ratio = torch.exp(log_ratio)
    l1 = -adv * ratio
    l2 = -adv * torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    with torch.no_grad():
        cov = token_covariance(adv, logp, mask, eps=1e-8)
        clipped = (l2 > l1) & (m > 0)
        candidates = ((cov > clip_cov_lb) & (cov < clip_cov_ub) & (m > 0) & ~clipped).nonzero()
        n = max(int(clip_cov_ratio * float(m.sum())), 1)
        if len(candidates):
            candidates = candidates[torch.randperm(len(candidates), generator=generator)[:n].to(candidates.device)]
        selected = torch.zeros_like(m, dtype=torch.bool)
        selected[candidates[:, 0], candidates[:, 1]] = True
    per_token = torch.maximum(l1, l2) * (~selected).to(logp.dtype)
    pg_loss = token_mean(per_token, m, denom)
    low, high, kl = _ratio_stats(ratio, log_ratio, adv, m, eps_low, eps_high)
    zero = torch.zeros((), dtype=m.dtype, device=m.device)
    return PolicyLossOutput(pg_loss, pg_loss.detach(), low, high, kl, zero, extra=_cov_stats(cov, selected, m))


@register_policy_loss("kl_cov")
def kl_cov_policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    clip_ratio_c: float = 3.0,
    kl_cov_ratio: float = 2e-4,
    kl_cov_coef: float = 0.1,
    denom: Tensor | float | None = None,
) -> PolicyLossOutput:
    """KL-Cov (Cui et al. 2025; veRL's `compute_policy_loss_kl_cov`, veRL's defaults).

        rho_t = exp(logp_t - old_logp_t)
        cov_t = token_covariance(A, logp)                                    (means over the batch)
        S     = the k tokens with the largest cov_t, k = max(floor(kl_cov_ratio * #tokens), 1)
        l_t   = -rho_t A_t + kl_cov_coef * |logp_t - old_logp_t| [t in S]
        L     = sum_t mask_t l_t / denom

    No ratio clipping at all (as in veRL): the tokens of S are held near the old policy by the
    |log-ratio| penalty instead. `eps_low` / `eps_high` only feed the clip-fraction monitoring;
    `clip_ratio_c` is accepted for a uniform call and not used. `kl_cov_coef` is veRL's
    `policy_loss.ppo_kl_coef`. Shapes: logp, old_logp, advantages, mask [B, T] -> scalars.
    """
    if not kl_cov_ratio > 0:
        raise ValueError(f"kl_cov_ratio must be > 0, got {kl_cov_ratio}")
    m = mask.to(logp.dtype)
    adv = advantages.detach().to(logp.dtype)
    log_ratio = logp - old_logp.detach()
    ratio = torch.exp(log_ratio)
    with torch.no_grad():
        cov = token_covariance(adv, logp, mask)
        valid = (m > 0).reshape(-1).nonzero().squeeze(-1)
        selected = torch.zeros_like(m, dtype=torch.bool)
        if len(valid):
            k = max(1, int(len(valid) * kl_cov_ratio))
            top = valid[torch.topk(cov.reshape(-1)[valid], k, largest=True).indices]
            selected.view(-1)[top] = True
    per_token = -adv * ratio + kl_cov_coef * log_ratio.abs() * selected.to(logp.dtype)
    pg_loss = token_mean(per_token, m, denom)
    low, high, kl = _ratio_stats(ratio, log_ratio, adv, m, eps_low, eps_high)
    zero = torch.zeros((), dtype=m.dtype, device=m.device)
    return PolicyLossOutput(pg_loss, pg_loss.detach(), low, high, kl, zero, extra=_cov_stats(cov, selected, m))


def high_entropy_mask(entropy: Tensor, mask: Tensor, top_quantile: float) -> Tensor:
    """Which tokens carry policy gradient under the 80/20 rule (Wang et al. 2025): those whose
    entropy is in the top `top_quantile` of the batch's response tokens.

        q   = quantile_{t in mask}(H_t, 1 - top_quantile)     (linear interpolation, torch.quantile)
        keep_t = mask_t and H_t >= q

    `top_quantile` 1 keeps every token, 0.2 is the paper's. Ties at q are all kept. Apply it by
    multiplying the advantage: a token with A = 0 has zero policy loss and gradient under every
    loss here, and the token-level denominator still counts every response token (as TRL's
    `top_entropy_quantile`, which multiplies the per-token loss). Shapes: entropy, mask [B, T] -> bool [B, T].
    """
    if not 0 < top_quantile <= 1:
        raise ValueError(f"top_quantile must lie in (0, 1], got {top_quantile}")
    valid = mask > 0
    if top_quantile >= 1 or not bool(valid.any()):
        return valid
    values = entropy.detach()[valid].to(torch.float32)
    q = torch.quantile(values, 1.0 - top_quantile)
    return valid & (entropy.detach() >= q.to(entropy.dtype))


def entropy_regularizer(entropy: Tensor, mask: Tensor, coef: float, *, denom: Tensor | float | None = None) -> Tensor:
    """The contrast baseline (paper Table 1/3): a loss term -beta * mean(H) WITH gradient through H.

    Add it to the policy loss: L = L_pg - beta * mean_t H_t (token-level mean, like L_pg).
    Shapes: entropy, mask [B, T] -> scalar.
    """
    return -coef * token_mean(entropy, mask, denom)


def kl_penalty(logp: Tensor, ref_logp: Tensor, mask: Tensor, coef: float, *, denom: Tensor | float | None = None) -> Tensor:
    """Optional KL(pi || pi_ref) loss term, k3 estimator (GRPO paper), clamped as veRL's `low_var_kl`:

        d_t  = clamp(ref_logp_t - logp_t, -20, 20)
        k3_t = clamp(exp(d_t) - d_t - 1, -10, 10)
        L    = coef * token_mean(k3)

    The clamp at 10 bounds the term (and zeroes its gradient) for tokens whose probability has
    moved far from the reference. Off by default (coef 0). Shapes: logp, ref_logp, mask [B, T] -> scalar.
    """
    diff = (ref_logp.detach() - logp).clamp(-20.0, 20.0)
    k3 = (torch.exp(diff) - diff - 1.0).clamp(-10.0, 10.0)
    return coef * token_mean(k3, mask.to(logp.dtype), denom)


def value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    mask: Tensor,
    *,
    clip_range: float | None = 0.5,
    denom: Tensor | float | None = None,
) -> tuple[Tensor, Tensor]:
    """Critic loss, clipped as in PPO (veRL's default cliprange_value 0.5), token-level mean.

        L_V = 0.5 * mean_t max((V_t - R_t)^2, (clip(V_t, V_old - c, V_old + c) - R_t)^2)

    `clip_range=None` gives the plain squared error. Returns (loss, clip fraction).
    Shapes: values, old_values, returns, mask [B, T] -> (scalar, scalar).
    """
    m = mask.to(values.dtype)
    ret = returns.detach()
    err = (values - ret) ** 2
    if clip_range is None:
        per_token = err
        frac = torch.zeros((), device=values.device)
    else:
        v_clip = old_values.detach() + (values - old_values.detach()).clamp(-clip_range, clip_range)
        err_clip = (v_clip - ret) ** 2
        per_token = torch.maximum(err, err_clip)
        with torch.no_grad():
            frac = token_mean((err_clip > err).to(m.dtype), m)
    return 0.5 * token_mean(per_token, m, denom), frac


def groups_without_signal(advantages: Tensor, group_ids: Tensor, num_groups: int) -> Tensor:
    """Which prompt groups carry no advantage: every token of every response has A = 0.

    Under GRPO that is a group whose rewards are all equal (all correct or all wrong); such a
    group adds nothing to the policy gradient, and a step where every group is like this cannot
    learn (the entropy advantage cannot help either: A = 0 stays 0). Groups with no response in
    the batch (dropped by --filter-groups) count as without signal.

    Shapes: advantages [B, T], group_ids [B] (ints in [0, num_groups)) -> [num_groups] bool.
    """
    has = (advantages != 0).any(dim=-1).to(torch.int64)
    per_group = torch.zeros(num_groups, dtype=torch.int64, device=advantages.device)
    per_group.index_add_(0, group_ids.to(advantages.device), has)
    return per_group == 0
