"""The README demo: the embedded SmolLM2-135M samples the bundled easy set, pass@1..16."""

from __future__ import annotations

from entropykit.evalkit.runner import PasskConfig, run_passk

DEMO_PROBLEMS = 20
DEMO_N = 16
DEMO_MAX_TOKENS = 64


def demo_config(out: str = "runs/demo-passk", *, problems: int = DEMO_PROBLEMS, n: int = DEMO_N,
                max_tokens: int = DEMO_MAX_TOKENS, quiet: bool = False) -> PasskConfig:
    return PasskConfig(
        model="smollm2-135m", benchmarks=["easy"], out=out, n=n, ks=None, limit=problems,
        temperature=0.6, top_p=0.95, max_tokens=max_tokens, seed=0, backend="hf", batch_size=16, quiet=quiet,
    )


def run_demo(out: str = "runs/demo-passk", *, problems: int = DEMO_PROBLEMS, n: int = DEMO_N,
             max_tokens: int = DEMO_MAX_TOKENS, quiet: bool = False, print_table: bool = True) -> dict:
    """Sample `problems` easy problems x `n` with the embedded model; print and plot pass@1..n.

    Measured (our 2-core machine, shared with other jobs, one torch thread): 6 min 42 s for the
    320 samples (19,621 tokens); pass@1 13.75% (= Avg), pass@2 25.5%, pass@4 43.7%, pass@8 65.4%,
    pass@16 80.0%.

    Equivalent CLI: ``entropykit passk --model smollm2-135m --benchmark easy --limit 20 --n 16
    --max-tokens 64 --backend hf --out runs/demo-passk``. Resumable like any run.
    """
    summary = run_passk(demo_config(out, problems=problems, n=n, max_tokens=max_tokens, quiet=quiet))
    if print_table:
        from entropykit.evalkit.report import print_table as _pt

        _pt(summary)
    return summary
