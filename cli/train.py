"""`entropykit train` (GRPO/PPO with the entropy-based advantage), `train report` and `train export`.

Options left unset take their defaults from `TrainConfig`; --help shows each default and where
it comes from (the paper, veRL's defaults, or the machine: see `TrainConfig.DEFAULT_SOURCE`);
with `--resume RUN` the run's saved config is used and only --steps may change.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from entropykit.cli.options import config_option
from entropykit.errors import UserError
from entropykit.train.config import PAPER_ALPHA, TrainConfig

# defaults that are not one value (the rest are read from TrainConfig by `config_option`)
_SHOWN = {
    "alpha": ", ".join(f"{a:g} {algo.upper()}" for algo, a in PAPER_ALPHA.items()),
    "chat": "when the tokenizer has one",
    "device": "cuda if available, else cpu",
    "rollout_backend": "auto = vLLM when a GPU and vLLM are present, else transformers",
    "micro_batch_size": "0 = no limit",
    "eval_data": "none",
}


def _train_option(name: str, *decls: str, help: str) -> typer.models.OptionInfo:
    """The option of TrainConfig field `name`: unset (None) unless given, so that `--resume` can
    tell what the user changed; --help shows the dataclass default and where it comes from."""
    return config_option(TrainConfig, name, *decls, help=help, unset=True, shown=_SHOWN.get(name))


def _launch(name: str, *decls: str, help: str) -> typer.models.OptionInfo:
    """A `--engine verl` option of VerlLaunch field `name` (unset unless given)."""
    from entropykit.train.verl_launch import VerlLaunch

    return config_option(VerlLaunch, name, *decls, help=help, unset=True)


_VERL_OPTIONS = ("engine", "dry_run", "ray_address", "nnodes", "gpus_per_node", "verl_python", "verl_arg", "max_prompt_length")


def _check_engine(verl_opts: dict, resume: Path | None) -> None:
    """The engine and its options: the veRL-only ones need --engine verl, and veRL resumes by itself."""
    if verl_opts["engine"] not in ("native", "verl"):
        raise UserError(f"--engine must be native or verl (got {verl_opts['engine']!r})")
    if verl_opts["engine"] == "verl" and resume is not None:
        raise UserError("--resume is for native runs; a veRL run resumes by running RUN/verl/command.sh again")
    # a repeatable option left out arrives as () or [] (by typer version), a flag as False
    if verl_opts["engine"] == "native" and any(v is not None and v is not False and v not in ((), [])
                                               for k, v in verl_opts.items() if k != "engine"):
        raise UserError("--dry-run, --ray-address, --nnodes, --gpus-per-node, --verl-python, --verl-arg and "
                        "--max-prompt-length need --engine verl")


def _config_from_options(params: dict, resume: Path | None) -> TrainConfig:
    """The run's TrainConfig: the options given over the dataclass defaults, or with --resume the
    run's saved config (only --steps may change). Checked, and the run folder writable, before
    torch and the model are loaded."""
    from entropykit.io import ensure_writable_dir

    given = {k: v for k, v in params.items() if v is not None and k != "resume"}
    if resume is None:
        if "out" in given:
            given["out"] = str(given["out"])
        cfg = TrainConfig(**given)
        ensure_writable_dir(cfg.validate().out, create=False)
        return cfg
    extra = sorted(set(given) - {"steps"})
    if extra:
        raise UserError(f"--resume uses the run's saved config; only --steps may change (got --{extra[0].replace('_', '-')})")
    if not resume.is_dir():
        raise UserError(f"--resume {resume}: no such run folder")
    ensure_writable_dir(resume)
    from entropykit.train.loop import resume_config

    return resume_config(resume, steps=given.get("steps"))


def _launch_on_verl(cfg: TrainConfig, verl_opts: dict, log) -> None:
    from entropykit.train.verl_launch import VerlLaunch, launch_verl

    sizes = {k: verl_opts[k] for k in ("nnodes", "gpus_per_node", "max_prompt_length") if verl_opts[k] is not None}  # else VerlLaunch's
    launch = VerlLaunch(dry_run=verl_opts["dry_run"], ray_address=verl_opts["ray_address"], python=verl_opts["verl_python"],
                        extra=list(verl_opts["verl_arg"] or []), **sizes)
    launch_verl(cfg, launch, log=log)


def register(app: typer.Typer) -> None:
    train_app = typer.Typer(
        help="Train with GRPO or PPO and the paper's entropy-based advantage (see `train report` for the dashboard). "
        "Defaults marked 'paper' are the paper's setup (appendix B), 'veRL' veRL's defaults that the paper's runs used, "
        "'machine' chosen to fit the machine; the paper-sized run needs a GPU cluster (train/README.md).",
        no_args_is_help=False,
    )

    @train_app.callback(invoke_without_command=True)
    def train_cmd(
        ctx: typer.Context,
        data: Optional[str] = typer.Option(None, "--data", help="JSONL with problem/answer columns, or a bundled set (easy, math500); required"),
        model: Optional[str] = _train_option("model", "--model", help="model spec: embedded alias, HF folder, .gguf, hub id"),
        algo: Optional[str] = _train_option("algo", "--algo", help="grpo or ppo"),
        out: Optional[Path] = _train_option("out", "--out", "-o", help="run folder (config.json, metrics.jsonl, checkpoints/)"),
        resume: Optional[Path] = typer.Option(None, "--resume", help="continue the run in this folder from its latest checkpoint"),
        steps: Optional[int] = _train_option("steps", "--steps", help="training steps (rollout + updates)"),
        prompts_per_step: Optional[int] = _train_option("prompts_per_step", "--prompts-per-step", help="prompts per rollout batch"),
        n_samples: Optional[int] = _train_option("n_samples", "--n-samples", "-n", help="samples per prompt"),
        max_tokens: Optional[int] = _train_option("max_tokens", "--max-tokens", help="max response tokens"),
        temperature: Optional[float] = _train_option("temperature", "--temperature", help="rollout temperature (log-probs and entropies of the update use it too)"),
        top_p: Optional[float] = _train_option("top_p", "--top-p", help="rollout top-p"),
        mini_batch_size: Optional[int] = _train_option("mini_batch_size", "--mini-batch-size", help="samples per policy update"),
        micro_batch_size: Optional[int] = _train_option("micro_batch_size", "--micro-batch-size", help="at most this many samples per forward/backward (gradient accumulation: same loss)"),
        micro_batch_tokens: Optional[int] = _train_option("micro_batch_tokens", "--micro-batch-tokens", help="at most this many padded prompt + response tokens per forward/backward (0: no limit)"),
        epochs: Optional[int] = _train_option("epochs", "--epochs", help="passes over each rollout"),
        lr: Optional[float] = _train_option("lr", "--lr", help="policy learning rate (AdamW)"),
        critic_lr: Optional[float] = _train_option("critic_lr", "--critic-lr", help="critic learning rate (PPO)"),
        entropy_adv: Optional[bool] = _train_option("entropy_adv", "--entropy-adv/--no-entropy-adv", help="the paper's entropy-based advantage"),
        alpha: Optional[float] = _train_option("alpha", "--alpha", help="entropy advantage scale"),
        kappa: Optional[float] = _train_option("kappa", "--kappa", help="clip: psi <= |A| / kappa"),
        entropy_coef: Optional[float] = _train_option("entropy_coef", "--entropy-coef", help="entropy regularization baseline: loss - coef * H"),
        kl_coef: Optional[float] = _train_option("kl_coef", "--kl-coef", help="KL to the initial policy (k3, clamped to [-10, 10] as veRL)"),
        loss_mode: Optional[str] = _train_option("loss_mode", "--loss-mode", help="policy loss: clip_higher (PPO clip + dual clip), clip_cov or kl_cov (Cui et al. 2025; train/README.md)"),
        clip_cov_ratio: Optional[float] = _train_option("clip_cov_ratio", "--clip-cov-ratio", help="clip_cov: share of tokens whose gradient is cut"),
        clip_cov_lb: Optional[float] = _train_option("clip_cov_lb", "--clip-cov-lb", help="clip_cov: lower covariance bound of the candidates"),
        clip_cov_ub: Optional[float] = _train_option("clip_cov_ub", "--clip-cov-ub", help="clip_cov: upper covariance bound of the candidates"),
        kl_cov_ratio: Optional[float] = _train_option("kl_cov_ratio", "--kl-cov-ratio", help="kl_cov: share of tokens (largest covariance) penalized"),
        kl_cov_coef: Optional[float] = _train_option("kl_cov_coef", "--kl-cov-coef", help="kl_cov: |log-ratio| penalty coefficient"),
        top_entropy_quantile: Optional[float] = _train_option("top_entropy_quantile", "--top-entropy-quantile", help="policy gradient only through the top share of each mini-batch's tokens by entropy (80/20 rule; 0.2 = Wang et al.)"),
        eps_low: Optional[float] = _train_option("eps_low", "--eps-low", help="lower clip"),
        eps_high: Optional[float] = _train_option("eps_high", "--eps-high", help="upper clip (clip-higher)"),
        clip_ratio_c: Optional[float] = _train_option("clip_ratio_c", "--clip-ratio-c", help="dual clip: a token with A < 0 loses at most c * |A|"),
        critic_warmup: Optional[int] = _train_option("critic_warmup", "--critic-warmup", help="PPO: critic-only steps first"),
        gamma: Optional[float] = _train_option("gamma", "--gamma", help="GAE gamma"),
        lam: Optional[float] = _train_option("lam", "--lam", help="GAE lambda"),
        norm_adv_by_std: Optional[bool] = _train_option("norm_adv_by_std", "--norm-adv-by-std/--no-norm-adv-by-std", help="GRPO: divide by the group std"),
        filter_groups: Optional[bool] = _train_option("filter_groups", "--filter-groups/--no-filter-groups", help="drop groups whose rewards are all equal"),
        prompt_template: Optional[str] = _train_option("prompt_template", "--prompt-template", help="math, dapo, raw, or a string with {problem}"),
        chat: Optional[bool] = _train_option("chat", "--chat/--no-chat", help="chat template"),
        reward: Optional[str] = _train_option("reward", "--reward", help="math (math-verify +1/-1), toy, or module:function"),
        problem_key: Optional[str] = _train_option("problem_key", "--problem-key", help="problem column"),
        answer_key: Optional[str] = _train_option("answer_key", "--answer-key", help="answer column"),
        rollout_backend: Optional[str] = _train_option("rollout_backend", "--rollout-backend", help="hf (transformers), vllm (colocated, weights pushed each step), or auto"),
        vllm_gpu_memory: Optional[float] = _train_option("vllm_gpu_memory", "--vllm-gpu-memory", help="GPU memory share of the colocated vLLM engine"),
        seed: Optional[int] = _train_option("seed", "--seed", help="seed"),
        device: Optional[str] = _train_option("device", "--device", help="cpu, cuda, cuda:1 ..."),
        save_every: Optional[int] = _train_option("save_every", "--save-every", help="checkpoint every N steps (0: never)"),
        keep_checkpoints: Optional[int] = _train_option("keep_checkpoints", "--keep-checkpoints", help="keep the newest N checkpoints (each: policy + optimizer state)"),
        eval_data: Optional[str] = _train_option("eval_data", "--eval-data", help="held-out problems for periodic evaluation"),
        eval_every: Optional[int] = _train_option("eval_every", "--eval-every", help="evaluate every N steps (0: never)"),
        eval_n: Optional[int] = _train_option("eval_n", "--eval-n", help="samples per held-out problem (pass@k, k <= n)"),
        lora_rank: Optional[int] = _train_option("lora_rank", "--lora-rank", help="LoRA rank through peft (0: full fine-tuning)"),
        grad_checkpointing: Optional[bool] = _train_option("grad_checkpointing", "--grad-checkpointing/--no-grad-checkpointing", help="activation checkpointing"),
        max_grad_norm: Optional[float] = _train_option("max_grad_norm", "--max-grad-norm", help="gradient clipping"),
        warmup_steps: Optional[int] = _train_option("warmup_steps", "--warmup-steps", help="linear lr warm-up (optimizer updates)"),
        engine: str = typer.Option("native", "--engine", help="native (this machine) or verl (veRL on a GPU node or Ray cluster; see train/README.md)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="verl: write the data files and print the veRL command without running it"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="verl: join this Ray cluster (e.g. auto, HOST:6379)", show_default="start Ray here"),
        nnodes: Optional[int] = _launch("nnodes", "--nnodes", help="verl: nodes"),
        gpus_per_node: Optional[int] = _launch("gpus_per_node", "--gpus-per-node", help="verl: GPUs per node"),
        verl_python: Optional[str] = typer.Option(None, "--verl-python", help="verl: Python that has verl installed", show_default="this one, else .venv-verl beside it"),
        max_prompt_length: Optional[int] = _launch("max_prompt_length", "--max-prompt-length", help="verl: longest prompt in tokens, chat template included (longer ones are left out)"),
        verl_arg: Optional[List[str]] = typer.Option(None, "--verl-arg", help="verl: extra Hydra override KEY=VALUE for veRL (repeatable; wins over entropykit's)"),
    ) -> None:
        if ctx.invoked_subcommand is not None:
            return
        verl_opts = {k: ctx.params.pop(k) for k in _VERL_OPTIONS}
        _check_engine(verl_opts, resume)
        cfg = _config_from_options(ctx.params, resume)
        from entropykit.progress import console

        if verl_opts["engine"] == "verl":
            _launch_on_verl(cfg, verl_opts, log=lambda s: console.print(s, highlight=False, markup=False, soft_wrap=True))
            return
        from entropykit.train.loop import train

        run = train(cfg, resume=resume is not None, log=lambda s: console.print(s, highlight=False, markup=False), progress=True)
        console.print(f"run folder: {run}  (dashboard: entropykit train report {run})", highlight=False)

    @train_app.command("report")
    def report_cmd(
        runs: List[Path] = typer.Argument(..., help="runs to compare: entropykit run folders, veRL file-logger JSONL (or a "
                                          "run folder with verl/metrics.jsonl), TRL trainer_state.json (or its output folder)"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file [default: FIRST_RUN/report.html, beside a file]"),
    ) -> None:
        """Write an offline HTML dashboard of the training curves of one or more runs."""
        from entropykit.io import ensure_writable_parent, refuse_replacing_inputs
        from entropykit.train.report import build_report

        first = Path(runs[0])
        target = out or (first if first.is_dir() else first.parent) / "report.html"
        ensure_writable_parent(target, create=False)  # before any work
        # a run's own files (metrics.jsonl, config.json, ...) are never replaced; its report.html, an
        # earlier page of this command (build_report's title), is
        refuse_replacing_inputs([target], runs, own_title="entropykit training")
        path = build_report(runs, target)
        typer.echo(str(path))

    @train_app.command("export")
    def export_cmd(
        run: Path = typer.Argument(..., help="run folder"),
        out: Path = typer.Option(..., "--out", "-o", help="new folder for the policy (a Hugging Face model folder)"),
        step: Optional[int] = typer.Option(None, "--step", help="checkpoint to export", show_default="the latest"),
        dtype: Optional[str] = typer.Option(None, "--dtype", help="bfloat16, float16 or float32", show_default="as saved (float32)"),
    ) -> None:
        """Export a checkpoint's policy alone (no optimizer state): a model folder every tool loads."""
        from entropykit.io import ensure_writable_parent

        if step is not None and step < 1:
            raise UserError(f"--step must be a checkpoint's step number (>= 1), got {step}")
        if out.exists():
            raise UserError(f"{out}: exists already; choose a new folder")
        ensure_writable_parent(out, create=False)  # before torch is imported
        from entropykit.train.checkpoint import export_policy

        typer.echo(str(export_policy(run, out, step=step, dtype=dtype)))

    app.add_typer(train_app, name="train")
