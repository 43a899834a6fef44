"""`entropykit analyze` and `entropykit analyze compare`: a thin typer layer over
`entropykit.analysis` (option defaults are read from `AnalyzeConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from entropykit.analysis.config import AnalyzeConfig
from entropykit.cli.groups import DefaultCommandGroup
from entropykit.cli.options import config_option

_HELP = """Token- and sentence-level entropy analysis of model outputs (paper section 2).

OUTPUTS.jsonl holds one JSON object per line with "prompt" and "response" (optional "id",
"source", "model"); the sample files of `entropykit passk` work as they are. Entropies come
from the model that wrote the text: the records' "model" field unless --model is given, and a
--model that differs from it is refused unless --scorer-differs-ok. Records that already carry
per-token arrays ("offsets", "entropies", "logprobs", ... as written by `entropykit score`) are
used as they are, with no model loaded. With --base (a reference model's outputs, "response"
needed) rare behaviors are analyzed too.

The headline of every comparison has the response as the unit (per-response differences,
Wilcoxon signed-rank and paired t tests, cluster-bootstrap CI over prompts and responses);
pooled token/sentence figures are reported as descriptive.

Writes into --out: summary.json, report.html (open in a browser, works offline),
tokens.parquet (tokens, offsets, log-probs, entropies, top-5 alternatives; a rerun into the
same folder reuses every response whose scorer and text match), responses.jsonl (per-response
entropy and test-time dynamics), sentences.jsonl, and with --base embeddings.npz.

Compare two analyses (paper Figure 8): entropykit analyze compare RUN_A RUN_B --out cmp.html

Bad input: a missing/empty/binary file, a malformed JSON line, a record without "prompt" or
"response", a non-string value, a scorer that is not the records' model, or records mixing
models stops with one line on stderr and exit code 2. Records with an empty (or
whitespace-only) response are skipped and counted in a warning.
"""


HELP = "\n\n".join(" ".join(par.split()) for par in _HELP.split("\n\n"))  # one line per paragraph: the help wraps it


# `analyze OUTPUTS ...` runs the analysis (the hidden default command `run`); `analyze compare ...`
# compares two runs; `analyze --help` shows the analysis' help and the commands.
analyze_app = typer.Typer(cls=DefaultCommandGroup, add_completion=False, pretty_exceptions_enable=False, help=HELP)


@analyze_app.command("run", help=HELP, no_args_is_help=True, hidden=True)
def analyze(
    outputs: Path = typer.Argument(..., metavar="OUTPUTS.jsonl", help="JSONL of the studied model's outputs (prompt, response).", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if missing; checked writable before any work).", show_default=False),
    base: Optional[Path] = typer.Option(None, "--base", help="JSONL of a reference (e.g. base) model's outputs: enables rare-behavior analysis."),
    model: Optional[str] = config_option(AnalyzeConfig, "model", "--model", help="Scorer (embedded alias, HF folder, .gguf file or hub id). Default: the model named in the records."),
    scorer_differs_ok: bool = config_option(AnalyzeConfig, "scorer_differs_ok", "--scorer-differs-ok", help="Allow a --model other than the model that wrote the records."),
    embedder: str = config_option(AnalyzeConfig, "embedder", "--embedder", help="Sentence embedder: 'minilm' (embedded all-MiniLM-L6-v2), a local sentence-transformers folder or hub id."),
    lexicon: str = config_option(AnalyzeConfig, "lexicon", "--lexicon", help="Pivotal words: 'paper' (the words the paper names, with inflections), 'extended', or a FILE that replaces them ('category: w1, lemma/form/form')."),
    lexicon_add: Optional[Path] = config_option(AnalyzeConfig, "lexicon_add", "--lexicon-add", help="FILE of pivotal words added to --lexicon."),
    reflective: str = config_option(AnalyzeConfig, "reflective", "--reflective", help="Reflective patterns: 'paper' (verify/check families), 'extended', or a FILE of regexes that replaces them."),
    reflective_add: Optional[Path] = config_option(AnalyzeConfig, "reflective_add", "--reflective-add", help="FILE of regexes added to --reflective."),
    min_word_count: int = config_option(AnalyzeConfig, "min_word_count", "--min-word-count", help="'Commonly occurring' pivotal words: at least this many occurrences."),
    pivotal_entropy: str = config_option(AnalyzeConfig, "pivotal_entropy", "--pivotal-entropy", help="Entropy of a word: 'first' token or 'mean' of its tokens (the same for the control words)."),
    min_responses: int = config_option(AnalyzeConfig, "min_responses", "--min-responses", help="Per-response tests need this many responses containing both groups."),
    min_count: int = config_option(AnalyzeConfig, "min_count", "--min-count", help="Pooled (descriptive) tests need this many values per group."),
    mixed_model: bool = config_option(AnalyzeConfig, "mixed_model", "--mixed-model/--no-mixed-model", help="Also fit H ~ group + (1 | prompt/response) (statsmodels MixedLM)."),
    rare_fraction: float = config_option(AnalyzeConfig, "rare_fraction", "--rare-fraction", help="Fraction of OUTPUTS sentences labelled rare (top by kNN distance)."),
    k: int = config_option(AnalyzeConfig, "knn_k", "--k", help="Nearest BASE sentences averaged for the rarity distance."),
    clusters: int = config_option(AnalyzeConfig, "n_clusters", "--clusters", help="Number of behavior clusters (k-means)."),
    umap_points: int = config_option(AnalyzeConfig, "umap_max_points", "--umap-points", help="Sentences sampled for the UMAP map and clusters."),
    forking_quantile: float = config_option(AnalyzeConfig, "forking_quantile", "--forking-quantile", help="Forking tokens: entropy at or above this quantile."),
    repetition_n: int = config_option(AnalyzeConfig, "repetition_n", "--repetition-n", help="n of the n-gram repetition rate (seq-rep-n over words)."),
    n_boot: int = config_option(AnalyzeConfig, "n_boot", "--n-boot", help="Bootstrap replicates for the 95% CIs."),
    seed: int = config_option(AnalyzeConfig, "seed", "--seed", help="Seed for bootstrap, sampling, UMAP and k-means."),
    chat: Optional[bool] = config_option(AnalyzeConfig, "chat", "--chat/--no-chat", help="Apply the tokenizer's chat template to prompts (default: when it has one)."),
    top_k: int = config_option(AnalyzeConfig, "top_k", "--top-k", help="Alternatives per token stored while scoring (report hover)."),
    max_batch_tokens: int = config_option(AnalyzeConfig, "max_batch_tokens", "--max-batch-tokens", help="Scorer batch size in (padded) tokens."),
    text_responses: int = config_option(AnalyzeConfig, "text_responses", "--text-responses", help="Responses in the report's running-text view."),
    color_range: str = config_option(AnalyzeConfig, "color_range", "--color-range", help="Text view colours: 'absolute' (0..--color-max nats) or 'run' (0..the run's 99th percentile)."),
    color_max: float = config_option(AnalyzeConfig, "color_max", "--color-max", help="Top of the absolute colour scale (nats)."),
    limit: Optional[int] = config_option(AnalyzeConfig, "limit", "--limit", help="Analyze only the first N usable records."),
    input_format: str = config_option(AnalyzeConfig, "input_format", "--format", help="Shape of the input records: auto (detected), entropykit, verl, lm-eval, lighteval, trl, vllm-batch, messages, generations."),
    fields: Optional[str] = config_option(AnalyzeConfig, "fields", "--fields", help="Name the fields of an undetected shape: prompt=FIELD,response=FIELD[,answer=,id=,messages=,step=,verdict=] (dotted paths reach nested fields; a list-valued response gives one record per sample)."),
    batch_input: Optional[Path] = config_option(AnalyzeConfig, "batch_input", "--batch-input", help="vLLM run_batch: the batch's input file, joined with the output by custom_id."),
    device: Optional[str] = config_option(AnalyzeConfig, "device", "--device", help="Torch device for the scorer (default: cuda if available, else cpu)."),
    report: bool = config_option(AnalyzeConfig, "report", "--report/--no-report", help="Write report.html."),
    progress: bool = config_option(AnalyzeConfig, "progress", "--progress/--no-progress", help="Progress bars on stderr."),
) -> None:
    from entropykit.io import ensure_writable_dir

    ensure_writable_dir(out, create=False)  # before any work (and any heavy import); nothing created yet
    from rich.console import Console

    from entropykit.analysis import print_summary, run_analysis

    cfg = AnalyzeConfig(
        outputs=str(outputs), out=str(out), base=str(base) if base else None, model=model, scorer_differs_ok=scorer_differs_ok,
        embedder=embedder, lexicon=lexicon, lexicon_add=str(lexicon_add) if lexicon_add else None, reflective=reflective,
        reflective_add=str(reflective_add) if reflective_add else None, min_word_count=min_word_count,
        pivotal_entropy=pivotal_entropy, min_responses=min_responses, min_count=min_count, mixed_model=mixed_model,
        rare_fraction=rare_fraction, knn_k=k, n_clusters=clusters, umap_max_points=umap_points, forking_quantile=forking_quantile,
        repetition_n=repetition_n, n_boot=n_boot, seed=seed, chat=chat, top_k=top_k, max_batch_tokens=max_batch_tokens,
        text_responses=text_responses, color_range=color_range, color_max=color_max, limit=limit, device=device,
        progress=progress, report=report, input_format=input_format, fields=fields, batch_input=str(batch_input) if batch_input else None,
    )
    summary = run_analysis(cfg)
    console = Console()
    print_summary(summary, console)
    for w in summary.get("warnings", []):
        typer.echo(f"entropykit: warning: {w}", err=True)
    written = ", ".join(summary["files"].values())
    console.print(f"wrote [bold]{Path(out) / 'report.html'}[/bold] ({written})" if report else f"wrote {written} in {out}")


@analyze_app.command("compare")
def compare(
    run_a: Path = typer.Argument(..., metavar="RUN_A", help="An `entropykit analyze --out` folder (e.g. the GRPO model's)."),
    run_b: Path = typer.Argument(..., metavar="RUN_B", help="Another one (e.g. GRPO + entropy advantage) on the same prompts."),
    out: Path = typer.Option(Path("analyze-compare.html"), "--out", "-o", help="HTML report (a .json twin is written beside it)."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Two comma-separated names (default: the folder names)."),
    n_boot: int = config_option(AnalyzeConfig, "n_boot", "--n-boot", help="Bootstrap replicates for the 95% CIs."),
    seed: int = config_option(AnalyzeConfig, "seed", "--seed", help="Seed of the bootstrap."),
) -> None:
    """Paper Figure 8: pivotal words and reflective sentences per 1k tokens, their entropy, response
    length and repetition rate of two analyses, per response with 95% CIs; B - A paired by prompt."""
    from entropykit.io import ensure_writable_parent

    ensure_writable_parent(out)  # before any work (and any heavy import)
    from rich.console import Console

    from entropykit.analysis.compare import compare_runs, print_compare

    lab = [s.strip() for s in labels.split(",")] if labels else None
    report = compare_runs(str(run_a), str(run_b), str(out), labels=lab, n_boot=n_boot, seed=seed)
    print_compare(report, Console())
    typer.echo(f"wrote {out} and {Path(out).with_suffix('.json')}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(analyze_app, name="analyze")
