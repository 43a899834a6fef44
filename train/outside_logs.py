"""The training logs `train report` reads, and how their metric names map to its panels.

Three formats, told apart by their files and their shape (never by a flag):

- entropykit's own `RUN/metrics.jsonl` (one flat record per step, the names of `report.PANELS`);
- veRL's `file` logger (`verl/utils/tracking.py`, class `FileLogger`, verl 0.9.1): one line
  `{"step": N, "data": {"actor/entropy": ..., ...}}` per `logger.log` call, the validation
  before training at step 0; `entropykit train --engine verl` makes veRL write it to
  `RUN/verl/metrics.jsonl` (and keeps an earlier attempt's file as `metrics.TIMESTAMP.jsonl`,
  read first so a resumed run shows all its steps);
- TRL's `trainer_state.json` (transformers' `TrainerState.save_to_json`): `log_history` is a
  list of `{**logs, "step": global_step}` dicts, GRPOTrainer's metrics averaged over the
  logging interval (`GRPOTrainer.log`), evaluation ones prefixed `eval_`. In an output folder
  the file with the most steps among `trainer_state.json` and `checkpoint-N/trainer_state.json`
  is read (the latest checkpoint; the top-level file once training has ended).

Each outside name is mapped to the panel of the entropykit metric that measures the same thing
(`VERL_NAMES`, `TRL_NAMES`; the notes say where the estimator differs). Names with no panel
are listed as not drawn, and a run from which no panel can be drawn is an error.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from entropykit.errors import UserError
from entropykit.io import read_complete_jsonl, read_json_object

NATIVE = "entropykit metrics.jsonl"
VERL = "veRL file logger"
TRL = "TRL trainer_state.json"
UNDERSTOOD = ("formats understood: entropykit's metrics.jsonl; veRL's file-logger JSONL ({\"step\", \"data\"} lines, "
              "a file or a run folder with verl/metrics.jsonl); TRL's trainer_state.json (log_history; a file, or an "
              "output or checkpoint folder holding it)")

# panel key -> (outside name, note); the first name present in a run is drawn
VERL_NAMES: dict[str, list[tuple[str, str]]] = {
    "reward_mean": [("critic/score/mean", ""), ("critic/rewards/mean", "score with the in-reward KL penalty")],
    "response_length": [("response_length/mean", "")],
    "entropy": [("actor/entropy", "rollout policy, from the old-log-prob pass, as entropykit's")],
    "psi_ratio": [("actor/entropy_adv_psi_ratio", "entropykit's veRL plugin")],
    "psi_mean": [("actor/entropy_adv_psi", "entropykit's veRL plugin")],
    "entropy_mask_frac": [("actor/entropy_mask_frac", "entropykit's veRL plugin")],
    "clip_frac": [("actor/pg_clipfrac", "")],
    "clip_frac_dual": [("actor/pg_clipfrac_lower", "")],
    "approx_kl": [("actor/ppo_kl", "k1 estimate mean(old log-prob - log-prob); entropykit's is k3")],
    "kl_ref": [("actor/kl_loss", ""), ("actor/reward_kl_penalty", "KL in the reward")],
    "grad_norm": [("actor/grad_norm", "")],
    "value_loss": [("critic/vf_loss", "")],
    "time_rollout": [("timing_s/gen", "")],
    "time_update": [("timing_s/update_actor", "actor only")],
}

TRL_NAMES: dict[str, list[tuple[str, str]]] = {
    "reward_mean": [("reward", "sum of the weighted reward functions")],
    "zero_adv_group_frac": [("frac_reward_zero_std", "")],
    "response_length": [("completions/mean_length", ""), ("completion_length", "TRL < 0.17")],
    "entropy": [("entropy", "measured in the loss forward, at the sampling temperature")],
    "clip_frac_low": [("clip_ratio/low_mean", "")],
    "clip_frac_high": [("clip_ratio/high_mean", "")],
    "clip_frac": [("clip_ratio/region_mean", ""), ("clip_ratio", "TRL < 0.17")],
    "kl_ref": [("kl", "")],
    "grad_norm": [("grad_norm", "")],
}

_VAL = re.compile(r"^val-(core|aux)/(.+)/(acc|reward)/mean@(\d+)$")  # veRL RayPPOTrainer._val_metrics_update
_TRL_REWARD_FN = re.compile(r"^(eval_)?rewards/(.+?)(/mean)?$")  # rewards/<func>/mean (TRL >= 0.17) or rewards/<func>
_ACCURACY_FN = re.compile(r"acc|correct", re.I)  # TRL's own trl.rewards.accuracy_reward is 1/0


@dataclass
class RunLog:
    """One run as the dashboard draws it: per-step records under the panel keys."""

    fmt: str  # NATIVE, VERL or TRL
    files: list[Path]  # what was read
    root: Path  # the run's folder (its label and config)
    records: list[dict]  # {"step": int, panel key: number, ...}, sorted by step
    drawn: dict[str, str] = field(default_factory=dict)  # panel key -> "name (note)" it came from (outside formats)
    extra_panels: list[tuple[str, str]] = field(default_factory=list)  # (key, title) of panels only this format has
    names: set[str] = field(default_factory=set)  # every metric name found
    not_drawn: list[str] = field(default_factory=list)  # numeric names with no panel

    @property
    def name(self) -> str:
        """The run's name: its folder's, or a log file's own (veRL's default file is PROJECT/EXPERIMENT.jsonl)."""
        f = self.files[-1]
        if f.name not in ("metrics.jsonl", "trainer_state.json"):
            return f.stem
        return self.root.resolve().name or str(self.root)


def load_run(run: str | Path) -> RunLog:
    """The training log of `run` (a run folder or a file), in whichever format it is."""
    p = Path(run)
    if p.is_dir():
        return _load_dir(p)
    if not p.exists():
        raise UserError(f"{run}: no such file or folder")
    if p.suffix == ".json":
        return _trl(p, _root_of(p))
    kind = _jsonl_kind(p)
    return _verl([p], _root_of(p)) if kind == VERL else _native(p, _root_of(p))


def _root_of(path: Path) -> Path:
    """The run folder a log file belongs to (RUN for RUN/verl/metrics.jsonl, OUT for OUT/checkpoint-N/...)."""
    root = path.parent
    if root.name == "verl" or re.fullmatch(r"checkpoint-\d+", root.name):
        root = root.parent
    return root


def _load_dir(d: Path) -> RunLog:
    if (d / "metrics.jsonl").exists():
        p = d / "metrics.jsonl"
        return _verl(_verl_attempts(p), d) if _jsonl_kind(p) == VERL else _native(p, d)
    if (d / "verl" / "metrics.jsonl").exists():
        return _verl(_verl_attempts(d / "verl" / "metrics.jsonl"), d)
    states = [d / "trainer_state.json"] + sorted(d.glob("checkpoint-*/trainer_state.json"))
    states = [s for s in states if s.is_file()]
    if states:
        # the most steps; on a tie the top-level file (written when training ends), then the newest
        best = max(states, key=lambda s: (_global_step(s), s.parent == d, s.stat().st_mtime))
        return _trl(best, _root_of(best))
    raise UserError(f"{d}: no training log here (no metrics.jsonl, verl/metrics.jsonl, trainer_state.json or "
                    f"checkpoint-N/trainer_state.json); {UNDERSTOOD}")


def _verl_attempts(p: Path) -> list[Path]:
    """metrics.jsonl after the earlier attempts' files the launcher moved aside (metrics.TIMESTAMP.jsonl)."""
    return sorted(q for q in p.parent.glob("metrics.*.jsonl") if re.fullmatch(r"metrics\.\d{8}-\d{6}\.jsonl", q.name)) + [p]


def _global_step(p: Path) -> int:
    s = read_json_object(p, damaged=None) or {}
    step = s.get("global_step")
    return step if isinstance(step, int) and not isinstance(step, bool) else -1


def _first_record(p: Path) -> dict | None:
    """The first non-blank line of a JSONL file as an object (None when the file has no complete line)."""
    try:
        with open(p, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    return None  # a torn (still being written) only line
                if line.strip():
                    try:
                        rec = json.loads(line.decode("utf-8").lstrip("\ufeff"))
                    except (UnicodeDecodeError, ValueError):
                        raise UserError(f"{p}:1: not a JSON line, so not a training log; {UNDERSTOOD}") from None
                    if not isinstance(rec, dict):
                        raise UserError(f"{p}:1: a JSON {type(rec).__name__}, not a training log record; {UNDERSTOOD}")
                    return rec
    except OSError as e:
        raise UserError(f"{p}: cannot read ({e.strerror})") from None
    return None


def _jsonl_kind(p: Path) -> str:
    rec = _first_record(p)
    if rec is None:
        raise UserError(f"{p}: empty, no metrics yet; {UNDERSTOOD}")
    if "step" not in rec:
        raise UserError(f"{p}:1: no \"step\" field (fields: {_shown(rec)}), so not a training log; {UNDERSTOOD}")
    return VERL if isinstance(rec.get("data"), dict) and set(rec) == {"step", "data"} else NATIVE


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return v


def _shown(names, limit: int = 12) -> str:
    names = sorted(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names) - limit} more)" if len(names) > limit else "") if names else "none"


# ---- the three formats


def _native(p: Path, root: Path) -> RunLog:
    recs = read_complete_jsonl(p, required=("step",), types={"step": int})  # a torn last line: left out
    if not recs:
        raise UserError(f"{p}: no metrics yet")
    names = {k for r in recs for k in r if k != "step"}
    return RunLog(NATIVE, [p], root, recs, names=names)


def _verl(files: list[Path], root: Path) -> RunLog:
    by_step: dict[int, dict] = {}
    for f in files:  # a later attempt's step wins
        for r in read_complete_jsonl(f, required=("step", "data"), types={"step": int, "data": dict}):
            by_step.setdefault(r["step"], {}).update(r["data"])
    if not by_step:
        raise UserError(f"{files[-1]}: no metrics yet")
    log = RunLog(VERL, files, root, [])
    log.names = {k for d in by_step.values() for k in d}
    used = _apply(log, by_step, VERL_NAMES)
    # held-out: val-core/<data source>/<var>/mean@<n> (veRL puts `acc` there when the reward returns one, else `reward`;
    # the mean over problems of each one's mean over n samples, as entropykit's eval_accuracy)
    for var, key, title in (("acc", "eval_accuracy", "held-out accuracy"), ("reward", "eval_reward", "held-out reward")):
        best: dict[str, tuple] = {}
        for n in log.names:
            m = _VAL.match(n)
            if m and m.group(3) == var:
                best[m.group(2)] = max(best.get(m.group(2), ()), (m.group(1) == "core", int(m.group(4)), n))
        if var == "reward" and any(k.startswith("eval_accuracy") for k in log.drawn):
            break  # the reward's mean is shown where veRL has no accuracy
        for src, (_, _, name) in sorted(best.items()):
            k, t = (key, title) if len(best) == 1 and var == "acc" else (f"{key}:{src}", f"{title} ({src})")
            _copy(by_step, name, k)
            used.add(name)
            log.drawn[k] = name
            if k != "eval_accuracy":
                log.extra_panels.append((k, t))
    # accuracy: entropykit's reward through veRL is +1/-1, so the share of correct answers is (mean score + 1) / 2
    cfg = (read_json_object(root / "verl" / "launch.json", missing=None, damaged=None) or {}).get("train_config") or {}
    if cfg.get("reward") in ("math", "toy") and "critic/score/mean" in log.names:
        for d in by_step.values():
            s = _number(d.get("critic/score/mean"))
            if s is not None:
                d["\0accuracy"] = (s + 1) / 2
        log.drawn["accuracy"] = "(critic/score/mean + 1) / 2 (entropykit's +1/-1 reward)"
    log.records = _records(by_step)
    log.not_drawn = _not_drawn(by_step, used)
    return log


def _trl(p: Path, root: Path) -> RunLog:
    state = read_json_object(p, damaged=None)
    if state is None:
        raise UserError(f"{p}: not a JSON object, so not a training log; {UNDERSTOOD}")
    hist = state.get("log_history")
    if not isinstance(hist, list):
        raise UserError(f"{p}: no \"log_history\" list (fields: {_shown(state)}), so not TRL's trainer_state.json; {UNDERSTOOD}")
    by_step: dict[int, dict] = {}
    for i, r in enumerate(hist):
        if not isinstance(r, dict) or not isinstance(r.get("step"), int) or isinstance(r.get("step"), bool):
            raise UserError(f"{p}: log_history[{i}] is not an object with an integer \"step\"")
        by_step.setdefault(r["step"], {}).update({k: v for k, v in r.items() if k != "step"})
    if not by_step:
        raise UserError(f"{p}: log_history is empty, no metrics yet")
    log = RunLog(TRL, [p], root, [])
    log.names = {k for d in by_step.values() for k in d}
    used = _apply(log, by_step, TRL_NAMES)
    # per reward function: rewards/<func>/mean; the one named for accuracy/correctness is the accuracy panel
    fns: dict[tuple[bool, str], str] = {}
    for n in sorted(log.names):
        m = _TRL_REWARD_FN.match(n)
        if m and not n.endswith("/std"):
            fns.setdefault((bool(m.group(1)), m.group(2)), n)
    acc = [f for ev, f in fns if not ev and _ACCURACY_FN.search(f)]
    for (ev, fn), name in fns.items():
        if len(acc) == 1 and fn == acc[0]:
            key = "eval_accuracy" if ev else "accuracy"
        else:
            key = f"{'eval_' if ev else ''}reward_fn:{fn}"
            log.extra_panels.append((key, f"{'held-out ' if ev else ''}reward function {fn} (TRL, mean)"))
        _copy(by_step, name, key)
        used.add(name)
        log.drawn[key] = name
    log.records = _records(by_step)
    log.not_drawn = _not_drawn(by_step, used)
    return log


def _apply(log: RunLog, by_step: dict[int, dict], table: dict[str, list[tuple[str, str]]]) -> set[str]:
    used = set()
    for key, candidates in table.items():
        for name, note in candidates:
            if any(_number(d.get(name)) is not None for d in by_step.values()):
                _copy(by_step, name, key)
                used.add(name)
                log.drawn[key] = f"{name} ({note})" if note else name
                break
    return used


def _copy(by_step: dict[int, dict], name: str, key: str) -> None:
    for d in by_step.values():
        v = _number(d.get(name))
        if v is not None:
            d["\0" + key] = v  # "\0": a panel value, never an outside name


def _records(by_step: dict[int, dict]) -> list[dict]:
    return [{"step": s, **{k[1:]: v for k, v in d.items() if k.startswith("\0")}} for s, d in sorted(by_step.items())]


def _not_drawn(by_step: dict[int, dict], used: set[str]) -> list[str]:
    return sorted({k for d in by_step.values() for k, v in d.items()
                   if not k.startswith("\0") and k not in used and _number(v) is not None})


def no_panel_error(log: RunLog, panel_keys: set[str]) -> UserError | None:
    """The one-line error for a run from which no panel can be drawn (None when one can)."""
    keys = panel_keys | {k for k, _ in log.extra_panels}
    if any(_number(r.get(k)) is not None for r in log.records for k in keys):
        return None
    shown = sorted(log.names)
    return UserError(f"{log.files[-1]}: read as {log.fmt}, but no dashboard panel can be drawn from its "
                     f"{len(shown)} metric name(s): {_shown(shown)}; {UNDERSTOOD}")
