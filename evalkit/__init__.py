"""entropykit.evalkit: the eval engine behind `entropykit passk`.

Public API:
- `pass_at_k(n, c, k) -> float`: unbiased pass@k (stable product form, exact to < 1e-12).
- `load_benchmark(spec, columns=None, limit=None) -> Benchmark`: registered names, bundled sets
  (`math500`, `easy`), local files.
- `PasskConfig`, `run_passk(cfg) -> summary`: sample (resumable), verify, score, write outputs.
- `score_samples(samples_path, ks, out) -> summary`: the `--from-samples` mode.
- `compare_runs(dirs, out) -> report`: overlay runs, crossover k, test-time dynamics.
"""

__all__ = [
    "pass_at_k", "pass_at_k_table", "bootstrap_ci", "crossover_k", "default_ks", "parse_ks",
    "load_benchmark", "list_benchmarks", "PasskConfig", "run_passk", "score_samples", "compare_runs",
]


def __getattr__(name):  # lazy: importing the package (the CLI does) must not pull in numpy/torch/plotly
    if name in ("pass_at_k", "pass_at_k_table", "bootstrap_ci", "crossover_k", "default_ks", "parse_ks"):
        from entropykit.evalkit import metrics

        return getattr(metrics, name)
    if name in ("load_benchmark", "list_benchmarks", "Benchmark", "Problem", "REGISTRY"):
        from entropykit import benchmarks  # shared core (the trainer reads problems the same way)

        return getattr(benchmarks, name)
    if name == "PasskConfig":
        from entropykit.evalkit import config

        return getattr(config, name)
    if name in ("run_passk", "score_samples"):
        from entropykit.evalkit import runner

        return getattr(runner, name)
    if name in ("compare_runs", "print_table", "print_compare"):
        from entropykit.evalkit import report

        return getattr(report, name)
    raise AttributeError(name)
