"""`entropykit score`: per-token entropy and log-prob for {"prompt", "response"} records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from entropykit.errors import UserError


def score_file(
    input_path: Path,
    out_path: Path,
    *,
    model: str = "smollm2-135m",
    chat: Optional[bool] = None,
    chunk_size: Optional[int] = None,
    max_batch_tokens: int = 8192,
    device: Optional[str] = None,
    dtype: Optional[str] = None,
    show_progress: bool = True,
) -> dict:
    """Score every record of `input_path` and write them, with per-token arrays, to `out_path` atomically.

    Returns the corpus summary (see `entropykit.scoring.summarize_scores`) with "warnings": lines
    for the user (empty responses).
    """
    from entropykit.io import atomic_path, ensure_writable_parent, read_jsonl

    if (chunk_size is not None and chunk_size < 1) or max_batch_tokens < 1:
        raise UserError("--chunk-size and --batch-tokens must be >= 1")
    records = read_jsonl(input_path, required=("prompt", "response"))
    ensure_writable_parent(out_path, create=False)  # before the model: a scoring run must not be lost at its last write

    from entropykit.models import load_model  # torch: only once the arguments are known to be good
    from entropykit.scoring import score_responses, scored_record, summarize_scores, validate_records

    validate_records(records, str(input_path))
    lm = load_model(model, device=device, dtype=dtype)
    if show_progress:
        from entropykit.progress import make_progress

        with make_progress() as bar:
            task = bar.add_task("scoring", total=len(records))
            scored = score_responses(lm, records, chat=chat, chunk_size=chunk_size, max_batch_tokens=max_batch_tokens,
                                     progress=lambda k: bar.advance(task, k))
    else:
        scored = score_responses(lm, records, chat=chat, chunk_size=chunk_size, max_batch_tokens=max_batch_tokens)
    with atomic_path(out_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:  # whole file or nothing
        for rec, s in zip(records, scored):
            fh.write(json.dumps(scored_record(rec, s, model), ensure_ascii=False) + "\n")
    summary = summarize_scores(scored, records)
    summary["warnings"] = empty_response_warnings(records, [len(s.entropies) for s in scored], str(input_path))
    return summary


def empty_response_warnings(records: list[dict], num_tokens: list[int], path: str) -> list[str]:
    """The warning (as `analyze` gives) for records whose response is empty or whitespace-only:
    they are kept, in input order, but an empty one has no tokens and `mean_entropy: null`."""
    empty = [i for i, (r, n) in enumerate(zip(records, num_tokens), 1) if n == 0 or not r["response"].strip()]
    if not empty:
        return []
    shown = ("record " if len(empty) == 1 else "records ") + ", ".join(map(str, empty[:10])) + (", ..." if len(empty) > 10 else "")
    return [f"{path}: {len(empty)} of {len(records)} records have an empty (or whitespace-only) response "
            f"({shown}); they are kept, with mean_entropy null where no token was scored"]


def print_summary(summary: dict, title: str = "token entropy (nats)") -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()  # results go to stdout; progress and messages to stderr

    table = Table(title=title)
    for col in ("set", "responses", "tokens", "mean", "median", "p80", "p95"):
        table.add_column(col, justify="right" if col != "set" else "left")

    def row(name: str, s: dict, n_resp: str) -> None:
        f = lambda k: f"{s[k]:.3f}" if s.get(k) is not None else "-"
        table.add_row(name, n_resp, str(s["num_tokens"]), f("mean_entropy"), f("median_entropy"), f("p80_entropy"), f("p95_entropy"))

    row("all", summary, str(summary["num_responses"]))
    for name, s in summary.get("by_source", {}).items():
        row(name, s, "")
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score_cmd(
        input_path: Path = typer.Argument(..., metavar="INPUT.jsonl", help='Records with "prompt" and "response" (other fields are kept).'),
        out: Path = typer.Option(..., "--out", "-o", help="Output JSONL: each record plus tokens, offsets, logprobs, entropies."),
        model: str = typer.Option("smollm2-135m", help="Embedded alias, HF folder, .gguf file or hub id."),
        chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="Wrap prompts in the chat template (default: when the model has one)."),
        chunk_size: Optional[int] = typer.Option(None, help="Positions per LM-head chunk; peak extra memory ~ chunk x vocab x 4 bytes (default 1024 on CPU, 768 compiled on CUDA)."),
        batch_tokens: int = typer.Option(8192, help="Max padded tokens per forward batch."),
        device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda if present)."),
        dtype: Optional[str] = typer.Option(None, help="float32 | bfloat16 | float16 (default: bf16 on CUDA, fp32 on CPU)."),
    ) -> None:
        """Teacher-forced per-token entropy and log-prob of each response (full vocabulary, nats)."""
        summary = score_file(input_path, out, model=model, chat=chat, chunk_size=chunk_size,
                             max_batch_tokens=batch_tokens, device=device, dtype=dtype)
        print_summary(summary)
        for w in summary["warnings"]:
            typer.echo(f"entropykit: warning: {w}", err=True)
        typer.echo(f"wrote {summary['num_responses']} scored records to {out}", err=True)
