"""`entropykit score`: per-token entropy and log-prob for {"prompt", "response"} records."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from entropykit.cli.options import config_option
from entropykit.scoring_config import ScoreConfig


def score_file(cfg: ScoreConfig) -> dict:
    """The core's `entropykit.scoring.score_file`, after the checks that need no torch (bad input
    and an unwritable output are one line and exit 2 before any heavy import)."""
    from entropykit.io import ensure_writable_parent
    from entropykit.scoring_config import read_score_records

    cfg.validate()
    records, notes = read_score_records(cfg)
    ensure_writable_parent(cfg.out, create=False)
    from entropykit.scoring import score_file as run

    return run(cfg, records=records, notes=notes)


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
        input_path: Path = typer.Argument(..., metavar="INPUT", help='Records with "prompt" and "response" (other fields are kept), or another tool\'s outputs (see --format): a JSONL, JSON or parquet file, or a folder of them.'),
        out: Path = typer.Option(..., "--out", "-o", help="Output JSONL: each record plus tokens, offsets, logprobs, entropies."),
        model: str = config_option(ScoreConfig, "model", "--model", help="Embedded alias, HF folder, .gguf file or hub id."),
        chat: Optional[bool] = config_option(ScoreConfig, "chat", "--chat/--no-chat", help="Wrap prompts in the chat template.", shown="when the model has one"),
        chunk_size: Optional[int] = config_option(ScoreConfig, "chunk_size", "--chunk-size", help="Positions per LM-head chunk; peak extra memory ~ chunk x vocab x 4 bytes.", shown="1024 on CPU, 768 compiled on CUDA"),
        batch_tokens: int = config_option(ScoreConfig, "max_batch_tokens", "--batch-tokens", help="Max padded tokens per forward batch."),
        device: Optional[str] = config_option(ScoreConfig, "device", "--device", help="cpu, cuda, cuda:1 ...", shown="cuda if present"),
        dtype: Optional[str] = config_option(ScoreConfig, "dtype", "--dtype", help="float32 | bfloat16 | float16.", shown="bf16 on CUDA, fp32 on CPU"),
        input_format: str = config_option(ScoreConfig, "input_format", "--format", help="Shape of the input records: auto (detected), entropykit, verl, lm-eval, lighteval, trl, vllm-batch, messages, generations."),
        fields: Optional[str] = config_option(ScoreConfig, "fields", "--fields", help="Name the fields of an undetected shape: prompt=FIELD,response=FIELD[,answer=,id=,messages=,step=,verdict=] (dotted paths reach nested fields; a list-valued response gives one record per sample)."),
        batch_input: Optional[Path] = config_option(ScoreConfig, "batch_input", "--batch-input", help="vLLM run_batch: the batch's input file, joined with the output by custom_id."),
    ) -> None:
        """Teacher-forced per-token entropy and log-prob of each response (full vocabulary, nats)."""
        summary = score_file(ScoreConfig(str(input_path), str(out), model=model, chat=chat, chunk_size=chunk_size,
                                         max_batch_tokens=batch_tokens, device=device, dtype=dtype,
                                         input_format=input_format, fields=fields, batch_input=str(batch_input) if batch_input else None))
        print_summary(summary)
        for w in summary["warnings"]:
            typer.echo(f"entropykit: warning: {w}", err=True)
        typer.echo(f"wrote {summary['num_responses']} scored records to {out}", err=True)
