"""`entropykit passk compare` with groups of runs: several passk run folders per group, each one
training seed of that group's method, all evaluated on the same problems with the same n (and,
for a comparison paired by sample as well as by problem, the same sample seeds).

Per benchmark it reads each run's per-problem rows (problems.jsonl) into one accuracy matrix per
group, ``acc[seed, problem]`` (`group_stats.group_matrices`), and reports, with the statistics of
`entropykit.seed_stats`:

- per group the mean accuracy (pass@1) over seeds and problems, each seed's value, and the
  pass@k curve averaged over its seeds;
- per pair B - A (every pair of groups): `group_stats.compare_pair`, the same function as
  reproduce's across-seeds table: the difference of means with the two-level bootstrap CI
  (seeds resampled within each group, problems resampled jointly, so the pairing by problem is
  kept), the t interval (Satterthwaite df), the probability of improvement; then the two-level
  CI of the pass@k difference at every k, and the crossover of the averaged curves;
- the test-time dynamics per group (the mean over its runs).

A group with one run is held fixed by the bootstrap (it cannot resample one seed): exact for an
untrained base model (`base`); for one training seed of a method it leaves that method's
seed-to-seed variance out of the bootstrap CI, and its t interval is null: the report says so.
Writes `out` (HTML, self-contained; `group_page`) and its .json twin; returns the report dict.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from entropykit.errors import UserError
from entropykit.evalkit.config import DYNAMICS_MAX_SAMPLES
from entropykit.evalkit.group_stats import N_RESAMPLES, compare_pair, finite, group_matrices
from entropykit.evalkit.report import COMPARE_TITLE, _load_run, dynamics
from entropykit.io import refuse_replacing_inputs

METHOD = ("difference of means over seeds and problems; CIs: two-level bootstrap (seeds resampled within each group, "
          "problems resampled jointly, 95% percentile) and t with Satterthwaite df (accuracy only); P(B beats A): a "
          "random seed of B against a random seed of A on a random problem, ties count half")


def every_pair(count: int) -> list[tuple[int, int]]:
    """(A, B) group indices of every pair of `count` groups: the first group against each other,
    then the second against each later one, and so on."""
    return [(i, j) for i in range(count) for j in range(i + 1, count)]


def _mean_dynamics(items: list[dict | None]) -> dict | None:
    """The mean over runs of each numeric field of their dynamics (responses: the sum)."""
    got = [d for d in items if d]
    if not got:
        return None
    out: dict = {"runs": len(got), "num_responses": sum(d.get("num_responses") or 0 for d in got)}
    for key in got[0]:
        if key in out or key == "count":  # responses per run: in num_responses
            continue
        vals = [d[key] for d in got if isinstance(d.get(key), (int, float)) and not isinstance(d.get(key), bool)
                and math.isfinite(d[key])]
        out[key] = sum(vals) / len(vals) if vals else None
    return out


def _check_groups(groups: Sequence[tuple[str, Sequence[str]]], base: int | None) -> list[Path]:
    """Every run folder; UserError for fewer than two groups, labels twice, a group without runs,
    a folder that is none or is given twice, a base group of several runs."""
    if len(groups) < 2:
        raise UserError("a grouped passk compare needs two or more groups (A1 A2 -- B1 B2)")
    labels = [g for g, _ in groups]
    if len(set(labels)) != len(labels):
        raise UserError(f"group labels must differ: {', '.join(labels)}")
    for label, dirs in groups:
        if not dirs:
            raise UserError(f"group {label} has no run folder (give A1 A2 -- B1 B2)")
        for d in dirs:
            if not Path(d).is_dir():
                raise UserError(f"{d}: not a folder")
    if base is not None and len(groups[base][1]) != 1:
        raise UserError(f"the base group {labels[base]} is one untrained model: give it one run folder, "
                        f"not {len(groups[base][1])}")
    all_dirs = [Path(d) for _, dirs in groups for d in dirs]
    if len(set(p.resolve() for p in all_dirs)) != len(all_dirs):
        dup = next(p for p in all_dirs if sum(q.resolve() == p.resolve() for q in all_dirs) > 1)
        raise UserError(f"{dup} is given twice: each run folder is one model")
    return all_dirs


def _pair_row(entry: dict, mats, la: str, lb: str, ia: int, ib: int, base: int | None, seed: int) -> dict:
    """One pair of the report: `compare_pair` on accuracy, then pass@k at each k and the crossover."""
    from entropykit import seed_stats as st
    from entropykit.evalkit.metrics import crossover_k

    side = "a" if base == ia else ("b" if base == ib else None)
    row = {"a": la, "b": lb, **compare_pair(mats.acc[la], mats.acc[lb], mats.samples, labels=(la, lb), base=side,
                                            n_resamples=N_RESAMPLES, rng=seed)}
    row["pass_at_k"] = {}
    for k in mats.ks:
        bk = st.two_level_bootstrap_diff(mats.pass_at_k[la][k], mats.pass_at_k[lb][k], n_resamples=N_RESAMPLES, rng=seed)
        row["pass_at_k"][str(k)] = {"diff": bk.estimate, "ci95": [bk.low, bk.high]}
    if len(mats.ks) >= 2:
        ya = [entry["groups"][la]["pass_at_k"][str(k)] for k in mats.ks]
        yb = [entry["groups"][lb]["pass_at_k"][str(k)] for k in mats.ks]
        cx = crossover_k(mats.ks, ya, yb)
        who = {"a": la, "b": lb, "tie": "tie"}
        row["crossover"] = {"leader_at_min_k": who[cx["leader_at_min_k"]], "leader_at_max_k": who[cx["leader_at_max_k"]],
                            "crossover_k": cx["first_k"], "crossover_k_interp": cx["k_interp"]}
    return row


def compare_groups(groups: Sequence[tuple[str, Sequence[str]]], out: str, *,
                   pairs: Sequence[tuple[int, int]] | None = None, base: int | None = None,
                   notes: Sequence[str] = (), max_samples: int = DYNAMICS_MAX_SAMPLES, seed: int = 0) -> dict:
    """Compare groups of passk runs (see the module docstring). `groups`: (label, run folders);
    `pairs`: (A, B) group indices (default: `every_pair`); `base`: the index of the group that is
    one untrained model (the base: no training seeds, so its t interval is exact); `notes`: what
    the caller knows about the runs (a reproduce folder's unfinished seeds), put in the report."""
    from entropykit.evalkit.group_page import write_page

    all_dirs = _check_groups(groups, base)
    outp = Path(out)
    refuse_replacing_inputs([outp, outp.with_suffix(".json")], [str(p) for p in all_dirs], own_title=COMPARE_TITLE)
    loaded = {p: _load_run(p) for p in all_dirs}
    gdirs = [(label, [Path(d) for d in dirs]) for label, dirs in groups]
    labels = [label for label, _ in gdirs]
    pairs = list(pairs) if pairs is not None else every_pair(len(groups))
    benches = list(loaded[all_dirs[0]]["benchmarks"])
    for p in all_dirs[1:]:
        mine = list(loaded[p]["benchmarks"])
        if set(mine) != set(benches):
            raise UserError(f"{p} holds benchmarks {', '.join(mine) or 'none'}, {all_dirs[0]} {', '.join(benches) or 'none'}: "
                            "the runs of a grouped comparison are evaluated on the same problems")
    if not benches:
        raise UserError(f"{all_dirs[0]}: no benchmark with a gradable problem to compare")
    report: dict = {"groups": [{"label": label, "runs": [str(d) for d in dirs], "base": i == base, "fixed": len(dirs) == 1}
                               for i, (label, dirs) in enumerate(gdirs)],
                    "pairs": [[labels[a], labels[b]] for a, b in pairs], "benchmarks": {}, "dynamics": {},
                    "method": METHOD, "notes": list(notes)}
    for i, (label, dirs) in enumerate(gdirs):
        if len(dirs) == 1 and i != base:
            hint = f"; if it is an untrained base model, say so with --base-group {label}" if base is None else ""
            report["notes"].append(f"{label} has one run: the bootstrap holds it fixed (problems and sampling only, not "
                                   f"training seeds) and its t intervals are null (they need 2 seeds){hint}")
    for bench in benches:
        mats = group_matrices(gdirs, bench, loaded)
        entry: dict = {"problems": len(mats.problem_ids), "samples_per_problem": mats.samples, "ks": mats.ks,
                       "notes": mats.notes, "groups": {}, "pairs": []}
        for label, dirs in gdirs:
            m = mats.acc[label]
            curves = [loaded[d]["benchmarks"][bench].get("pass_at_k") or {} for d in dirs]
            entry["groups"][label] = {
                "runs": [str(d) for d in dirs], "mean_accuracy": float(m.mean()),
                "seeds": [float(x) for x in m.mean(axis=1)],
                "pass_at_k": {str(k): float(mats.pass_at_k[label][k].mean()) for k in mats.ks},
                "pass_at_k_per_run": [{str(k): float(c[str(k)]) for k in mats.ks if str(k) in c} for c in curves]}
        for ia, ib in pairs:
            entry["pairs"].append(_pair_row(entry, mats, labels[ia], labels[ib], ia, ib, base, seed))
        report["benchmarks"][bench] = entry
    for label, dirs in gdirs:
        report["dynamics"][label] = _mean_dynamics([dynamics(d, max_samples) for d in dirs])
    report = finite(report)
    write_page(outp, report)
    return report
