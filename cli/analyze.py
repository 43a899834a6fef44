"""`entropykit analyze`: a thin typer layer over `entropykit.analysis.run_analysis`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

HELP = """Token- and sentence-level entropy analysis of model outputs (paper section 2).

OUTPUTS.jsonl holds one JSON object per line with "prompt" and "response" (optional "id",
"source"); the sample files of `entropykit passk` work as they are. With --base (a reference
model's outputs, "response" needed) rare behaviors are analyzed too.

Writes into --out: summary.json, report.html (open in a browser, works offline),
tokens.parquet (token strings, offsets, log-probs, entropies; a rerun into the same folder
reuses every response whose model and text match), responses.jsonl (per-response entropy and
test-time dynamics), sentences.jsonl, and with --base embeddings.npz (sentence embeddings,
reused the same way).

Bad input: a missing/empty/binary file, a malformed JSON line, a record without "prompt" or
"response", or a non-string value stops with one line on stderr and exit code 2. Records with
an empty (or whitespace-only) response are skipped and counted in a warning.
"""


def register(app: typer.Typer) -> None:
    @app.command("analyze", help=HELP, no_args_is_help=True)
    def analyze(
        outputs: Path = typer.Argument(..., help="JSONL of the studied model's outputs (prompt, response).", show_default=False),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if missing).", show_default=False),
        base: Optional[Path] = typer.Option(None, "--base", help="JSONL of a reference (e.g. base) model's outputs: enables rare-behavior analysis."),
        model: str = typer.Option("smollm2-135m", "--model", help="Scorer: embedded alias, local HF folder, .gguf file or hub id."),
        embedder: str = typer.Option("minilm", "--embedder", help="Sentence embedder: 'minilm' (embedded all-MiniLM-L6-v2), a local sentence-transformers folder or hub id."),
        pivotal_words: Optional[Path] = typer.Option(None, "--pivotal-words", help="File of extra pivotal words: 'category: w1, w2' or one word per line."),
        reflective_patterns: Optional[Path] = typer.Option(None, "--reflective-patterns", help="File of extra reflective regexes, one per line (case-insensitive)."),
        pivotal_entropy: str = typer.Option("first", "--pivotal-entropy", help="Entropy of a multi-token word: 'first' token or 'mean' of its tokens."),
        rare_fraction: float = typer.Option(0.1, "--rare-fraction", help="Fraction of OUTPUTS sentences labelled rare (top by kNN distance)."),
        k: int = typer.Option(5, "--k", help="Nearest BASE sentences averaged for the rarity distance."),
        clusters: int = typer.Option(8, "--clusters", help="Number of behavior clusters (k-means)."),
        umap_points: int = typer.Option(4000, "--umap-points", help="Sentences sampled for the UMAP map and clusters."),
        forking_quantile: float = typer.Option(0.8, "--forking-quantile", help="Forking tokens: entropy at or above this quantile."),
        repetition_n: int = typer.Option(4, "--repetition-n", help="n of the n-gram repetition rate (seq-rep-n over words)."),
        n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap replicates for the 95% CIs."),
        seed: int = typer.Option(0, "--seed", help="Seed for bootstrap, sampling, UMAP and k-means."),
        chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="Apply the tokenizer's chat template to prompts (default: when it has one)."),
        max_batch_tokens: int = typer.Option(8192, "--max-batch-tokens", help="Scorer batch size in (padded) tokens."),
        heatmap_responses: int = typer.Option(50, "--heatmap-responses", help="Responses selectable in the report's heatmap."),
        limit: Optional[int] = typer.Option(None, "--limit", help="Analyze only the first N usable records."),
        device: Optional[str] = typer.Option(None, "--device", help="Torch device for the scorer (default: cuda if available, else cpu)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr."),
    ) -> None:
        from rich.console import Console

        from entropykit.io import ensure_writable_dir

        ensure_writable_dir(out, create=False)  # before any work; nothing created yet
        from entropykit.analysis import AnalyzeConfig, print_summary, run_analysis

        cfg = AnalyzeConfig(
            outputs=str(outputs), out=str(out), base=str(base) if base else None, model=model, embedder=embedder,
            pivotal_words=str(pivotal_words) if pivotal_words else None,
            reflective_patterns=str(reflective_patterns) if reflective_patterns else None,
            pivotal_entropy=pivotal_entropy, rare_fraction=rare_fraction, knn_k=k, n_clusters=clusters,
            umap_max_points=umap_points, forking_quantile=forking_quantile, repetition_n=repetition_n, n_boot=n_boot,
            seed=seed, chat=chat, max_batch_tokens=max_batch_tokens, heatmap_responses=heatmap_responses, limit=limit,
            device=device, progress=progress,
        )
        summary = run_analysis(cfg)
        console = Console()
        print_summary(summary, console)
        for w in summary.get("warnings", []):
            typer.echo(f"entropykit: warning: {w}", err=True)
        console.print(f"wrote [bold]{Path(out) / 'report.html'}[/bold] and summary.json, tokens.parquet, responses.jsonl, sentences.jsonl")
