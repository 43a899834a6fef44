"""The training loop: GRPO or PPO with the entropy-based advantage, on one machine.

Reads top to bottom like the paper's algorithm box. Each step:

    1. rollout   sample n responses per prompt from the current policy (temperature 1)
    2. scoring   rewards (+1/-1), then one no-grad forward: old log-probs (and the critic's
                 values for PPO, the reference log-probs when a KL term is on)
    3. advantage GRPO group-normalized rewards, or GAE over the critic's values (PPO)
    4. update    for each mini-batch (gradient accumulation over micro-batches): the policy's
                 own forward gives log-probs and full-vocabulary entropies; the advantage is
                 shaped with psi = min(alpha * H.detach(), |A| / kappa); clip-higher loss with
                 token-level mean; AdamW; gradient clipping. PPO trains only the critic for the
                 first `critic_warmup` steps.
    5. log + checkpoint

All randomness that shapes a step (which prompts, each sample's seed, the mini-batch order)
is derived from (seed, step), so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import torch

from entropykit.benchmarks import load_problems
from entropykit.errors import UserError
from entropykit.io import JsonlAppender, atomic_write_json, atomic_write_text
from entropykit.models import encode_prompt

from . import algos
from .checkpoint import latest_checkpoint, load_trainer_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .data import RewardFn, resolve_reward
from .policy import Packed, ValueModel, pack, policy_logprobs_entropy, unwrap

Log = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# small helpers the loop calls (each does one thing)


def step_problem_indices(step: int, per_step: int, num_problems: int, seed: int) -> list[int]:
    """Problems for `step`: walk through seeded permutations of the dataset, one per epoch."""
    from entropykit.generation import derive_seed

    out, perms = [], {}
    for pos in range(step * per_step, (step + 1) * per_step):
        epoch, k = divmod(pos, num_problems)
        if epoch not in perms:
            g = torch.Generator().manual_seed(derive_seed(seed, "data", epoch))
            perms[epoch] = torch.randperm(num_problems, generator=g).tolist()
        out.append(perms[epoch][k])
    return out


def _rollout_backend(cfg: TrainConfig) -> str:
    from entropykit.generation import choose_backend

    return choose_backend(cfg.rollout_backend, vllm_ok=cfg.lora_rank == 0,
                          why_not="pushing LoRA weights into vLLM is not implemented; use --rollout-backend hf")


def rows(x: torch.Tensor, idx: torch.Tensor, sub: Packed) -> torch.Tensor:
    """Rows `idx` of a per-token [B, T] tensor, trimmed like `Packed.select`."""
    return x[idx, : sub.resp_mask.shape[1]]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: 1 - C(n-c, k) / C(n, k) (exactly 1 when n - c < k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


class _TB:
    """TensorBoard writer when tensorboard is installed, else nothing."""

    def __init__(self, folder: Path, enabled: bool):
        self.w = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.w = SummaryWriter(str(folder))
            except Exception:
                self.w = None

    def log(self, rec: dict) -> None:
        if self.w is not None:
            for k, v in rec.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.w.add_scalar(k, v, rec["step"])
            self.w.flush()

    def close(self) -> None:
        if self.w is not None:
            self.w.close()


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only records of steps <= last_step (a resumed run rewrites what came after)."""
    if not path.exists():
        return
    from entropykit.io import repair_jsonl_tail

    repair_jsonl_tail(path)
    keep = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and json.loads(line)["step"] <= last_step]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def _load_policy(cfg: TrainConfig, device: torch.device, ckpt: Path | None):
    """The trainable policy (float32 master weights) and its tokenizer."""
    from entropykit.models import LoadedModel, load_model

    source = str(ckpt / "policy") if (ckpt is not None and cfg.lora_rank == 0) else cfg.model
    lm = load_model(source, device=device, dtype=torch.float32, cache=False)
    model = lm.model
    if cfg.lora_rank > 0:
        try:
            import peft
        except ImportError:
            raise UserError("--lora-rank needs peft: pip install 'entropykit[lora]'") from None
        if ckpt is not None:
            model = peft.PeftModel.from_pretrained(model, str(ckpt / "policy"), is_trainable=True)
        else:
            lcfg = peft.LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM")
            model = peft.get_peft_model(model, lcfg)
    if cfg.grad_checkpointing:
        base = unwrap(model)
        enable = getattr(base, "activation_checkpointing_enable", None) or base.gradient_checkpointing_enable
        enable()
    model.eval()  # no dropout in RL fine-tuning; gradients still flow (see the update for --grad-checkpointing)
    return LoadedModel(model=model, tokenizer=lm.tokenizer, name=cfg.model, path=lm.path, device=device, dtype=torch.float32)


class WeightedMeans:
    """Running weighted means of scalar statistics (weights: token counts, or 1 per update)."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.weights: dict[str, float] = {}

    def add(self, key: str, value: float, weight: float = 1.0) -> None:
        if weight > 0:
            self.sums[key] = self.sums.get(key, 0.0) + value * weight
            self.weights[key] = self.weights.get(key, 0.0) + weight

    def mean(self, key: str) -> float | None:
        w = self.weights.get(key, 0.0)
        return self.sums[key] / w if w > 0 else None


def _lr_lambda(warmup: int):
    return lambda u: min(1.0, (u + 1) / (warmup + 1)) if warmup else 1.0


# --------------------------------------------------------------------------------------------


def train(
    cfg: TrainConfig,
    *,
    reward_fn: RewardFn | None = None,
    resume: bool = False,
    log: Log | None = None,
) -> Path:
    """Run (or resume) training; returns the run folder. Config errors raise UserError first."""
    log = log or (lambda s: None)
    # ---- everything a user can get wrong is checked before any model is loaded
    cfg.validate()
    problems = load_problems(cfg.data, cfg.problem_key, cfg.answer_key)
    eval_problems = load_problems(cfg.eval_data, cfg.problem_key, cfg.answer_key)[: cfg.eval_max_problems] if cfg.eval_every else []
    reward_fn = reward_fn or resolve_reward(cfg.reward)
    backend = _rollout_backend(cfg)
    run = Path(cfg.out)
    metrics_path = run / "metrics.jsonl"
    ckpt = latest_checkpoint(run) if resume else None
    if not resume and metrics_path.exists() and metrics_path.stat().st_size > 0:
        raise UserError(f"{run} already holds a run; pass --resume {run} to continue it, or choose another --out")
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run / "config.json", cfg.to_dict())

    from entropykit.generation import SamplingConfig, derive_seed, make_generator

    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device) if cfg.device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    use_bf16 = cfg.bf16 if cfg.bf16 is not None else device.type == "cuda"
    amp = torch.bfloat16 if use_bf16 else None
    is_ppo = cfg.algo == "ppo"
    alpha = cfg.alpha_value

    # ---- models and optimizers
    lm = _load_policy(cfg, device, ckpt)
    policy, tok = lm.model, lm.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    params = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.warmup_steps))
    critic = critic_opt = ref = None
    if is_ppo:
        critic = ValueModel.from_pretrained(lm.path, device)  # initialized from the policy; resume loads its state
        critic.eval()
        critic_opt = torch.optim.AdamW(critic.parameters(), lr=cfg.critic_lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.kl_coef > 0:
        from entropykit.models import load_model

        ref = load_model(cfg.model, device=device, dtype=amp or torch.float32, cache=False).model.eval().requires_grad_(False)
    start = 0
    if ckpt is not None:
        st = load_trainer_state(ckpt)
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        if is_ppo:
            critic.load_state_dict(st["critic"])
            critic_opt.load_state_dict(st["critic_optimizer"])
        set_rng_state(st["rng"])
        start = int(st["step"])
        log(f"resumed {run} from {ckpt.name} (step {start})")
    _truncate_metrics(metrics_path, start)
    if start >= cfg.steps:
        log(f"nothing to do: run is at step {start} of {cfg.steps}")
        return run

    if backend == "vllm":  # colocated engine; the policy's weights are pushed into it after each update
        vllm_kw = {"gpu_memory_utilization": cfg.vllm_gpu_memory} if device.type == "cuda" else {}
        vllm_kw.update(cfg.extra.get("vllm", {}))
        gen = make_generator(lm, backend="vllm", chat=cfg.chat, weight_sync=True, seed=cfg.seed, **vllm_kw)
    else:  # transformers: samples the live policy in place, nothing to sync
        gen = make_generator(lm, backend="hf", chat=cfg.chat, batch_size=cfg.extra.get("gen_batch_size", 64))
    sampling = SamplingConfig(n=cfg.n_samples, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens, seed=cfg.seed)
    prompt_cache: dict[str, list[int]] = {}
    tb = _TB(run / "tb", cfg.tensorboard)
    metrics = JsonlAppender(metrics_path)

    def forward_nograd(batch: Packed, micro: int):
        """old log-probs, entropies, values, reference log-probs for the whole rollout."""
        B, T = batch.resp_mask.shape
        old_logp, ent = torch.zeros(B, T, device=device), torch.zeros(B, T, device=device)
        values = torch.zeros(B, T, device=device) if is_ppo else None
        ref_logp = torch.zeros(B, T, device=device) if ref is not None else None
        with torch.no_grad():
            for ix in torch.arange(B, device=device).split(micro):
                sub = batch.select(ix)
                t = sub.resp_mask.shape[1]
                lp, h = policy_logprobs_entropy(policy, sub, chunk_size=cfg.chunk_size, grad=False, autocast_dtype=amp)
                old_logp[ix, :t], ent[ix, :t] = lp, h
                if is_ppo:
                    values[ix, :t] = critic(sub, amp)
                if ref is not None:
                    ref_logp[ix, :t] = policy_logprobs_entropy(ref, sub, chunk_size=cfg.chunk_size, grad=False, autocast_dtype=amp)[0]
        return old_logp, ent, values, ref_logp

    try:
        for step in range(start, cfg.steps):
            t_step = time.perf_counter()
            # ---- 1. rollout ------------------------------------------------------------------
            idx = step_problem_indices(step, cfg.prompts_per_step, len(problems), cfg.seed)
            batch_problems = [problems[i] for i in idx]
            prompts = [cfg.render_prompt(p["problem"]) for p in batch_problems]
            seeds = [[derive_seed(cfg.seed, "rollout", step, k, j) for j in range(cfg.n_samples)] for k in range(len(idx))]
            policy.eval()
            with torch.autocast(device.type, dtype=amp) if amp else torch.no_grad():
                completions = gen.generate(prompts, sampling, seeds=seeds)
            t_rollout = time.perf_counter() - t_step

            # ---- 2. scoring: rewards, old log-probs, values ------------------------------------
            t0 = time.perf_counter()
            flat = [(k, c) for k, comps in enumerate(completions) for c in comps]
            rewards_list = reward_fn(
                [prompts[k] for k, _ in flat], [c.text for _, c in flat], [batch_problems[k]["answer"] for k, _ in flat]
            )
            rewards = torch.tensor(rewards_list, dtype=torch.float32)
            group_ids = torch.tensor([k for k, _ in flat])
            resp_lens = torch.tensor([len(c.token_ids) for _, c in flat], dtype=torch.float32)
            truncated = sum(c.finish_reason == "length" for _, c in flat) / len(flat)
            keep = torch.ones(len(flat), dtype=torch.bool)
            if cfg.filter_groups:  # groups whose rewards are all equal carry no GRPO signal
                gmax = torch.full((len(idx),), -math.inf).scatter_reduce(0, group_ids, rewards, "amax")
                gmin = torch.full((len(idx),), math.inf).scatter_reduce(0, group_ids, rewards, "amin")
                keep = (gmax > gmin)[group_ids]
            kept = keep.nonzero().squeeze(-1).tolist()
            for p in set(prompts):
                if p not in prompt_cache:
                    prompt_cache[p] = encode_prompt(tok, p, cfg.chat)  # exactly what the generator fed
            batch = pack(
                [prompt_cache[prompts[flat[i][0]]] for i in kept],
                [flat[i][1].token_ids for i in kept],  # as sampled, with the stop token (generation contract)
                pad_id,
            ).to(device)
            mask = batch.resp_mask
            B = len(kept)
            rec: dict = {"step": step + 1}
            if B:
                old_logp, ent_old, values, ref_logp = forward_nograd(batch, cfg.micro_size)
                # ---- 3. advantages -------------------------------------------------------------
                r_kept = rewards[kept].to(device)
                if is_ppo:
                    token_rewards = torch.zeros_like(mask)
                    last = (mask.sum(1).long() - 1).clamp_min(0)
                    token_rewards[torch.arange(B, device=device), last] = r_kept
                    adv, returns = algos.gae_advantages(token_rewards, values, mask, gamma=cfg.gamma, lam=cfg.lam, whiten=cfg.whiten_advantages)
                else:
                    adv, returns = algos.grpo_advantages(r_kept, group_ids[kept].to(device), mask, norm_by_std=cfg.norm_adv_by_std)
            t_scoring = time.perf_counter() - t0

            # ---- 4. updates --------------------------------------------------------------------
            t0 = time.perf_counter()
            update_policy = (not is_ppo) or step >= cfg.critic_warmup
            # transformers only checkpoints activations in train mode (our models have no dropout
            # by default; with --grad-checkpointing a model's dropout, if any, is active here)
            policy.train(cfg.grad_checkpointing)
            st = WeightedMeans()
            n_updates = 0
            if B:
                adv_rows = (adv != 0).any(dim=1)
                g = torch.Generator().manual_seed(derive_seed(cfg.seed, "minibatch", step))
                n_mb = max(1, cfg.rollout_size // cfg.mini_batch_size)
                for _epoch in range(cfg.epochs):
                    perm = torch.randperm(B, generator=g).to(device)
                    for mb in torch.tensor_split(perm, min(n_mb, B)):
                        ntok = mask[mb].sum().clamp_min(1.0)  # token-level mean over the mini-batch
                        if is_ppo:  # critic: clipped value loss towards the GAE returns
                            critic_opt.zero_grad(set_to_none=True)
                            mb_loss = 0.0
                            for ix in mb.split(cfg.micro_size):
                                sub = batch.select(ix)
                                vl, vclip = algos.value_loss(critic(sub, amp), rows(values, ix, sub), rows(returns, ix, sub),
                                                             sub.resp_mask, clip_range=cfg.value_clip, denom=ntok)
                                vl.backward()
                                mb_loss += float(vl.detach())
                                st.add("value_clip_frac", float(vclip), float(sub.resp_mask.sum()))
                            st.add("value_loss", mb_loss)
                            st.add("critic_grad_norm", float(torch.nn.utils.clip_grad_norm_(critic.parameters(), cfg.max_grad_norm)))
                            critic_opt.step()
                        if not update_policy:
                            continue
                        opt.zero_grad(set_to_none=True)
                        # rows whose advantage is 0 everywhere add exactly 0 to the gradient (A = 0
                        # => A' = 0) unless a regularizer is on: skip their forward, but keep their
                        # tokens in the denominator
                        active = mb if (cfg.entropy_coef > 0 or ref is not None) else mb[adv_rows[mb]]
                        mb_loss = 0.0
                        for ix in (active.split(cfg.micro_size) if len(active) else ()):
                            sub = batch.select(ix)
                            m = sub.resp_mask
                            logp, ent = policy_logprobs_entropy(policy, sub, chunk_size=cfg.chunk_size, grad=True, autocast_dtype=amp)
                            a = rows(adv, ix, sub)
                            # the paper's one line: A' = A + min(alpha * H.detach(), |A| / kappa)
                            a_used = algos.shape_advantages(a, ent, alpha, cfg.kappa) if cfg.entropy_adv else a
                            out = algos.policy_loss(logp, rows(old_logp, ix, sub), a_used, m, eps_low=cfg.eps_low, eps_high=cfg.eps_high, denom=ntok)
                            loss = out.loss
                            if cfg.entropy_coef > 0:  # the entropy-regularization baseline (gradient through H)
                                loss = loss + algos.entropy_regularizer(ent, m, cfg.entropy_coef, denom=ntok)
                            if ref is not None:
                                loss = loss + algos.kl_penalty(logp, rows(ref_logp, ix, sub), m, cfg.kl_coef, denom=ntok)
                            loss.backward()
                            mb_loss += float(out.pg_loss)
                            w = float(m.sum())
                            for k in ("clip_frac_low", "clip_frac_high", "approx_kl"):
                                st.add(k, float(getattr(out, k)), w)
                            st.add("entropy_update", float(algos.masked_mean(ent.detach(), m)), w)
                            if cfg.entropy_adv:
                                bonus = algos.entropy_bonus_stats(a, a_used, m)
                                nz = float(((m > 0) & (a != 0)).sum())
                                st.add("psi_ratio", bonus["psi_ratio"], nz)
                                st.add("psi_mean", bonus["psi_mean"], nz)
                        for p in params:  # an all-zero mini-batch still takes its AdamW step
                            if p.grad is None:
                                p.grad = torch.zeros_like(p)
                        st.add("pg_loss", mb_loss)
                        st.add("grad_norm", float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)))
                        opt.step()
                        sched.step()
                        n_updates += 1
            if n_updates:  # vLLM: load the new weights into the engine (transformers: samples the live policy)
                gen.sync_weights(unwrap(policy).state_dict().items(), folder=str(run))
            t_update = time.perf_counter() - t0

            # ---- 5. log + checkpoint -----------------------------------------------------------
            t_total = time.perf_counter() - t_step
            gen_tokens = float(resp_lens.sum())
            rec.update({
                "reward_mean": float(rewards.mean()),
                "accuracy": float((rewards > 0).float().mean()),
                "response_length": float(resp_lens.mean()),
                "truncated_frac": truncated,
                "groups_kept_frac": float(keep.float().mean()),
                "entropy": float(algos.masked_mean(ent_old, mask)) if B else None,
            })
            keys = ["pg_loss", "clip_frac_low", "clip_frac_high", "approx_kl", "entropy_update", "grad_norm"]
            keys += ["psi_ratio", "psi_mean"] if cfg.entropy_adv else []
            keys += ["value_loss", "value_clip_frac", "critic_grad_norm"] if is_ppo else []
            rec.update({k: st.mean(k) for k in keys})  # None when nothing was measured this step
            if is_ppo and B:
                rec["value_mean"] = float(algos.masked_mean(values, mask))
            rec.update({
                "policy_updates": n_updates,
                "lr": sched.get_last_lr()[0],
                "tokens_per_s": gen_tokens / t_total,
                "seq_tokens": int(batch.attention_mask.sum()),  # prompt + response tokens trained on
                "time_rollout": t_rollout, "time_scoring": t_scoring, "time_update": t_update, "time_step": t_total,
            })
            if cfg.eval_every and (step + 1) % cfg.eval_every == 0:
                rec.update(evaluate(gen, cfg, eval_problems, reward_fn))
            metrics.write(rec)
            tb.log(rec)
            log(_format_line(rec, cfg.steps))
            if cfg.save_every and ((step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps):
                state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
                if is_ppo:
                    state.update(critic=critic.state_dict(), critic_optimizer=critic_opt.state_dict())
                save_checkpoint(run, step + 1, policy=policy, tokenizer=tok, state=state, keep=cfg.keep_checkpoints)
    finally:
        metrics.close()
        tb.close()
        gen.close()
        if hasattr(reward_fn, "close"):
            reward_fn.close()
    return run


def evaluate(gen, cfg: TrainConfig, problems: list[dict], reward_fn: RewardFn) -> dict:
    """Held-out check with the paper's eval sampling (T 0.6, top-p 0.95): accuracy and pass@k."""
    from entropykit.generation import PAPER_EVAL_TEMPERATURE, PAPER_EVAL_TOP_P, SamplingConfig, derive_seed

    if not problems:
        return {}
    sp = SamplingConfig(n=cfg.eval_n, temperature=PAPER_EVAL_TEMPERATURE, top_p=PAPER_EVAL_TOP_P, max_tokens=cfg.max_tokens, seed=cfg.seed)
    prompts = [cfg.render_prompt(p["problem"]) for p in problems]
    seeds = [[derive_seed(cfg.seed, "eval", i, j) for j in range(cfg.eval_n)] for i in range(len(problems))]
    comps = gen.generate(prompts, sp, seeds=seeds)
    out: dict[str, float] = {}
    correct = []
    for i, cs in enumerate(comps):
        r = reward_fn([prompts[i]] * len(cs), [c.text for c in cs], [problems[i]["answer"]] * len(cs))
        correct.append(sum(x > 0 for x in r))
    out["eval_accuracy"] = sum(correct) / (len(problems) * cfg.eval_n)
    k = 1
    while k <= cfg.eval_n:
        out[f"eval_pass@{k}"] = sum(pass_at_k(cfg.eval_n, c, k) for c in correct) / len(problems)
        k *= 2
    return out


def _format_line(rec: dict, steps: int) -> str:
    parts = [f"step {rec['step']}/{steps}", f"reward {rec['reward_mean']:+.3f}", f"acc {rec['accuracy']:.3f}",
             f"len {rec['response_length']:.1f}"]
    if rec.get("entropy") is not None:
        parts.append(f"H {rec['entropy']:.3f}")
    if rec.get("psi_ratio") is not None:
        parts.append(f"psi/|A| {rec['psi_ratio']:.3f}")
    parts.append(f"{rec['tokens_per_s']:.0f} tok/s")
    return "  ".join(parts)


def resume_config(run: str | Path, steps: int | None = None) -> TrainConfig:
    """The saved config of RUN (optionally with more steps), pointing at RUN."""
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"--resume {run}: no such run folder")
    cfg = TrainConfig.load(run / "config.json")
    cfg.out = str(run)
    if steps is not None:
        cfg.steps = steps
    return cfg
