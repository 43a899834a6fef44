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
    ref = str(out / "math500_reference.jsonl")
    gen = ["--model", "smollm2-135m", "--benchmark", "math500", "--limit", str(problems), "--n", str(samples),
           "--max-tokens", str(max_tokens), "--batch-size", "8",
           "--token-entropies"]  # recorded while sampling: analyze then loads no model and rescores nothing
    return [
        ("1/7 score: per-token entropy of the bundled sample responses", ["score", sample_file, "--out", str(out / "scores.jsonl")]),
        ("2/7 passk on the bundled easy arithmetic: pass@k rises with k even where pass@1 is low",
         ["passk", "--model", "smollm2-135m", "--benchmark", "easy", "--limit", "10", "--k", "8", "--max-tokens", "160",
          "--out", str(out / "passk-easy")]),
        (f"3/7 passk: {samples} samples at temperature 0.6 on {problems} MATH-500 problems, math-verify, pass@k",
         ["passk", *gen, "--temperature", "0.6", "--out", str(out / "passk-t0.6")]),
        ("4/7 passk: the same at temperature 1.0", ["passk", *gen, "--temperature", "1.0", "--out", str(out / "passk-t1.0")]),
        ("5/7 analyze the t=0.6 samples with the model that wrote them (rare: vs the reference solutions)",
         ["analyze", str(out / "passk-t0.6" / "samples.jsonl"), "--base", ref, "--out", str(out / "analysis-t0.6"), "--clusters", "4"]),
        ("6/7 analyze the t=1.0 samples", ["analyze", str(out / "passk-t1.0" / "samples.jsonl"), "--out", str(out / "analysis-t1.0")]),
        ("7/7 analyze compare: test-time dynamics of the two (paper Figure 8)",
         ["analyze", "compare", str(out / "analysis-t0.6"), str(out / "analysis-t1.0"), "--labels", "t=0.6,t=1.0",
          "--out", str(out / "compare.html")]),
    ]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for all demo results."),
        problems: int = typer.Option(6, help="MATH-500 problems to sample."),
        samples: int = typer.Option(4, help="Samples per problem and temperature."),
        max_tokens: int = typer.Option(256, help="Max new tokens per sample."),
    ) -> None:
        """Run score -> passk (easy set; MATH-500 at two temperatures) -> analyze -> analyze compare on the
        embedded SmolLM2-135M (about 4 minutes on 2 CPU cores)."""
        from entropykit.errors import UserError
        from entropykit.io import ensure_writable_dir

        for flag, value in (("--problems", problems), ("--samples", samples), ("--max-tokens", max_tokens)):
            if value < 1:
                raise UserError(f"{flag} must be >= 1, got {value}")
        ensure_writable_dir(out)
        write_reference_solutions(out / "math500_reference.jsonl", problems)
        for title, argv in demo_steps(out, problems, samples, max_tokens):
            console.rule(f"[bold]{title}")
            console.print("$ entropykit " + " ".join(argv), style="dim")
            app(args=argv, standalone_mode=False)
        console.rule("[bold]done")
        console.print(f"open {out / 'analysis-t0.6' / 'report.html'}, {out / 'compare.html'}, "
                      f"{out / 'passk-easy' / 'passk.html'} and {out / 'passk-t0.6' / 'passk.html'} in a browser")
