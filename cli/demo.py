"""`entropykit demo`: the three tools end to end on the embedded model, offline, on a CPU.

It only chains the public commands, exactly as a user would type them, so the demo shows
the real interface and cannot drift from it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from entropykit.progress import console


def demo_steps(out: Path, problems: int, samples: int, max_tokens: int) -> list[tuple[str, list[str]]]:
    """(title, argv) of each step of the demo."""
    from entropykit.analysis import demo_paths

    sample_file = str(resources.files("entropykit") / "data" / "sample_responses.jsonl")
    rl_outputs, base_outputs = demo_paths()
    return [
        ("1/3 score: per-token entropy of the bundled sample responses",
         ["score", sample_file, "--out", str(out / "scores.jsonl")]),
        ("2/3 analyze: pivotal tokens, reflective sentences, rare behaviors (RL-style vs base-style answers)",
         ["analyze", rl_outputs, "--base", base_outputs, "--out", str(out / "analysis"), "--clusters", "3"]),
        (f"3/3 passk: {samples} samples on {problems} easy problems, math-verify, unbiased pass@k",
         ["passk", "--model", "smollm2-135m", "--benchmark", "easy", "--limit", str(problems), "--n", str(samples),
          "--max-tokens", str(max_tokens), "--out", str(out / "passk")]),
    ]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for all demo results."),
        problems: int = typer.Option(20, help="Easy problems to sample for pass@k."),
        samples: int = typer.Option(16, help="Samples per problem (pass@1..n)."),
        max_tokens: int = typer.Option(64, help="Max new tokens per sample (the easy problems need few)."),
    ) -> None:
        """Run score -> analyze -> passk on the embedded SmolLM2-135M (a few minutes on 2 CPU cores)."""
        from entropykit.io import ensure_writable_dir

        ensure_writable_dir(out)
        for title, argv in demo_steps(out, problems, samples, max_tokens):
            console.rule(f"[bold]{title}")
            console.print("$ entropykit " + " ".join(argv), style="dim")
            app(args=argv, standalone_mode=False)
        console.rule("[bold]done")
        console.print(f"open {out / 'analysis' / 'report.html'} and {out / 'passk' / 'passk.html'} in a browser")
