"""The training loop: GRPO or PPO with the entropy-based advantage, on one machine.

`train()` reads top to bottom like the paper's algorithm box. Each step:

    1. rollout   sample n responses per prompt from the current policy (rollout temperature T)
    2. scoring   rewards (+1/-1), then one no-grad forward: old log-probs (and the critic's
                 values for PPO, the reference log-probs when a KL term is on)
    3. advantage the estimator of the algorithm (GRPO: group-normalized rewards; PPO: GAE over
                 the critic's values), chosen by name from `algos.ADV_ESTIMATORS`
    4. update    `update_step`: for each mini-batch (gradient accumulation over micro-batches)
                 the policy's own forward gives log-probs and full-vocabulary entropies; the
                 advantage is shaped with psi = min(alpha * H.detach(), |A| / kappa); the policy
                 loss (`algos.POLICY_LOSSES`, clip-higher + dual-clip, token-level mean); AdamW;
                 gradient clipping. PPO trains only the critic for the first `critic_warmup` steps.
    5. log + checkpoint

Every policy forward (old log-probs, reference, update) scores the tokens under the sampling
distribution softmax(logits / T), as veRL does; the trained token ids are exactly the sampled
ones, stop token included (the core generator contract).

All randomness that shapes a step (which prompts, each sample's seed, the mini-batch order)
is derived from (seed, step), so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from entropykit.benchmarks import load_problems
from entropykit.errors import UserError
from entropykit.generation import Completion, SamplingConfig, choose_backend, derive_seed, make_generator
from entropykit.io import JsonlAppender, atomic_write_json, atomic_write_text, ensure_writable_dir, read_complete_jsonl, run_lock
from entropykit.models import LoadedModel, check_fits_context, encode_prompt, load_model
from entropykit.pass_at_k import mean_accuracy, mean_pass_at_k
from entropykit.sampling import PAPER_EVAL_TEMPERATURE, PAPER_EVAL_TOP_P

from . import algos
from .checkpoint import (
    checkpoint_step, latest_checkpoint, load_trainer_state, remove_stale_temp, save_checkpoint, set_rng_state,
)
from .config import TrainConfig
from .data import RewardFn, accepts_finish_reasons, resolve_reward
from .monitor import PhaseTimer, StepProgress, TensorBoardLog, WeightedMeans, describe_plan, format_step_line
from .policy import Packed, ValueModel, micro_batches, pack, policy_logprobs_entropy, unwrap

Log = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# small helpers the loop calls (each does one thing)


def step_problem_indices(step: int, per_step: int, num_problems: int, seed: int) -> list[int]:
    """Problems for `step`: walk through seeded permutations of the dataset, one per epoch."""
    out, perms = [], {}
    for pos in range(step * per_step, (step + 1) * per_step):
        epoch, k = divmod(pos, num_problems)
        if epoch not in perms:
            g = torch.Generator().manual_seed(derive_seed(seed, "data", epoch))
            perms[epoch] = torch.randperm(num_problems, generator=g).tolist()
        out.append(perms[epoch][k])
    return out


def _rollout_backend(cfg: TrainConfig) -> str:
    return choose_backend(cfg.rollout_backend, vllm_ok=cfg.lora_rank == 0,
                          why_not="pushing LoRA weights into vLLM is not implemented; use --rollout-backend hf")


def take_rows(x: torch.Tensor, idx: torch.Tensor, sub: Packed) -> torch.Tensor:
    """Rows `idx` of a per-token [B, T] tensor, trimmed like `Packed.select`."""
    return x[idx, : sub.resp_mask.shape[1]]


def reward_completions(reward_fn: RewardFn, prompts: list[str], answers: list,
                       completions: list[list[Completion]]) -> tuple[list[tuple[int, Completion]], list[float]]:
    """Every completion (`completions[k]`: the samples of prompt k) as (k, completion), flattened
    prompt by prompt, and their rewards from one call of `reward_fn`. Each response's finish
    reason ("stop" / "length") is passed to reward functions that accept `finish_reasons`
    (e.g. to grade a truncated response as wrong)."""
    flat = [(k, c) for k, comps in enumerate(completions) for c in comps]
    args = ([prompts[k] for k, _ in flat], [c.text for _, c in flat], [answers[k] for k, _ in flat])
    if accepts_finish_reasons(reward_fn):
        out = reward_fn(*args, finish_reasons=[c.finish_reason for _, c in flat])
    else:
        out = reward_fn(*args)
    out = [float(r) for r in out]
    if len(out) != len(flat):
        raise UserError(f"the reward function returned {len(out)} rewards for {len(flat)} responses")
    return flat, out


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only records of steps <= last_step (a resumed run rewrites what came after). A
    damaged metrics file (not UTF-8, a garbage line, a line without an integer "step") is a
    UserError before any model is loaded; a torn last line is dropped."""
    if not path.exists():
        return
    records = read_complete_jsonl(path, required=("step",), types={"step": int})
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records if r["step"] <= last_step))


def _load_policy(cfg: TrainConfig, device: torch.device, ckpt: Path | None):
    """The trainable policy (float32 master weights) and its tokenizer."""
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


def _lr_lambda(warmup: int):
    return lambda u: min(1.0, (u + 1) / (warmup + 1)) if warmup else 1.0


@dataclass
class Learner:
    """What the update trains: the policy and its optimizer, the critic (PPO), the frozen
    reference (KL term), and the loss functions chosen from the registries."""

    policy: torch.nn.Module
    params: list
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    policy_loss: Callable[..., algos.PolicyLossOutput]
    critic: ValueModel | None = None
    critic_opt: torch.optim.Optimizer | None = None
    ref: torch.nn.Module | None = None
    amp: torch.dtype | None = None

    @property
    def loss_takes_generator(self) -> bool:
        """Whether the policy loss draws at random (Clip-Cov): it then gets a seeded generator."""
        fn = getattr(self.policy_loss, "func", self.policy_loss)
        return "generator" in inspect.signature(fn).parameters


@dataclass
class Rollout:
    """One step's responses, packed, with everything the update needs per token ([B, T])."""

    batch: Packed
    old_logp: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor | None
    ref_logp: torch.Tensor | None
    adv: torch.Tensor | None = None
    returns: torch.Tensor | None = None

    @property
    def mask(self) -> torch.Tensor:
        return self.batch.resp_mask

    @property
    def size(self) -> int:
        return self.batch.resp_mask.shape[0]


def _micro_batches(cfg: TrainConfig, batch: Packed, idx: torch.Tensor) -> list[torch.Tensor]:
    return micro_batches(idx, batch.attention_mask.sum(1), max_samples=cfg.micro_batch_size, max_tokens=cfg.micro_batch_tokens)


@torch.no_grad()
def score_rollout(m: Learner, batch: Packed, cfg: TrainConfig, advance: Callable[[int], None] = lambda n: None) -> Rollout:
    """Old log-probs and entropies (policy), values (critic), reference log-probs, no gradient."""
    B, T = batch.resp_mask.shape
    dev = batch.resp_mask.device
    out = Rollout(batch, torch.zeros(B, T, device=dev), torch.zeros(B, T, device=dev),
                  torch.zeros(B, T, device=dev) if m.critic is not None else None,
                  torch.zeros(B, T, device=dev) if m.ref is not None else None)
    for ix in _micro_batches(cfg, batch, torch.arange(B, device=dev)):
        sub = batch.select(ix)
        t = sub.resp_mask.shape[1]
        out.old_logp[ix, :t], out.entropy[ix, :t] = policy_logprobs_entropy(
            m.policy, sub, chunk_size=cfg.chunk_size, grad=False, autocast_dtype=m.amp, temperature=cfg.temperature)
        if m.critic is not None:
            out.values[ix, :t] = m.critic(sub, m.amp)
        if m.ref is not None:
            out.ref_logp[ix, :t] = policy_logprobs_entropy(
                m.ref, sub, chunk_size=cfg.chunk_size, grad=False, autocast_dtype=m.amp, temperature=cfg.temperature)[0]
        advance(len(ix))
    return out


def _critic_minibatch(m: Learner, ro: Rollout, mb: torch.Tensor, ntok: torch.Tensor, cfg: TrainConfig, st: WeightedMeans) -> None:
    """One AdamW step of the critic: clipped value loss towards the GAE returns."""
    m.critic_opt.zero_grad(set_to_none=True)
    total = 0.0
    for ix in _micro_batches(cfg, ro.batch, mb):
        sub = ro.batch.select(ix)
        vl, vclip = algos.value_loss(m.critic(sub, m.amp), take_rows(ro.values, ix, sub), take_rows(ro.returns, ix, sub),
                                     sub.resp_mask, clip_range=cfg.value_clip, denom=ntok)
        vl.backward()
        total += float(vl.detach())
        st.add("value_clip_frac", float(vclip), float(sub.resp_mask.sum()))
    st.add("value_loss", total)
    norm = torch.nn.utils.clip_grad_norm_(m.critic.parameters(), cfg.max_grad_norm)
    st.add("critic_grad_norm", float(norm))
    _step_if_finite(m.critic_opt, norm, st, "skipped_critic_updates")


def _policy_minibatch(m: Learner, ro: Rollout, mb: torch.Tensor, ntok: torch.Tensor, cfg: TrainConfig, st: WeightedMeans,
                      key: tuple = ()) -> None:
    """One AdamW step of the policy on mini-batch `mb`, gradients accumulated over micro-batches.
    `key` (step, epoch, mini-batch) seeds the loss's own randomness (Clip-Cov's token draw)."""
    m.opt.zero_grad(set_to_none=True)
    # the 80/20 rule: the quantile is over this mini-batch's response tokens, on the entropies of the
    # policy that sampled them (the scoring pass): one selection per optimizer step, whatever the micro-batching
    keep = None
    if cfg.top_entropy_quantile < 1:
        keep = torch.zeros_like(ro.mask, dtype=torch.bool)
        keep[mb] = algos.high_entropy_mask(ro.entropy[mb], ro.mask[mb], cfg.top_entropy_quantile)
        w = float(ro.mask[mb].sum())
        st.add("entropy_mask_frac", float(keep[mb].sum()) / max(w, 1.0), w)
    loss_kw = {"generator": torch.Generator().manual_seed(derive_seed(cfg.seed, "policy-loss", *key))} if m.loss_takes_generator else {}
    # rows whose advantage is 0 everywhere add exactly 0 to the gradient (A = 0 => A' = 0) unless
    # a regularizer is on: skip their forward, but keep their tokens in the denominator `ntok`
    # (KL-Cov's penalty and Clip-Cov's covariance read every token: they keep all rows)
    active = mb if (cfg.entropy_coef > 0 or m.ref is not None or cfg.loss_mode != "clip_higher") else mb[(ro.adv[mb] != 0).any(dim=1)]
    total = 0.0
    for ix in _micro_batches(cfg, ro.batch, active):
        sub = ro.batch.select(ix)
        mask = sub.resp_mask
        logp, ent = policy_logprobs_entropy(m.policy, sub, chunk_size=cfg.chunk_size, grad=True,
                                            autocast_dtype=m.amp, temperature=cfg.temperature)
        a = take_rows(ro.adv, ix, sub)
        # the paper's one line: A' = A + min(alpha * H.detach(), |A| / kappa)
        a_used = algos.shape_advantages(a, ent, cfg.alpha_value, cfg.kappa) if cfg.entropy_adv else a
        if keep is not None:  # only the high-entropy tokens carry policy gradient (A = 0: zero loss and gradient)
            a_used = a_used * take_rows(keep, ix, sub).to(a_used.dtype)
        out = m.policy_loss(logp, take_rows(ro.old_logp, ix, sub), a_used, mask, denom=ntok, **loss_kw)
        loss = out.loss
        if cfg.entropy_coef > 0:  # the entropy-regularization baseline (gradient through H)
            loss = loss + algos.entropy_regularizer(ent, mask, cfg.entropy_coef, denom=ntok)
        if m.ref is not None:
            loss = loss + algos.kl_penalty(logp, take_rows(ro.ref_logp, ix, sub), mask, cfg.kl_coef, denom=ntok)
        loss.backward()
        total += float(out.pg_loss)
        w = float(mask.sum())
        for k in ("clip_frac_low", "clip_frac_high", "clip_frac_dual", "approx_kl"):
            st.add(k, float(getattr(out, k)), w)
        for k, v in (out.extra or {}).items():  # loss-specific monitoring (Clip-Cov / KL-Cov)
            st.add(k, float(v), w)
        st.add("entropy_update", float(algos.token_mean(ent.detach(), mask)), w)
        if cfg.entropy_adv:
            bonus = algos.entropy_bonus_stats(a, a_used, mask)
            st.add("psi_ratio", bonus["psi_ratio"], bonus["tokens"])
            st.add("psi_mean", bonus["psi_mean"], bonus["tokens"])
    for p in m.params:  # an all-zero mini-batch still takes its AdamW step
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    st.add("pg_loss", total)
    norm = torch.nn.utils.clip_grad_norm_(m.params, cfg.max_grad_norm)
    st.add("grad_norm", float(norm))
    _step_if_finite(m.opt, norm, st, "skipped_updates")
    m.sched.step()  # the schedule counts updates taken or skipped (as veRL's, stepped once per mini-batch here)


def _step_if_finite(opt: torch.optim.Optimizer, grad_norm: torch.Tensor, st: WeightedMeans, counter: str) -> None:
    """AdamW step, unless the gradient norm is nan/inf: then the gradient is dropped and the skip
    counted (veRL does the same). One bad mini-batch would otherwise write nan into every weight."""
    if torch.isfinite(grad_norm):
        opt.step()
    else:
        opt.zero_grad(set_to_none=True)
        st.count(counter)


def update_step(m: Learner, ro: Rollout, cfg: TrainConfig, step: int,
                advance: Callable[[int], None] = lambda n: None) -> tuple[WeightedMeans, int]:
    """4. The update of one step: `epochs` passes over the rollout in seeded random mini-batches
    of `mini_batch_size` samples; each mini-batch is one AdamW step of the critic (PPO) and,
    after the critic warm-up, one of the policy. Token-level means over each whole mini-batch.
    Returns the step's statistics and the number of policy updates."""
    st = WeightedMeans()
    if ro.size == 0:
        return st, 0
    update_policy = cfg.algo != "ppo" or step >= cfg.critic_warmup
    # transformers only checkpoints activations in train mode (our models have no dropout by
    # default; with --grad-checkpointing a model's dropout, if any, is active here)
    m.policy.train(cfg.grad_checkpointing)
    g = torch.Generator().manual_seed(derive_seed(cfg.seed, "minibatch", step))
    n_mb = max(1, cfg.rollout_size // cfg.mini_batch_size)
    n_updates = 0
    for epoch in range(cfg.epochs):
        perm = torch.randperm(ro.size, generator=g).to(ro.mask.device)
        for i, mb in enumerate(torch.tensor_split(perm, min(n_mb, ro.size))):
            ntok = ro.mask[mb].sum().clamp_min(1.0)  # token-level mean over the whole mini-batch
            if m.critic is not None:
                _critic_minibatch(m, ro, mb, ntok, cfg, st)
            if update_policy:
                _policy_minibatch(m, ro, mb, ntok, cfg, st, key=(step, epoch, i))
                n_updates += 1
            advance(1)
    m.policy.eval()
    return st, n_updates


# --------------------------------------------------------------------------------------------


def train(
    cfg: TrainConfig,
    *,
    reward_fn: RewardFn | None = None,
    resume: bool = False,
    log: Log | None = None,
    progress: bool = False,
) -> Path:
    """Run (or resume) training; returns the run folder. Config errors raise UserError first.

    `progress`: rich progress bars on stderr (steps, and within a step rollout samples, scored
    samples and update mini-batches); `log` receives the plan and one line per step.
    """
    log = log or (lambda s: None)
    # ---- everything a user can get wrong is checked before any model is loaded
    cfg.validate()
    try:
        estimate_advantages = functools.partial(algos.get_adv_estimator(cfg.adv_estimator), **cfg.adv_estimator_kwargs())
        policy_loss = functools.partial(algos.get_policy_loss(cfg.loss_mode), **cfg.policy_loss_kwargs())
    except ValueError as e:
        raise UserError(str(e)) from None
    problems = load_problems(cfg.data, cfg.problem_key, cfg.answer_key)
    eval_problems = load_problems(cfg.eval_data, cfg.problem_key, cfg.answer_key)[: cfg.eval_max_problems] if cfg.eval_every else []
    reward_fn = reward_fn or resolve_reward(cfg.reward)
    backend = _rollout_backend(cfg)
    run = Path(cfg.out)
    ensure_writable_dir(run)
    with run_lock(run, command="entropykit train", log=log):  # one writer per run folder
        return _train_locked(cfg, run, problems, eval_problems, reward_fn, backend, estimate_advantages, policy_loss,
                             resume=resume, log=log, progress=progress)


def _starting_point(cfg: TrainConfig, run: Path, metrics_path: Path, *, resume: bool, log: Log) -> tuple[int, Path | None]:
    """(first step to run, checkpoint to resume from): refuses a folder that holds another run or a
    --steps below the finished ones; removes the leftovers of an interrupted checkpoint write and
    the metrics of steps after the checkpoint. All before the model is loaded."""
    if not resume and metrics_path.exists() and metrics_path.stat().st_size > 0:
        raise UserError(f"{run} already holds a run; pass --resume {run} to continue it, or choose another --out")
    ckpt = latest_checkpoint(run) if resume else None
    start = checkpoint_step(ckpt) if ckpt is not None else 0
    if start > cfg.steps:
        raise UserError(f"--steps {cfg.steps} is below the {start} steps {run} has already finished; give --steps {start} or more")
    if start == cfg.steps:
        log(f"nothing to do: {run} has finished all {cfg.steps} steps (--steps N continues it to step N)")
        return start, ckpt
    for stale in remove_stale_temp(run):
        log(f"removed {stale.name}, the temporary folder of a checkpoint write that was interrupted")
    _truncate_metrics(metrics_path, start)
    return start, ckpt


def _build_learner(cfg: TrainConfig, device: torch.device, amp: torch.dtype | None, ckpt: Path | None,
                   policy_loss) -> tuple[LoadedModel, "Learner"]:
    """The policy (float32 master weights) with AdamW and its schedule, the critic (PPO), the frozen
    reference (KL term), with their states restored from `ckpt` when resuming."""
    lm = _load_policy(cfg, device, ckpt)
    params = [p for p in lm.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    m = Learner(lm.model, params, opt, torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.warmup_steps)), policy_loss, amp=amp)
    if cfg.algo == "ppo":
        m.critic = ValueModel.from_pretrained(lm.path, device).eval()  # initialized from the policy; resume loads its state
        m.critic_opt = torch.optim.AdamW(m.critic.parameters(), lr=cfg.critic_lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.kl_coef > 0:
        m.ref = load_model(cfg.model, device=device, dtype=amp or torch.float32, cache=False).model.eval().requires_grad_(False)
    if ckpt is not None:
        st = load_trainer_state(ckpt)
        m.opt.load_state_dict(st["optimizer"])
        m.sched.load_state_dict(st["scheduler"])
        if m.critic is not None:
            m.critic.load_state_dict(st["critic"])
            m.critic_opt.load_state_dict(st["critic_optimizer"])
        set_rng_state(st["rng"])
    return lm, m


def _train_locked(cfg: TrainConfig, run: Path, problems: list[dict], eval_problems: list[dict], reward_fn: RewardFn,
                  backend: str, estimate_advantages, policy_loss, *, resume: bool, log: Log, progress: bool) -> Path:
    """`train` while this process holds the run folder."""
    metrics_path = run / "metrics.jsonl"
    start, ckpt = _starting_point(cfg, run, metrics_path, resume=resume, log=log)
    if start == cfg.steps:  # nothing runs, so nothing is written
        return run
    atomic_write_json(run / "config.json", cfg.to_dict())

    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device) if cfg.device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    use_bf16 = cfg.bf16 if cfg.bf16 is not None else device.type == "cuda"
    amp = torch.bfloat16 if use_bf16 else None
    lm, m = _build_learner(cfg, device, amp, ckpt, policy_loss)
    if ckpt is not None:
        log(f"resumed {run} from {ckpt.name} (step {start})")
    tok = lm.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    prompt_cache: dict[str, list[int]] = {}

    def prompt_ids(prompt: str) -> list[int]:
        if prompt not in prompt_cache:
            prompt_cache[prompt] = encode_prompt(tok, prompt, cfg.chat)  # exactly what the generator fed
        return prompt_cache[prompt]

    sample_problems = [problems[i] for i in step_problem_indices(0, min(256, len(problems)), len(problems), cfg.seed)]
    prompt_lens = [len(prompt_ids(cfg.render_prompt(p["problem"]))) for p in sample_problems]
    mean_prompt = sum(prompt_lens) / len(prompt_lens)
    check_fits_context(lm.model, prompt_tokens=max(prompt_lens), max_tokens=cfg.max_tokens, name=cfg.model)
    for line in describe_plan(cfg, device=device, dtype="bf16 autocast, fp32 master weights" if amp else "float32",
                              backend=backend, num_problems=len(problems), prompt_tokens=mean_prompt, start=start):
        log(line)

    # the rollout engine: transformers samples the live policy in place; vLLM is a colocated engine
    # whose weights are pushed after each update (weight_sync)
    gen = make_generator(lm, backend=backend, chat=cfg.chat, batch_size=cfg.gen_batch_size, seed=cfg.seed, weight_sync=True,
                         gpu_memory_utilization=cfg.vllm_gpu_memory if device.type == "cuda" else None,
                         engine_kwargs=cfg.vllm_engine_kwargs)
    sampling = SamplingConfig(n=cfg.n_samples, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens, seed=cfg.seed)
    tb = TensorBoardLog(run / "tb", cfg.tensorboard)
    metrics = JsonlAppender(metrics_path)
    bars = StepProgress(progress, cfg.steps, start)

    try:
        for step in range(start, cfg.steps):
            timer = PhaseTimer(device)
            # ---- 1. rollout ------------------------------------------------------------------
            with timer("rollout"):
                idx = step_problem_indices(step, cfg.prompts_per_step, len(problems), cfg.seed)
                batch_problems = [problems[i] for i in idx]
                prompts = [cfg.render_prompt(p["problem"]) for p in batch_problems]
                seeds = [[derive_seed(cfg.seed, "rollout", step, k, j) for j in range(cfg.n_samples)] for k in range(len(idx))]
                with torch.autocast(device.type, dtype=amp) if amp else torch.no_grad():
                    completions = gen.generate(prompts, sampling, seeds=seeds, progress=bars.phase("rollout", cfg.rollout_size))

            # ---- 2. scoring: rewards, old log-probs, values ------------------------------------
            with timer("scoring"):
                flat, scores = reward_completions(reward_fn, prompts, [p["answer"] for p in batch_problems], completions)
                rewards = torch.tensor(scores, dtype=torch.float32)
                group_ids = torch.tensor([k for k, _ in flat])
                keep = torch.ones(len(flat), dtype=torch.bool)
                if cfg.filter_groups:  # groups whose rewards are all equal carry no GRPO signal
                    gmax = torch.full((len(idx),), -torch.inf).scatter_reduce(0, group_ids, rewards, "amax")
                    gmin = torch.full((len(idx),), torch.inf).scatter_reduce(0, group_ids, rewards, "amin")
                    keep = (gmax > gmin)[group_ids]
                kept = keep.nonzero().squeeze(-1).tolist()
                batch = pack([prompt_ids(prompts[flat[i][0]]) for i in kept],
                             [flat[i][1].token_ids for i in kept],  # as sampled, with the stop token (generation contract)
                             pad_id).to(device)
                ro = score_rollout(m, batch, cfg, bars.phase("scoring", len(kept)))
                # ---- 3. advantages -------------------------------------------------------------
                token_rewards = algos.outcome_token_rewards(rewards[kept].to(device), ro.mask)
                ro.adv, ro.returns = estimate_advantages(token_rewards, ro.mask, group_ids=group_ids[kept].to(device), values=ro.values)
                no_signal = algos.groups_without_signal(ro.adv, group_ids[kept].to(device), len(idx))

            # ---- 4. update ---------------------------------------------------------------------
            with timer("update"):
                stats, n_updates = update_step(m, ro, cfg, step, bars.phase("update", cfg.updates_per_step))
                if n_updates:  # vLLM: load the new weights into the engine (transformers: samples the live policy)
                    gen.sync_weights(unwrap(m.policy).state_dict().items(), folder=str(run))

            # ---- 5. log + checkpoint -----------------------------------------------------------
            rec = step_record(step, cfg, flat, rewards, keep, ro, no_signal, stats, n_updates, m.sched.get_last_lr()[0], timer.seconds)
            if cfg.eval_every and (step + 1) % cfg.eval_every == 0:
                rec.update(evaluate(gen, cfg, eval_problems, reward_fn))
            metrics.write(rec)
            tb.log(rec)
            log(format_step_line(rec, cfg.steps))
            skipped = rec["skipped_updates"] + rec.get("skipped_critic_updates", 0)
            if skipped:
                log(f"warning: step {step + 1}: {skipped} optimizer step(s) skipped: the gradient norm was not finite "
                    "(nan/inf; the weights were left unchanged). A lower --lr may help")
            if bool(no_signal.all()):
                log(f"warning: step {step + 1}: every group's rewards are equal (zero advantage): no policy gradient "
                    "this step; easier problems, more samples per prompt or --filter-groups help")
            if cfg.save_every and ((step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps):
                state = {"optimizer": m.opt.state_dict(), "scheduler": m.sched.state_dict()}
                if m.critic is not None:
                    state.update(critic=m.critic.state_dict(), critic_optimizer=m.critic_opt.state_dict())
                save_checkpoint(run, step + 1, policy=m.policy, tokenizer=tok, state=state, keep=cfg.keep_checkpoints)
            bars.step_done()
    finally:
        bars.close()
        metrics.close()
        tb.close()
        gen.close()
        if hasattr(reward_fn, "close"):
            reward_fn.close()
    return run


def step_record(step: int, cfg: TrainConfig, flat: list, rewards: torch.Tensor, keep: torch.Tensor, ro: Rollout,
                no_signal: torch.Tensor, st: WeightedMeans, n_updates: int, lr: float, seconds: dict[str, float]) -> dict:
    """The metrics.jsonl record of one step (see train/README.md for the fields)."""
    resp_lens = torch.tensor([len(c.token_ids) for _, c in flat], dtype=torch.float32)
    t_step = sum(seconds.values())
    rec: dict = {
        "step": step + 1,
        "reward_mean": float(rewards.mean()),
        "accuracy": float((rewards > 0).float().mean()),
        "response_length": float(resp_lens.mean()),
        "truncated_frac": sum(c.finish_reason == "length" for _, c in flat) / len(flat),
        "groups_kept_frac": float(keep.float().mean()),
        "zero_adv_group_frac": float(no_signal.float().mean()),
        # at the rollout temperature, under the policy that sampled the responses
        "entropy": float(algos.token_mean(ro.entropy, ro.mask)) if ro.size else None,
    }
    keys = ["pg_loss", "clip_frac_low", "clip_frac_high", "clip_frac_dual", "approx_kl", "entropy_update", "grad_norm"]
    keys += ["psi_ratio", "psi_mean"] if cfg.entropy_adv else []
    keys += ["cov_frac", "cov", "cov_selected"] if cfg.loss_mode in ("clip_cov", "kl_cov") else []
    keys += ["entropy_mask_frac"] if cfg.top_entropy_quantile < 1 else []
    keys += ["value_loss", "value_clip_frac", "critic_grad_norm"] if cfg.algo == "ppo" else []
    rec.update({k: st.mean(k) for k in keys})  # None when nothing was measured this step
    rec["skipped_updates"] = st.counts.get("skipped_updates", 0)  # non-finite gradient norm: no optimizer step
    if cfg.algo == "ppo":
        rec["skipped_critic_updates"] = st.counts.get("skipped_critic_updates", 0)
    if ro.values is not None and ro.size:
        rec["value_mean"] = float(algos.token_mean(ro.values, ro.mask))
    rec.update({
        "policy_updates": n_updates,
        "lr": lr,
        "tokens_per_s": float(resp_lens.sum()) / t_step,
        "seq_tokens": int(ro.batch.attention_mask.sum()),  # prompt + response tokens trained on
        "time_rollout": seconds["rollout"], "time_scoring": seconds["scoring"], "time_update": seconds["update"],
        "time_step": t_step,
    })
    return rec


def evaluate(gen, cfg: TrainConfig, problems: list[dict], reward_fn: RewardFn) -> dict:
    """Held-out check with the paper's eval sampling (T 0.6, top-p 0.95): accuracy and pass@k.

    The same samples `entropykit passk` draws for these problems with --seed, --max-tokens and
    --n equal to the run's: the same sampling settings, the seed of sample j of a problem
    derived from (seed, benchmark, problem id, j) as passk does, and the same grader (the math
    reward is the shared `entropykit.verify` grader, with each sample's finish reason)."""
    if not problems:
        return {}
    sp = SamplingConfig(n=cfg.eval_n, temperature=PAPER_EVAL_TEMPERATURE, top_p=PAPER_EVAL_TOP_P, max_tokens=cfg.max_tokens, seed=cfg.seed)
    prompts = [cfg.render_prompt(p["problem"]) for p in problems]
    seeds = [[derive_seed(cfg.seed, p["benchmark"], p["problem_id"], j) for j in range(cfg.eval_n)] for p in problems]
    flat, rewards = reward_completions(reward_fn, prompts, [p["answer"] for p in problems], gen.generate(prompts, sp, seeds=seeds))
    correct = [0] * len(problems)
    for (i, _), r in zip(flat, rewards):
        correct[i] += r > 0
    counts = [(cfg.eval_n, c) for c in correct]
    out: dict[str, float] = {"eval_accuracy": mean_accuracy(counts)}
    ks = [2**i for i in range(cfg.eval_n.bit_length()) if 2**i <= cfg.eval_n]
    out.update({f"eval_pass@{k}": v for k, v in mean_pass_at_k(counts, ks).items()})
    return out


def resume_config(run: str | Path, steps: int | None = None) -> TrainConfig:
    """The saved config of RUN (optionally with another number of steps), pointing at RUN.

    Nothing is written here: `train(..., resume=True)` refuses a --steps below the finished
    step and saves the config only when a step is about to run.
    """
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"--resume {run}: no such run folder")
    cfg = TrainConfig.load(run / "config.json")
    cfg.out = str(run)
    if steps is not None:
        cfg.steps = steps
    return cfg
