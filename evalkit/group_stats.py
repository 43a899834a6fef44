"""Groups of passk runs, one run per training seed: reading them and comparing two groups.

`entropykit passk compare A1 A2 -- B1 B2` (`group_compare`) and `reproduce`'s across-seeds table
and power (`entropykit.reproduce.seeds`) both read their runs and compare each pair here, so
the two cannot disagree:

- `problem_rows`: a run's problems.jsonl, every row checked (UserError naming the file and line);
- `group_matrices`: per group the accuracy matrix ``acc[seed, problem]`` and the pass@k matrices,
  columns matched by problem id, after checking that every run was sampled the same way, on the
  same problems with the same n;
- `compare_pair`: B - A with the two-level bootstrap CI, the t interval (null, with the reason,
  where it cannot be estimated) and the probability of improvement (`entropykit.seed_stats`);
- `finite` (NaN and infinities as JSON null) and `points` / `points_ci` (fractions as accuracy
  points in tables).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from entropykit.errors import UserError

N_RESAMPLES = 4000
PROBLEM_FIELDS = ("problem_id", "n", "accuracy")  # what a problems.jsonl row needs here


def finite(obj):
    """JSON has no NaN or infinity: they become null (in dicts, lists and tuples too)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def points(x, *, signed: bool = False, missing: str = "—") -> str:
    """A fraction as accuracy points with one decimal ("+10.2" when `signed`); `missing` for None or nan."""
    if x is None or not math.isfinite(x):
        return missing
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def points_ci(lohi, *, missing: str = "—") -> str:
    """An interval of differences as "[-2.1, +22.1]" points; `missing` when a bound is None or nan."""
    lo, hi = lohi
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return missing
    return f"[{points(lo, signed=True)}, {points(hi, signed=True)}]"


# ---------------------------------------------------------------------------------------------
# reading


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_row(r: dict, where: str) -> str:
    """The row's problem id as text; UserError (`where` = "FILE:LINE") for a value passk never writes."""
    pid = r["problem_id"]
    if not isinstance(pid, (str, int)) or isinstance(pid, bool):
        raise UserError(f"{where}: 'problem_id' must be text or a whole number, got {pid!r:.60}")
    n = r["n"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise UserError(f"{where}: problem {pid}: 'n' (samples) must be a whole number >= 1, got {n!r:.60}")
    acc = r["accuracy"]
    if not _is_number(acc) or not 0 <= acc <= 1:
        raise UserError(f"{where}: problem {pid}: 'accuracy' must be a number between 0 and 1, got {acc!r:.60}")
    pk = r.get("pass_at_k")
    if pk is not None:
        if not isinstance(pk, dict):
            raise UserError(f"{where}: problem {pid}: 'pass_at_k' must be an object {{k: value}}, got {pk!r:.60}")
        for k, v in pk.items():
            if not k.isdigit() or not _is_number(v) or not 0 <= v <= 1:
                raise UserError(f"{where}: problem {pid}: 'pass_at_k' {k!r:.20}: {v!r:.40} is not a pass@k value "
                                "between 0 and 1 at a whole k")
    return str(pid)


def problem_rows(run_dir: Path, bench: str | None = None) -> dict[str, dict]:
    """problem id -> the problems.jsonl row of `run_dir` (the rows of benchmark `bench`; None:
    every row). UserError naming the file and line: no such file, a line that is not a JSON
    object, a row without problem_id / n / accuracy or with a value passk never writes, a problem
    twice."""
    from entropykit.io import iter_jsonl_lines

    path = Path(run_dir) / "problems.jsonl"
    if not path.exists():
        raise UserError(f"{path}: no such file (its passk run has not finished: rerun `entropykit passk` into "
                        f"{run_dir})")
    rows: dict[str, dict] = {}
    first_line: dict[str, int] = {}
    for lineno, r in iter_jsonl_lines(path, required=PROBLEM_FIELDS):
        if bench is not None and str(r.get("benchmark")) != bench:
            continue
        pid = _check_row(r, f"{path}:{lineno}")
        if pid in rows:
            raise UserError(f"{path}:{lineno}: problem {pid} appears twice (also line {first_line[pid]})")
        rows[pid], first_line[pid] = r, lineno
    return rows


def check_sampling(runs: Sequence[tuple[Path, dict]], bench: str) -> list[str]:
    """UserError when two runs (folder, summary.json) were sampled with other settings than the
    first (temperature, top-p, max tokens, grader, chat; the prompt template unless the prompts are
    the same); the notes (sample seeds that differ: then the runs are paired by problem only)."""
    from entropykit.evalkit.report import PAIRING_SETTINGS, PROMPT_SETTINGS, _prompts

    (dir0, s0), notes = runs[0], []
    first = s0.get("sampling") or {}
    for d, s in runs[1:]:
        samp = s.get("sampling") or {}
        for key in PAIRING_SETTINGS:
            if key == "seed" or samp.get(key) == first.get(key):
                continue
            raise UserError(f"{d} was sampled with {key} {samp.get(key)!r}, {dir0} with {first.get(key)!r}: runs "
                            "compared across seeds are models sampled the same way")
        for key in PROMPT_SETTINGS:
            if samp.get(key) != first.get(key) and _prompts(d, bench) != _prompts(dir0, bench):
                raise UserError(f"{d} was prompted with another {key.replace('_', ' ')} than {dir0}")
        if samp.get("seed") != first.get("seed") and not notes:
            notes.append(f"sample seeds differ ({dir0}: {first.get('seed')!r}, {d}: {samp.get('seed')!r}): the runs are "
                         "paired by problem, not by sample")
    return notes


@dataclass
class GroupMatrices:
    """One benchmark's scores of every group: `acc[label]` is [seeds, problems] (a row per run, in
    the group's order; a column per problem, in `problem_ids` order), `pass_at_k[label][k]` the
    same for pass@k at each k of `ks` (those every run reports), `samples` the n of every run,
    `notes` what the reader noticed (sample seeds that differ)."""

    bench: str
    problem_ids: list[str]
    samples: int
    acc: dict[str, np.ndarray]
    pass_at_k: dict[str, dict[int, np.ndarray]]
    ks: list[int]
    notes: list[str]


def group_matrices(groups: Sequence[tuple[str, Sequence[Path]]], bench: str | None = None,
                   summaries: dict[Path, dict] | None = None) -> GroupMatrices:
    """The matrices of benchmark `bench` (None: the first run's only benchmark) of `groups`
    [(label, run folders)]. `summaries`: each run's summary.json (read when not given).

    Columns are the problems in the order of their ids (sorted), whatever the order of the rows
    in each file: runs pair by problem id. UserError when the runs were sampled with other
    settings (`check_sampling`), when a run has other problems than the first run or another n
    per problem, or when the first has uneven n (the two-level statistics take one n)."""
    from entropykit.evalkit.report import _load_run

    dirs = [Path(d) for _, ds in groups for d in ds]
    summaries = summaries if summaries is not None else {d: _load_run(d) for d in dirs}
    ref = dirs[0]
    if bench is None:
        names = list(summaries[ref]["benchmarks"])
        if len(names) != 1:
            raise UserError(f"{ref} holds {len(names)} benchmarks ({', '.join(names) or 'none'}): the runs of one "
                            "experiment are compared on one")
        bench = names[0]
    notes = check_sampling([(d, summaries[d]) for d in dirs], bench)
    ref_rows = problem_rows(ref, bench)
    if not ref_rows:
        raise UserError(f"{ref / 'problems.jsonl'}: no per-problem rows of {bench}; rerun `entropykit passk` into {ref}")
    pids = sorted(ref_rows)
    ns = sorted({ref_rows[p]["n"] for p in pids})
    if len(ns) != 1:
        raise UserError(f"{ref}: {bench} has uneven samples per problem ({', '.join(map(str, ns))}); runs compared "
                        "across seeds need the same n for every problem")
    n = ns[0]
    rows_of: dict[Path, dict[str, dict]] = {ref: ref_rows}
    for d in dirs[1:]:
        rows = rows_of[d] = problem_rows(d, bench)
        if set(rows) != set(ref_rows):
            lacks = [p for p in pids if p not in rows]
            extra = sorted(p for p in rows if p not in ref_rows)
            what = (f"lacks problem {lacks[0]}" + (f" and {len(lacks) - 1} more" if len(lacks) > 1 else "")
                    if lacks else f"has problem {extra[0]}, which {ref} has not")
            raise UserError(f"{d} and {ref} were evaluated on different problems of {bench}: {d} {what}")
        other_n = sorted({rows[p]["n"] for p in pids} - {n})
        if other_n:
            raise UserError(f"{d} sampled n={other_n[0]} per problem of {bench}, {ref} n={n}: runs compared across "
                            "seeds need the same n in every run")
    ks = sorted(set.intersection(*[{int(k) for k in (r.get("pass_at_k") or {})} for rows in rows_of.values()
                                   for r in rows.values()]))
    acc, pk = {}, {}
    for label, ds in groups:
        runs = [rows_of[Path(d)] for d in ds]
        acc[label] = np.asarray([[float(r[p]["accuracy"]) for p in pids] for r in runs], dtype=np.float64)
        pk[label] = {k: np.asarray([[float(r[p]["pass_at_k"][str(k)]) for p in pids] for r in runs], dtype=np.float64)
                     for k in ks}
    return GroupMatrices(bench, pids, n, acc, pk, ks, notes)


# ---------------------------------------------------------------------------------------------
# comparing two groups


def t_interval_missing(a: np.ndarray, b: np.ndarray, samples: int, labels: tuple[str, str],
                       base: str | None = None) -> list[str]:
    """Why the t interval of B - A cannot be estimated (nothing when it can): one sample per
    problem, one problem, or a trained side with one seed (`base`, "a" or "b": the side that is
    one untrained model, which has no seed variance)."""
    why = []
    if samples < 2:
        why.append("one sample per problem: the t interval needs 2 or more (the sampling variance cannot be told "
                   "from the rest)")
    if a.shape[1] < 2:
        why.append("one problem: the t interval needs 2 or more")
    once = [lab for side, m, lab in (("a", a, labels[0]), ("b", b, labels[1])) if side != base and m.shape[0] < 2]
    if once:
        who = " and ".join(once)
        why.append(f"{who} {'has' if len(once) == 1 else 'have'} one training seed: the bootstrap CI holds "
                   f"{'it' if len(once) == 1 else 'them'} fixed and covers problems and sampling only, not training "
                   "seeds; the t interval needs 2 seeds")
    return why


def compare_pair(a, b, samples: int, *, labels: tuple[str, str] = ("A", "B"), base: str | None = None,
                 n_resamples: int = N_RESAMPLES, rng: int = 0) -> dict:
    """B - A on accuracy matrices a [S_A, P] and b [S_B, P] (a row per training seed, a column per
    problem, the same problems in the same order), with `samples` samples per problem:

    diff (difference of means), bootstrap_ci95 (`seed_stats.two_level_bootstrap_diff`: seeds
    resampled within each side, problems jointly; a one-row side is held fixed), t_ci95 and t_df
    (`seed_stats.t_interval_diff`; null where `t_interval_missing` gives a reason, which goes in
    ci_note), significant (both intervals exclude 0), probability_of_improvement and seeds.
    `base`: "a" or "b" when that side is one untrained model (the base), whose t interval is
    exact. `labels` name the sides in the note."""
    from entropykit import seed_stats as st

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    boot = st.two_level_bootstrap_diff(a, b, n_resamples=n_resamples, rng=rng)
    poi = st.probability_of_improvement(a, b, n_resamples=n_resamples, rng=rng)
    why = t_interval_missing(a, b, samples, labels, base)
    if why:
        t_low = t_high = t_df = None
    elif base == "b":  # t_interval_diff takes the base as its first side: A - B, turned around
        t = st.t_interval_diff(b, a, samples, a_is_base=True)
        t_low, t_high, t_df = -t.high, -t.low, t.df
    else:
        t = st.t_interval_diff(a, b, samples, a_is_base=base == "a")
        t_low, t_high, t_df = t.low, t.high, t.df
    t_excludes_0 = t_low is not None and (t_low > 0 or t_high < 0)
    row = {"diff": boot.estimate, "bootstrap_ci95": [boot.low, boot.high], "t_ci95": [t_low, t_high], "t_df": t_df,
           "significant": bool(boot.excludes(0.0) and t_excludes_0),
           "probability_of_improvement": {"estimate": poi.estimate, "ci95": [poi.low, poi.high]},
           "seeds": {"a": a.shape[0], "b": b.shape[0]}}
    if why:
        row["ci_note"] = "; ".join(why)
    return row
