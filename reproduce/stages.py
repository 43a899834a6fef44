"""The stages of `entropykit reproduce`, each a call of an existing tool's public function.

    data        the generated train / held-out splits (when --data / --eval are "arith")
    base        passk on the evaluation set: the paper's T 0.6 / top-p 0.95, per-token entropies
    train V     entropykit train, one variant at a time (same data, seeds and sizes)
    export V    train export: the trained policy as a model folder
    passk V     passk of that folder: the same problems and sample seeds as the base
    analyze     analyze the base's samples, and each variant's with --base = the base's samples
                (the paper's rare behaviors), each scored by the model that wrote them
    reports     passk compare (Figure 5), train report (Figures 6-7), analyze compare (Figure 8)
    table       summary.json and index.html (Tables 2-3 with paired CIs)

`run_stages` skips a stage whose outputs are complete (recorded in `stages.json` after the
stage returned, and still on disk), so a rerun after kill -9 or Ctrl-C continues with the
stage that was running; that stage's tool resumes its own work (passk keeps every saved
sample, train restarts from its latest checkpoint with the same random state).

stages.json records per stage: "attempts" (how many times it was started), "attempt_seconds"
(the seconds of each attempt, an interrupted one's up to its last heartbeat, every
`HEARTBEAT_S` seconds, or to its exception), "seconds" (the attempt that finished, as before) and
"seconds_total" (the sum over attempts: what the stage cost; `seeds.py` prices from it).
"""

from __future__ import annotations

import datetime
import gc
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from entropykit.io import atomic_write_json, read_json_object

from .config import GENERATED, VARIANTS, ReproduceConfig
from .layout import Layout, figure8_pairs, label, run_name, runs, train_seed

Log = Callable[[str], None]
HEARTBEAT_S = 10.0  # how often a running stage's seconds so far are written (what a kill -9 leaves)


@dataclass
class Stage:
    name: str
    run: Callable[[], object]
    outputs: tuple[Path, ...] = field(default_factory=tuple)  # all present + recorded => complete


def problem_files(cfg: ReproduceConfig, lay: Layout) -> tuple[str, str]:
    """(training set, evaluation set) as `train --data` and `passk --benchmark` take them."""
    train = str(lay.data / "arith-train.jsonl") if cfg.data == GENERATED else cfg.data
    held = str(lay.data / "arith-eval.jsonl") if cfg.eval == GENERATED else cfg.eval
    return train, held


def write_problems(cfg: ReproduceConfig, lay: Layout) -> None:
    """The generated splits: disjoint by problem text, the same for every seed-0 run."""
    from entropykit.io import atomic_write_jsonl

    from .problems import arithmetic_problems

    rows = arithmetic_problems(cfg.train_problems + cfg.eval_problems, seed=cfg.seed)
    train, held = rows[: cfg.train_problems], rows[cfg.train_problems:]
    for i, row in enumerate(held):
        row["id"] = f"arith-eval-{i:04d}"
    lay.data.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(lay.data / "arith-train.jsonl", train)
    atomic_write_jsonl(lay.data / "arith-eval.jsonl", held)


# --------------------------------------------------------------------------------------------
# one function per tool call


def run_passk_stage(cfg: ReproduceConfig, lay: Layout, name: str, model: str, log: Log) -> None:
    from entropykit.evalkit.config import PasskConfig
    from entropykit.evalkit.runner import run_passk
    from entropykit.generation import choose_backend
    from entropykit.sampling import backend_info

    backend = choose_backend(cfg.backend)
    _, held = problem_files(cfg, lay)
    pcfg = PasskConfig(model=model, benchmarks=[held], out=str(lay.passk(name)), ks=str(cfg.k), max_tokens=cfg.max_tokens,
                       seed=cfg.seed, backend=backend, limit=cfg.eval_problems, batch_size=cfg.batch_size,
                       token_entropies=backend_info(backend).token_stats)  # else analyze scores the samples itself
    run_passk(pcfg, log=log)


def train_config(cfg: ReproduceConfig, lay: Layout, variant: str, seed_index: int = 0):
    """The TrainConfig of `variant` trained with seed index `seed_index`: everything but the
    method (and the training seed) is the same for all runs."""
    from entropykit.train.config import TrainConfig

    method = dict(VARIANTS[variant])
    entropy_reg = method.pop("entropy_reg", False)
    train, _ = problem_files(cfg, lay)
    return TrainConfig(
        model=cfg.model, data=train, out=str(lay.train_run(run_name(variant, seed_index))), steps=cfg.steps,
        prompts_per_step=cfg.prompts_per_step, n_samples=cfg.n_samples, max_tokens=cfg.max_tokens,
        temperature=cfg.temperature, mini_batch_size=cfg.mini_batch_size, lr=cfg.lr, critic_lr=2 * cfg.lr,
        entropy_coef=cfg.entropy_coef if entropy_reg else 0.0, critic_warmup=cfg.critic_warmup,
        rollout_backend=cfg.backend, seed=train_seed(cfg, seed_index), save_every=cfg.save_every, keep_checkpoints=1,
        **method, **cfg.extra_train,
    )


def run_train_stage(cfg: ReproduceConfig, lay: Layout, variant: str, seed_index: int, log: Log) -> None:
    from entropykit.train.loop import resume_config, train

    run = lay.train_run(run_name(variant, seed_index))
    if (run / "config.json").exists():  # started before: continue from its latest checkpoint
        train(resume_config(run, steps=cfg.steps), resume=True, log=log, progress=True)
    else:
        train(train_config(cfg, lay, variant, seed_index), log=log, progress=True)


def run_export_stage(lay: Layout, variant: str) -> None:
    import shutil

    from entropykit.train.checkpoint import export_policy

    if lay.policy(variant).exists():  # an export killed part-way: the stage did not finish, so its folder is ours to redo
        shutil.rmtree(lay.policy(variant))
    export_policy(lay.train_run(variant), lay.policy(variant))


def run_analyze_stage(cfg: ReproduceConfig, lay: Layout, name: str) -> None:
    from entropykit.analysis import run_analysis
    from entropykit.analysis.config import AnalyzeConfig

    base = None if name == "base" else str(lay.samples("base"))  # rare behaviors: against the base model's outputs
    run_analysis(AnalyzeConfig(outputs=str(lay.samples(name)), out=str(lay.analysis(name)), base=base,
                               n_clusters=cfg.clusters, seed=cfg.seed, progress=True))


def run_reports_stage(cfg: ReproduceConfig, lay: Layout) -> None:
    from entropykit.analysis.compare import compare_runs as analyze_compare
    from entropykit.evalkit.report import compare_runs as passk_compare
    from entropykit.train.report import build_report

    names = ["base", *(name for _, _, name in runs(cfg))]
    lay.reports.mkdir(parents=True, exist_ok=True)
    passk_compare([str(lay.passk(n)) for n in names], str(lay.reports / "passk-compare.html"), labels=[label(n) for n in names])
    build_report([lay.train_run(n) for n in names[1:]], lay.reports / "train-report.html", title="entropykit reproduce: training")
    for a, b in figure8_pairs(cfg):
        analyze_compare(str(lay.analysis(a)), str(lay.analysis(b)), str(lay.reports / f"analyze-{a}-vs-{b}.html"),
                        labels=[label(a), label(b)], seed=cfg.seed)


# --------------------------------------------------------------------------------------------


def build_stages(cfg: ReproduceConfig, lay: Layout, log: Log) -> list[Stage]:
    from .table import write_table

    stages = []
    if GENERATED in (cfg.data, cfg.eval):
        stages.append(Stage("data: generate the train and held-out problems", lambda: write_problems(cfg, lay),
                            (lay.data / "arith-train.jsonl", lay.data / "arith-eval.jsonl")))
    stages.append(Stage("passk base", lambda: run_passk_stage(cfg, lay, "base", cfg.model, log),
                        (lay.passk("base") / "summary.json",)))
    for v, i, n in runs(cfg):
        stages.append(Stage(f"train {n}", lambda v=v, i=i: run_train_stage(cfg, lay, v, i, log), (lay.train_run(n) / "metrics.jsonl",)))
        stages.append(Stage(f"export {n}", lambda n=n: run_export_stage(lay, n), (lay.policy(n) / "config.json",)))
        stages.append(Stage(f"passk {n}", lambda n=n: run_passk_stage(cfg, lay, n, str(lay.policy(n)), log),
                            (lay.passk(n) / "summary.json",)))
    for name in ["base", *(n for _, _, n in runs(cfg))]:
        stages.append(Stage(f"analyze {name}", lambda n=name: run_analyze_stage(cfg, lay, n), (lay.analysis(name) / "summary.json",)))
    reports, table = COMPARISON_STAGES
    stages.append(Stage(reports, lambda: run_reports_stage(cfg, lay), (lay.reports / "passk-compare.json", lay.reports / "train-report.html")))
    stages.append(Stage(table, lambda: write_table(cfg, lay), (lay.root / "summary.json", lay.root / "index.html")))
    return stages


# the stages that compare every model: redone when variants are added to a finished experiment
COMPARISON_STAGES = ("reports: passk compare, train report, analyze compare", "table: summary.json and index.html")


def forget_stages(lay: Layout, names: tuple[str, ...]) -> None:
    """Mark stages as not finished in stages.json (their outputs are rewritten when they rerun)."""
    state = load_stage_state(lay.stages_file)
    for name in names:
        state.pop(name, None)
    atomic_write_json(lay.stages_file, {"stages": state})


def load_stage_state(path: Path) -> dict:
    """stages.json: {stage name: {"attempts", "attempt_seconds", "seconds", "seconds_total",
    "finished"}} (see the module docstring); a damaged file counts as empty (every stage then
    reruns, and each tool reuses its own finished work)."""
    state = read_json_object(path, missing={}, damaged={})
    return state.get("stages", {}) if isinstance(state.get("stages"), dict) else {}


def _attempt_seconds(rec: dict) -> list[float]:
    """The seconds of a record's earlier attempts (older files: none, or the finished one's)."""
    times = rec.get("attempt_seconds")
    if isinstance(times, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in times):
        return [float(x) for x in times]
    return [float(rec["seconds"])] if isinstance(rec.get("seconds"), (int, float)) else []


def release_memory() -> None:
    """Free what the finished stage loaded: the models the tools keep for reuse within a process
    (`load_model`'s cache: passk and analyze load through it, so without this every evaluated
    policy stayed resident to the end, one model's weights more per trained run; the analyses'
    sentence embedder), then what is unreachable once the stage returns: cycles (modules,
    optimizers, hooks) wait for the collector, and glibc keeps freed arenas."""
    import sys

    models = sys.modules.get("entropykit.models")  # only what a stage imported: importing them costs seconds
    if models is not None:
        models.clear_model_cache()  # no stage reuses another's model; a stage that needs one again reloads it
    rare = sys.modules.get("entropykit.analysis.rare")
    if rare is not None:
        rare.clear_embedder_cache()
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def run_stages(stages: list[Stage], lay: Layout, log: Log, progress_line: Callable[[str], None],
               heartbeat_s: float = HEARTBEAT_S) -> dict:
    """Run every stage that is not complete; one progress line per stage. Returns the state.

    Every attempt's seconds are kept (a stage killed and resumed cost both attempts): while a
    stage runs, a thread writes its seconds so far every `heartbeat_s`; an exception (Ctrl-C
    included) writes them at once."""
    state = load_stage_state(lay.stages_file)
    total = len(stages)

    def save() -> None:
        atomic_write_json(lay.stages_file, {"stages": state})

    for i, st in enumerate(stages, 1):
        rec = state.get(st.name, {})
        if rec.get("finished") and all(p.exists() for p in st.outputs):
            progress_line(f"[{i}/{total}] {st.name}: complete ({rec['seconds']:.0f} s earlier), skipped")
            continue
        progress_line(f"[{i}/{total}] {st.name}")
        times = _attempt_seconds(rec) + [0.0]  # this attempt's seconds: the last entry
        rec = {"attempts": int(rec.get("attempts", 0)) + 1, "attempt_seconds": times}
        state[st.name] = rec
        save()
        t0 = time.perf_counter()
        stop = threading.Event()

        def beat() -> None:  # the only writer of stages.json while the stage runs (the main thread waits in st.run)
            while not stop.wait(heartbeat_s):
                times[-1] = round(time.perf_counter() - t0, 1)
                save()

        ticker = threading.Thread(target=beat, name="stage-heartbeat", daemon=True)
        ticker.start()
        try:
            st.run()
            release_memory()  # a stage's models and tensors go with it: peak memory stays that of one stage
        finally:
            stop.set()
            ticker.join()
            times[-1] = round(time.perf_counter() - t0, 1)
            save()  # an interrupted attempt: its seconds, for the total when the stage is resumed
        rec.update(seconds=times[-1], seconds_total=round(sum(times), 1),
                   finished=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        save()
        progress_line(f"[{i}/{total}] {st.name}: done in {rec['seconds']:.0f} s")
    return state
