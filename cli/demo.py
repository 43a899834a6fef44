"""`entropykit demo`: the tools end to end on the embedded model, offline, on a CPU.

It only chains the public commands, exactly as a user would type them, so the demo shows the
real interface and cannot drift from it. Everything it analyzes is generated here by the
embedded SmolLM2-135M: samples on MATH-500 problems at the paper's evaluation temperature
(0.6) and at 1.0, each analyzed with the model that wrote it, then compared (paper Figure 8).
Rare behaviors use the problems' MATH-500 reference solutions as the reference set: a rare
sentence is one far from every sentence of the human-written solutions.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import typer

from entropykit.progress import console


def write_reference_solutions(out: Path, limit: int) -> Path:
    """The MATH-500 reference solutions of the first ``limit`` problems as analysis input
    (``{"id", "prompt", "response", "source": "reference"}`` per line)."""
    from entropykit.benchmarks import data_path

    rows = []
    with data_path("math500.jsonl").open("r", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= limit:
                break
            p = json.loads(line)
            rows.append({"id": p.get("unique_id", i), "prompt": p["problem"], "response": p["solution"], "source": "reference"})
    from entropykit.io import atomic_write_jsonl

    atomic_write_jsonl(out, rows)
    return out


def demo_steps(out: Path, problems: int, samples: int, max_tokens: int) -> list[tuple[str, list[str]]]:
    """(title, argv) of each step of the demo."""
    sample_file = str(resources.files("entropykit") / "data" / "sample_responses.jsonl")
    # 200 real SmolLM2 samples of 50 MATH-500 problems with their per-token entropies (scored once, shipped):
    # the analysis loads no model and scores nothing, so the step takes about a minute, not seven
    bundled = resources.files("entropykit.analysis") / "data"
    ref = str(out / "math500_reference.jsonl")
    # One batch for all samples where it fits: on a CPU a decoding step costs about the same for 8
    # rows as for 24 (reading the weights dominates), so fewer, wider batches are ~2x faster.
    batch = str(min(32, problems * samples))
    gen = ["--model", "smollm2-135m", "--benchmark", "math500", "--limit", str(problems), "--n", str(samples),
           "--max-tokens", str(max_tokens), "--batch-size", batch,
           "--token-entropies"]  # recorded while sampling: analyze then loads no model and rescores nothing
    return [
        ("1/8 score: per-token entropy of the bundled sample responses", ["score", sample_file, "--out", str(out / "scores.jsonl")]),
        ("2/8 analyze 200 real SmolLM2 samples of 50 MATH-500 problems (bundled): the paper's Figure 2 with valid "
         "inference (enough responses per group for p-values and CIs)",
         ["analyze", str(bundled / "smollm2_math500_scored.jsonl"), "--base", str(bundled / "math500_reference.jsonl"),
          "--out", str(out / "analysis-math500"), "--clusters", "6"]),
        ("3/8 passk on the bundled easy arithmetic: pass@k rises with k even where pass@1 is low",
         ["passk", "--model", "smollm2-135m", "--benchmark", "easy", "--limit", "10", "--k", "8", "--max-tokens", "160",
          "--batch-size", "80", "--out", str(out / "passk-easy")]),
        (f"4/8 passk: {samples} samples at temperature 0.6 on {problems} MATH-500 problems, math-verify, pass@k",
         ["passk", *gen, "--temperature", "0.6", "--out", str(out / "passk-t0.6")]),
        ("5/8 passk: the same at temperature 1.0", ["passk", *gen, "--temperature", "1.0", "--out", str(out / "passk-t1.0")]),
        ("6/8 analyze the t=0.6 samples with the model that wrote them (rare: vs the reference solutions)",
         ["analyze", str(out / "passk-t0.6" / "samples.jsonl"), "--base", ref, "--out", str(out / "analysis-t0.6"), "--clusters", "4"]),
        ("7/8 analyze the t=1.0 samples", ["analyze", str(out / "passk-t1.0" / "samples.jsonl"), "--out", str(out / "analysis-t1.0")]),
        ("8/8 analyze compare: test-time dynamics of the two (paper Figure 8)",
         ["analyze", "compare", str(out / "analysis-t0.6"), str(out / "analysis-t1.0"), "--labels", "t=0.6,t=1.0",
          "--out", str(out / "compare.html")]),
    ]


def demo_pages(out: Path) -> list[tuple[Path, str]]:
    """(page, what it shows) for the demo's last lines."""
    return [
        (out / "analysis-math500" / "report.html",
         "Figure 2 on 200 real samples: pivotal words carry more entropy than other words (per-response difference, "
         "Wilcoxon p and 95% CI over prompts), reflective and rare sentences, the entropy heatmap of each response"),
        (out / "passk-easy" / "passk.html", "pass@k on easy arithmetic: a low pass@1 and a high pass@8, every graded answer auditable"),
        (out / "passk-t0.6" / "passk.html", "MATH-500 samples at the paper's temperature 0.6, with per-token entropies"),
        (out / "compare.html", "test-time dynamics at T 0.6 vs 1.0 (paper Figure 8): length, repetition, pivotal and "
         "reflective counts (too few samples here for CIs: the page says so)"),
    ]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for all demo results."),
        problems: int = typer.Option(4, help="MATH-500 problems to sample."),
        samples: int = typer.Option(4, help="Samples per problem and temperature."),
        max_tokens: int = typer.Option(256, help="Max new tokens per sample."),
    ) -> None:
        """Run score -> passk (easy set; MATH-500 at two temperatures) -> analyze -> analyze compare on the
        embedded SmolLM2-135M (about 7 minutes on 2 CPU cores, each step timed)."""
        from entropykit.errors import UserError
        from entropykit.io import ensure_writable_dir

        for flag, value in (("--problems", problems), ("--samples", samples), ("--max-tokens", max_tokens)):
            if value < 1:
                raise UserError(f"{flag} must be >= 1, got {value}")
        ensure_writable_dir(out)
        write_reference_solutions(out / "math500_reference.jsonl", problems)
        started = time.perf_counter()
        for title, argv in demo_steps(out, problems, samples, max_tokens):
            console.rule(f"[bold]{title}")
            console.print("$ entropykit " + " ".join(argv), style="dim")
            step_started = time.perf_counter()
            app(args=argv, standalone_mode=False)
            console.print(f"({time.perf_counter() - step_started:.0f} s)", style="dim")
        console.rule(f"[bold]done in {time.perf_counter() - started:.0f} s")
        for page, shows in demo_pages(out):
            console.print(f"{page}\n    {shows}", highlight=False)
        console.print("Open them in a browser (they work offline). For the paper's whole method on this model: "
                      "entropykit reproduce --preset cpu --out runs/reproduce", highlight=False)
