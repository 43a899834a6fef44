"""`entropykit train` (GRPO/PPO with the entropy-based advantage) and `entropykit train report`.

Options left unset take the paper's defaults from `TrainConfig` (shown in --help); with
`--resume RUN` the run's saved config is used and only --steps may change.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Optional

import typer

from entropykit.errors import UserError

from entropykit.train.config import TrainConfig

_D = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _h(text: str, name: str | None = None) -> str:
    if name is None:
        return text
    return f"{text} [default: {_D[name]}]"


def register(app: typer.Typer) -> None:
    train_app = typer.Typer(
        help="Train with GRPO or PPO and the paper's entropy-based advantage (see `train report` for the dashboard).",
        no_args_is_help=False,
    )

    @train_app.callback(invoke_without_command=True)
    def train_cmd(
        ctx: typer.Context,
        data: Optional[str] = typer.Option(None, "--data", help="JSONL with problem/answer columns, or a bundled set (easy, math500)"),
        model: Optional[str] = typer.Option(None, "--model", help=_h("model spec: embedded alias, HF folder, .gguf, hub id", "model")),
        algo: Optional[str] = typer.Option(None, "--algo", help=_h("grpo or ppo", "algo")),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help=_h("run folder (metrics.jsonl, checkpoints/)", "out")),
        resume: Optional[Path] = typer.Option(None, "--resume", help="continue the run in this folder from its latest checkpoint"),
        steps: Optional[int] = typer.Option(None, "--steps", help=_h("training steps (rollout + updates)", "steps")),
        prompts_per_step: Optional[int] = typer.Option(None, "--prompts-per-step", help=_h("prompts per rollout batch", "prompts_per_step")),
        n_samples: Optional[int] = typer.Option(None, "--n-samples", "-n", help=_h("samples per prompt", "n_samples")),
        max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help=_h("max response tokens", "max_tokens")),
        temperature: Optional[float] = typer.Option(None, "--temperature", help=_h("rollout temperature", "temperature")),
        top_p: Optional[float] = typer.Option(None, "--top-p", help=_h("rollout top-p", "top_p")),
        mini_batch_size: Optional[int] = typer.Option(None, "--mini-batch-size", help=_h("samples per policy update", "mini_batch_size")),
        micro_batch_size: Optional[int] = typer.Option(None, "--micro-batch-size", help="samples per forward/backward (gradient accumulation) [default: mini-batch]"),
        epochs: Optional[int] = typer.Option(None, "--epochs", help=_h("passes over each rollout", "epochs")),
        lr: Optional[float] = typer.Option(None, "--lr", help=_h("policy learning rate (AdamW)", "lr")),
        critic_lr: Optional[float] = typer.Option(None, "--critic-lr", help=_h("critic learning rate (PPO)", "critic_lr")),
        entropy_adv: Optional[bool] = typer.Option(None, "--entropy-adv/--no-entropy-adv", help="the paper's entropy-based advantage [default: on]"),
        alpha: Optional[float] = typer.Option(None, "--alpha", help="entropy advantage scale [default: 0.4 GRPO, 0.1 PPO]"),
        kappa: Optional[float] = typer.Option(None, "--kappa", help=_h("clip: psi <= |A| / kappa", "kappa")),
        entropy_coef: Optional[float] = typer.Option(None, "--entropy-coef", help=_h("entropy regularization baseline: loss - coef * H", "entropy_coef")),
        kl_coef: Optional[float] = typer.Option(None, "--kl-coef", help=_h("KL to the initial policy", "kl_coef")),
        eps_low: Optional[float] = typer.Option(None, "--eps-low", help=_h("lower clip", "eps_low")),
        eps_high: Optional[float] = typer.Option(None, "--eps-high", help=_h("upper clip (clip-higher)", "eps_high")),
        critic_warmup: Optional[int] = typer.Option(None, "--critic-warmup", help=_h("PPO: critic-only steps first", "critic_warmup")),
        gamma: Optional[float] = typer.Option(None, "--gamma", help=_h("GAE gamma", "gamma")),
        lam: Optional[float] = typer.Option(None, "--lam", help=_h("GAE lambda", "lam")),
        norm_adv_by_std: Optional[bool] = typer.Option(None, "--norm-adv-by-std/--no-norm-adv-by-std", help="GRPO: divide by the group std [default: on]"),
        filter_groups: Optional[bool] = typer.Option(None, "--filter-groups/--no-filter-groups", help="drop groups whose rewards are all equal [default: off]"),
        prompt_template: Optional[str] = typer.Option(None, "--prompt-template", help=_h("math, dapo, raw, or a string with {problem}", "prompt_template")),
        chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="chat template [default: when the tokenizer has one]"),
        reward: Optional[str] = typer.Option(None, "--reward", help=_h("math (math-verify +1/-1), toy, or module:function", "reward")),
        problem_key: Optional[str] = typer.Option(None, "--problem-key", help=_h("problem column", "problem_key")),
        answer_key: Optional[str] = typer.Option(None, "--answer-key", help=_h("answer column", "answer_key")),
        rollout_backend: Optional[str] = typer.Option(None, "--rollout-backend", help=_h("hf (transformers), vllm (colocated, weights pushed each step), auto", "rollout_backend")),
        vllm_gpu_memory: Optional[float] = typer.Option(None, "--vllm-gpu-memory", help=_h("GPU memory share of the colocated vLLM engine", "vllm_gpu_memory")),
        seed: Optional[int] = typer.Option(None, "--seed", help=_h("seed", "seed")),
        device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... [default: cuda if available]"),
        save_every: Optional[int] = typer.Option(None, "--save-every", help=_h("checkpoint every N steps (0: never)", "save_every")),
        eval_data: Optional[str] = typer.Option(None, "--eval-data", help="held-out problems for periodic evaluation"),
        eval_every: Optional[int] = typer.Option(None, "--eval-every", help=_h("evaluate every N steps (0: never)", "eval_every")),
        eval_n: Optional[int] = typer.Option(None, "--eval-n", help=_h("samples per held-out problem (pass@k, k <= n)", "eval_n")),
        lora_rank: Optional[int] = typer.Option(None, "--lora-rank", help=_h("LoRA rank through peft (0: full fine-tuning)", "lora_rank")),
        grad_checkpointing: Optional[bool] = typer.Option(None, "--grad-checkpointing/--no-grad-checkpointing", help="activation checkpointing [default: off]"),
        max_grad_norm: Optional[float] = typer.Option(None, "--max-grad-norm", help=_h("gradient clipping", "max_grad_norm")),
        warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help=_h("linear lr warm-up (optimizer updates)", "warmup_steps")),
        engine: str = typer.Option("native", "--engine", help="native (this machine) or verl (veRL on a GPU node or Ray cluster; see train/README.md)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="verl: write the data files and print the veRL command without running it"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="verl: join this Ray cluster (e.g. auto, HOST:6379) [default: start Ray here]"),
        nnodes: Optional[int] = typer.Option(None, "--nnodes", help="verl: nodes [default: 1]"),
        gpus_per_node: Optional[int] = typer.Option(None, "--gpus-per-node", help="verl: GPUs per node [default: 8]"),
        verl_python: Optional[str] = typer.Option(None, "--verl-python", help="verl: Python that has verl installed [default: this one]"),
        verl_arg: Optional[List[str]] = typer.Option(None, "--verl-arg", help="verl: extra Hydra override KEY=VALUE for veRL (repeatable; wins over entropykit's)"),
    ) -> None:
        if ctx.invoked_subcommand is not None:
            return
        from entropykit.io import ensure_writable_dir

        verl_opts = {k: ctx.params.pop(k) for k in ("engine", "dry_run", "ray_address", "nnodes", "gpus_per_node", "verl_python", "verl_arg")}
        if verl_opts["engine"] not in ("native", "verl"):
            raise UserError(f"--engine must be native or verl (got {verl_opts['engine']!r})")
        if verl_opts["engine"] == "verl" and resume is not None:
            raise UserError("--resume is for native runs; a veRL run resumes by running RUN/verl/command.sh again")
        if verl_opts["engine"] == "native" and any(v for k, v in verl_opts.items() if k != "engine"):
            raise UserError("--dry-run, --ray-address, --nnodes, --gpus-per-node, --verl-python and --verl-arg need --engine verl")
        given = {k: v for k, v in ctx.params.items() if v is not None and k != "resume"}
        if resume is not None:
            extra = sorted(set(given) - {"steps"})
            if extra:
                raise UserError(f"--resume uses the run's saved config; only --steps may change (got --{extra[0].replace('_', '-')})")
            if not resume.is_dir():
                raise UserError(f"--resume {resume}: no such run folder")
            ensure_writable_dir(resume)  # before torch and the model are loaded
            from entropykit.train.loop import resume_config

            cfg = resume_config(resume, steps=given.get("steps"))
        else:
            if "out" in given:
                given["out"] = str(given["out"])
            cfg = TrainConfig(**given)
            ensure_writable_dir(cfg.validate().out, create=False)  # before torch and the model are loaded
        if verl_opts["engine"] == "verl":
            from entropykit.progress import console
            from entropykit.train.verl_launch import VerlLaunch, launch_verl

            launch = VerlLaunch(dry_run=verl_opts["dry_run"], ray_address=verl_opts["ray_address"], python=verl_opts["verl_python"],
                                extra=list(verl_opts["verl_arg"] or []))
            if verl_opts["nnodes"] is not None:
                launch.nnodes = verl_opts["nnodes"]
            if verl_opts["gpus_per_node"] is not None:
                launch.gpus_per_node = verl_opts["gpus_per_node"]
            launch_verl(cfg, launch, log=lambda s: console.print(s, highlight=False, markup=False, soft_wrap=True))
            return
        from entropykit.train.loop import train
        from entropykit.progress import console

        run = train(cfg, resume=resume is not None, log=lambda s: console.print(s, highlight=False))
        console.print(f"run folder: {run}  (dashboard: entropykit train report {run})", highlight=False)

    @train_app.command("report")
    def report_cmd(
        runs: List[Path] = typer.Argument(..., help="run folders to compare"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file [default: FIRST_RUN/report.html]"),
    ) -> None:
        """Write an offline HTML dashboard of the training curves of one or more runs."""
        from entropykit.io import ensure_writable_parent
        from entropykit.train.report import build_report

        target = out or Path(runs[0]) / "report.html"
        ensure_writable_parent(target, create=False)  # before any work
        path = build_report(runs, target)
        typer.echo(str(path))

    app.add_typer(train_app, name="train")
