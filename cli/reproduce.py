"""`entropykit reproduce`: the paper's whole method in one command (a thin layer over
`entropykit.reproduce.reproduce`; options left unset come from the preset), and `entropykit
reproduce power DIR`: the power of a finished experiment (`entropykit.reproduce.power`).

`reproduce --out DIR ...` runs the hidden default command `run` (`DefaultCommandGroup`, as
`analyze OUTPUTS` does), so the experiment's command line and --help read as before."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from entropykit.cli.groups import DefaultCommandGroup

_PRESET = "[default: from --preset]"


HELP = ("The paper's experiment end to end: passk of the base model, train each variant, passk and analyze each "
        "trained policy against the base, the comparison reports, and DIR/index.html with Tables 2-3.")

reproduce_app = typer.Typer(cls=DefaultCommandGroup, add_completion=False, pretty_exceptions_enable=False, help=HELP)


@reproduce_app.command("run", help=HELP, hidden=True)
def reproduce_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (rerun the same command to continue it after a kill).", show_default=False),
    preset: str = typer.Option("cpu", "--preset", help="smoke (every stage in ~3 min), cpu (the embedded model, <= 75 min on 2 cores) or gpu (one 80 GB GPU)."),
    model: Optional[str] = typer.Option(None, "--model", help=f"Base model: embedded alias, HF folder, .gguf or hub id. {_PRESET}", show_default=False),
    data: Optional[str] = typer.Option(None, "--data", help=f"Training problems: arith (generated), a bundled set or a file. {_PRESET}", show_default=False),
    eval_set: Optional[str] = typer.Option(None, "--eval", help=f"Evaluation problems: arith (generated, held out), a bundled set or a file. {_PRESET}", show_default=False),
    variants: Optional[str] = typer.Option(None, "--variants", help=f"Comma-separated: grpo, grpo-ent, grpo-entreg, grpo-clipcov, grpo-klcov, grpo-mask, ppo, ppo-ent, ppo-entreg (more after the same ones extend a finished experiment). {_PRESET}", show_default=False),
    steps: Optional[int] = typer.Option(None, "--steps", help=f"Training steps per variant. {_PRESET}", show_default=False),
    prompts_per_step: Optional[int] = typer.Option(None, "--prompts-per-step", help=f"Prompts per rollout. {_PRESET}", show_default=False),
    n_samples: Optional[int] = typer.Option(None, "--n-samples", help=f"Rollout samples per prompt. {_PRESET}", show_default=False),
    mini_batch_size: Optional[int] = typer.Option(None, "--mini-batch-size", help=f"Samples per policy update. {_PRESET}", show_default=False),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help=f"Response limit (rollouts and evaluation). {_PRESET}", show_default=False),
    lr: Optional[float] = typer.Option(None, "--lr", help=f"Policy learning rate (critic: twice it). {_PRESET}", show_default=False),
    temperature: Optional[float] = typer.Option(None, "--temperature", help=f"Rollout temperature (evaluation: the paper's 0.6 / top-p 0.95). {_PRESET}", show_default=False),
    entropy_coef: Optional[float] = typer.Option(None, "--entropy-coef", help=f"Coefficient of the entropy-regularization variants. {_PRESET}", show_default=False),
    critic_warmup: Optional[int] = typer.Option(None, "--critic-warmup", help=f"PPO critic-only steps. {_PRESET}", show_default=False),
    k: Optional[int] = typer.Option(None, "--k", help=f"Evaluation samples per problem (pass@1, 2, 4, ... k). {_PRESET}", show_default=False),
    eval_problems: Optional[int] = typer.Option(None, "--eval-problems", help=f"Evaluation problems (the first N). {_PRESET}", show_default=False),
    train_problems: Optional[int] = typer.Option(None, "--train-problems", help=f"Generated training problems. {_PRESET}", show_default=False),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=f"Sequences per sampling batch (transformers). {_PRESET}", show_default=False),
    backend: Optional[str] = typer.Option(None, "--backend", help=f"Sampling backend: auto (vLLM with a GPU), hf or vllm. {_PRESET}", show_default=False),
    save_every: Optional[int] = typer.Option(None, "--save-every", help=f"Training checkpoint every N steps. {_PRESET}", show_default=False),
    clusters: Optional[int] = typer.Option(None, "--clusters", help=f"Behavior clusters in the analyses. {_PRESET}", show_default=False),
    seed: int = typer.Option(0, "--seed", help="Seed of the problems, rollouts, evaluation samples and statistics."),
    seeds: int = typer.Option(1, "--seeds", help="Training seeds per variant (seed, seed+1, ...); every model is evaluated with the same sample seeds. More seeds extend a finished experiment."),
) -> None:
    from entropykit.errors import UserError
    from entropykit.progress import console
    from entropykit.reproduce import ReproduceConfig, reproduce

    names = [v.strip() for v in variants.split(",") if v.strip()] if variants is not None else None
    if names is not None and not names:
        raise UserError("--variants: give at least one variant")
    cfg = ReproduceConfig(out=str(out), preset=preset, model=model, data=data, eval=eval_set, variants=names, steps=steps,
                          prompts_per_step=prompts_per_step, n_samples=n_samples, mini_batch_size=mini_batch_size,
                          max_tokens=max_tokens, lr=lr, temperature=temperature, entropy_coef=entropy_coef,
                          critic_warmup=critic_warmup, k=k, eval_problems=eval_problems, train_problems=train_problems,
                          batch_size=batch_size, backend=backend, save_every=save_every, clusters=clusters, seed=seed, seeds=seeds)
    root = reproduce(cfg, log=lambda s: console.print(s, style="dim", highlight=False, markup=False),
                     progress_line=lambda s: console.rule(s, align="left"))
    console.print(f"open {root / 'index.html'} (every number: {root / 'summary.json'}; stage times: {root / 'stages.json'})",
                  highlight=False)


@reproduce_app.command("power")
def power_cmd(
    folder: Path = typer.Argument(..., metavar="DIR", help="The --out folder of `entropykit reproduce` (finished, or partly: only runs whose evaluation finished are used).", show_default=False),
    delta: float = typer.Option(5.0, "--delta", help="The difference to detect, in accuracy points (5 = 0.05)."),
    power: float = typer.Option(0.8, "--power", help="Power: the chance to detect a true difference of the size asked about."),
    alpha: float = typer.Option(0.05, "--alpha", help="Level of the two-sided test."),
    as_json: bool = typer.Option(False, "--json", help="Print the numbers as JSON instead of tables."),
) -> None:
    """Power of a reproduce experiment from its own runs: for every pair of methods (the base included) the variance components (between seeds, method x problem, sampling), the difference with its two-level CI, the smallest difference the design detects, the seeds, problems or samples per problem that would detect --delta, and where the next hour of compute buys the most precision. With one training seed per method the seed variance is not estimable and the output says so. Writes nothing."""
    import json

    from entropykit.reproduce.power import check_power_options, power_report, print_power

    check_power_options(delta, power, alpha)  # UserError: one line, exit 2 (entropykit.cli.app.main)
    rep = power_report(folder, delta=delta, power=power, alpha=alpha)
    if as_json:
        typer.echo(json.dumps(rep, indent=1, allow_nan=False))
        return
    from rich.console import Console

    print_power(rep, Console())  # results on stdout (progress and errors go to stderr)


def register(app: typer.Typer) -> None:
    app.add_typer(reproduce_app, name="reproduce")
