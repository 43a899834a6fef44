"""`entropykit passk` (sample + verify + pass@k) and `entropykit passk compare`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from entropykit.errors import UserError
from entropykit.io import ensure_writable_dir, ensure_writable_parent


def _fail(msg: str) -> None:
    print(f"entropykit: error: {msg}", file=sys.stderr)
    raise typer.Exit(2)


def _console():
    try:
        from entropykit.progress import console

        return console
    except ImportError:  # pragma: no cover
        from rich.console import Console

        return Console(stderr=True)


passk_app = typer.Typer(
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Sample n answers per problem, verify them with math-verify, report unbiased pass@k.",
)


@passk_app.callback()
def passk(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="embedded alias (smollm2-135m), local HF folder, .gguf file or hub id"),
    benchmark: Optional[List[str]] = typer.Option(None, "--benchmark", "-b", help="math500, aime24, aime25, amc23, gsm8k, easy, or a local .jsonl/.json/.parquet/.csv file or folder (repeatable)"),
    n: Optional[int] = typer.Option(None, "--n", help="samples per problem (default: the largest k)"),
    k: Optional[str] = typer.Option(None, "--k", help="k values: '1,2,4,8' or one number K meaning 1,2,4,...,K (default: powers of two up to n)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (samples.jsonl, summary.json, problems.jsonl, passk.html)"),
    temperature: float = typer.Option(0.6, "--temperature"),
    top_p: float = typer.Option(0.95, "--top-p"),
    max_tokens: int = typer.Option(8192, "--max-tokens"),
    seed: int = typer.Option(0, "--seed", help="base seed; sample seeds derive from (seed, benchmark, problem, index)"),
    backend: str = typer.Option("auto", "--backend", help="auto (vllm when importable with a GPU), vllm or hf"),
    prompt_template: Optional[str] = typer.Option(None, "--prompt-template", help="with {problem}; default: the problem + the paper's 'reason step by step ... \\boxed{}' suffix"),
    chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="apply the tokenizer's chat template (default: when it has one)"),
    from_samples: Optional[Path] = typer.Option(None, "--from-samples", help="verify and score existing records (problem_id, response, answer[, benchmark]) without a model"),
    columns: Optional[str] = typer.Option(None, "--columns", help="column mapping for local benchmark files, e.g. problem=question,answer=final,id=idx"),
    limit: Optional[int] = typer.Option(None, "--limit", help="use only the first N problems of each benchmark"),
    timeout: float = typer.Option(5.0, "--verify-timeout", help="hard time limit per answer check, seconds"),
    workers: Optional[int] = typer.Option(None, "--verify-workers", help="verifier processes (default: all cores; half of them while the transformers backend generates; 0: in this process, no time limit)"),
    grader: str = typer.Option("entropykit", "--grader", help="entropykit (a stated answer only; see evalkit/README.md) or mathverify-default (Math-Verify's own extraction, to reproduce other papers)"),
    batch_size: int = typer.Option(16, "--batch-size", help="transformers backend: sequences per batch"),
    tensor_parallel_size: int = typer.Option(1, "--tensor-parallel-size", "--tp", help="vLLM: GPUs per engine"),
    data_parallel_size: int = typer.Option(1, "--data-parallel-size", "--dp", help="vLLM: engine replicas"),
    html: bool = typer.Option(True, "--html/--no-html", help="write passk.html"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Sample, verify and score; resumable (rerun the same command after a kill)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        _passk(model, benchmark, n, k, out, temperature, top_p, max_tokens, seed, backend, prompt_template, chat,
               from_samples, columns, limit, timeout, workers, batch_size, tensor_parallel_size, data_parallel_size,
               html, quiet, grader)
    except UserError as e:
        _fail(str(e))


def _passk(model, benchmark, n, k, out, temperature, top_p, max_tokens, seed, backend, prompt_template, chat,
           from_samples, columns, limit, timeout, workers, batch_size, tp, dp, html, quiet, grader="entropykit") -> None:
    console = _console()
    log = (lambda s: None) if quiet else (lambda s: console.print(f"[dim]{s}[/dim]"))
    if out is None:
        raise UserError("--out DIR is required")
    if timeout <= 0:
        raise UserError("--verify-timeout must be positive")
    if workers is not None and workers < 0:
        raise UserError("--verify-workers must be >= 0")
    if from_samples is not None:
        if model or benchmark:
            raise UserError("--from-samples scores existing samples: drop --model/--benchmark")
        ensure_writable_dir(out, create=False)  # before any work
        from entropykit.evalkit.runner import score_samples

        summary = score_samples(str(from_samples), k, str(out), timeout_s=timeout, workers=workers, html=html, log=log,
                                grader=grader)
    else:
        if not model:
            raise UserError("--model is required (or --from-samples FILE)")
        if not benchmark:
            raise UserError("--benchmark is required (e.g. --benchmark math500)")
        ensure_writable_dir(out, create=False)  # before any work
        from entropykit.evalkit.runner import DEFAULT_TEMPLATE, PasskConfig, run_passk

        cfg = PasskConfig(
            model=model, benchmarks=list(benchmark), out=str(out), n=n, ks=k, temperature=temperature, top_p=top_p,
            max_tokens=max_tokens, seed=seed, backend=backend, prompt_template=prompt_template or DEFAULT_TEMPLATE,
            chat=chat, columns=columns, limit=limit, timeout_s=timeout, workers=workers, batch_size=batch_size,
            tensor_parallel_size=tp, data_parallel_size=dp, html=html, quiet=quiet, grader=grader,
        )
        summary = run_passk(cfg, log=log)
        st = summary.get("_stats", {})
        if st.get("generated"):
            log(f"generated {st['generated']} samples ({st['tokens']} tokens) in {st['wall_time_s']:.1f}s; "
                f"reused {st['reused']}")
    from rich.console import Console

    from entropykit.evalkit.report import print_table  # numpy: not on the argument-error path

    print_table(summary, Console())
    written = ["summary.json", "problems.jsonl"] + (["passk.html"] if html else [])
    log(f"wrote {', '.join(str(Path(out) / w) for w in written)}")


@passk_app.command("compare")
def compare(
    dirs: List[Path] = typer.Argument(..., help="run folders made by `entropykit passk` (two or more)"),
    out: Path = typer.Option(Path("passk-compare.html"), "--out", "-o", help="HTML report (a .json twin is written beside it)"),
    labels: Optional[str] = typer.Option(None, "--labels", help="comma-separated names, one per folder (default: model names)"),
    max_samples: int = typer.Option(2000, "--max-samples", help="responses per run used for test-time dynamics"),
) -> None:
    """Overlay pass@k curves (base vs RL): crossover k per benchmark and test-time dynamics per model."""
    from entropykit.evalkit.report import compare_runs, print_compare

    try:
        lab = [s.strip() for s in labels.split(",")] if labels else None
        ensure_writable_parent(out, create=False)  # before any work (its .json twin goes in the same folder)
        report = compare_runs([str(d) for d in dirs], str(out), labels=lab, max_samples=max_samples)
    except UserError as e:
        _fail(str(e))
        return
    from rich.console import Console

    print_compare(report, Console())
    _console().print(f"[dim]wrote {out} and {Path(out).with_suffix('.json')}[/dim]")


def register(app: typer.Typer) -> None:
    app.add_typer(passk_app, name="passk")
