"""Start-up time of the `entropykit` command: `--help` of every command and argument errors.

Each case runs the real console script in a fresh process, `--repeats` times, round-robin
with a bare `python -c pass` baseline measured in the same run (so a busy machine slows both).
Prints the median wall time of each case, its ratio to the baseline, and whether the goal of
issue 11 holds: every `--help` and every argument error answers in under 0.5 s.

The commands are read from the typer app, so a new command is timed without editing this file.
Argument errors are of two kinds: ones click rejects while parsing (an unknown option, a
non-number), and ones entropykit rejects before any work (a missing input, a bad setting).

    python bench/startup.py               # 7 repeats
    python bench/startup.py --repeats 15
    python bench/startup.py --other /path/to/old/venv/bin/entropykit   # and another install, same run
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 0.5


def entry_point() -> list[str]:
    script = Path(sys.executable).parent / "entropykit"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from entropykit.cli.app import main; main()"]


def command_paths() -> list[tuple[str, ...]]:
    import typer.main

    from entropykit.cli.app import app

    def walk(cmd, path=()):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + (name,))

    return list(walk(typer.main.get_command(app)))


def cases() -> list[tuple[str, list[str], int]]:
    """(label, argv, expected exit code)."""
    out = []
    for path in command_paths():
        name = " ".join(path) or "entropykit"
        out.append((f"{name} --help", [*path, "--help"], 0))
        out.append((f"{name} --no-such-option", [*path, "--no-such-option"], 2))
    out += [  # rejected by entropykit itself, before any work
        ("score missing input", ["score", "missing.jsonl", "--out", "o.jsonl"], 2),
        ("score unwritable --out", ["score", "in.jsonl", "--out", "/proc/x/o.jsonl"], 2),
        ("analyze missing input", ["analyze", "missing.jsonl", "--out", "a"], 2),
        ("passk without --model", ["passk", "--benchmark", "easy", "--out", "p"], 2),
        ("passk --n not a number", ["passk", "--n", "x"], 2),
        ("train --algo bad", ["train", "--algo", "nope", "--out", "t"], 2),
        ("train --steps 0", ["train", "--steps", "0", "--out", "t"], 2),
        ("train --out under a file", ["train", "--data", "easy", "--out", "in.jsonl/t"], 2),
        ("train report missing run", ["train", "report", "no-such-run"], 2),
    ]
    return out


def run_once(argv: list[str], cwd: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, r.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--other", help="another `entropykit` executable (e.g. an older install) timed in the same run")
    args = ap.parse_args()

    exe = entry_point()
    all_cases = cases()
    baseline = [sys.executable, "-c", "pass"]
    times: dict[str, list[float]] = {"python -c pass (baseline)": []}
    times.update({label: [] for label, _, _ in all_cases})
    other: dict[str, list[float]] = {label: [] for label, _, _ in all_cases} if args.other else {}
    wrong_rc: dict[str, int] = {}
    env_note = f"COLUMNS={os.environ.get('COLUMNS', '-')}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"

    with tempfile.TemporaryDirectory(prefix="entropykit-startup-") as cwd:
        Path(cwd, "in.jsonl").write_text('{"prompt": "1+1?", "response": "2"}\n')
        run_once(baseline, cwd)  # warm the file cache before measuring
        run_once([*exe, "--help"], cwd)
        for _ in range(args.repeats):
            times["python -c pass (baseline)"].append(run_once(baseline, cwd)[0])
            for label, argv, expected in all_cases:
                dt, rc = run_once([*exe, *argv], cwd)
                times[label].append(dt)
                if rc != expected:
                    wrong_rc[label] = rc
                if args.other:
                    other[label].append(run_once([args.other, *argv], cwd)[0])
            for leftover in ("a", "p", "t"):  # folders a refused command may have created
                shutil.rmtree(Path(cwd, leftover), ignore_errors=True)

    base = statistics.median(times["python -c pass (baseline)"])
    print(f"entropykit start-up, {args.repeats} fresh processes per case ({env_note})")
    print(f"{'case':<42} {'median s':>9} {'min s':>7} {'x baseline':>11}" + (f" {'other s':>8} {'x baseline':>11}" if other else ""))
    for label, ts in times.items():
        med = statistics.median(ts)
        flag = "" if label.startswith("python") or med < GOAL_S else "  > goal"
        extra = ""
        if other and label in other:
            o = statistics.median(other[label])
            extra = f" {o:8.3f} {o / base:11.1f}"
        print(f"{label:<42} {med:9.3f} {min(ts):7.3f} {med / base:11.1f}{extra}{flag}")
    medians = {k: statistics.median(v) for k, v in times.items() if not k.startswith("python")}
    worst = max(medians, key=medians.get)
    print(f"\nslowest: {worst} {medians[worst]:.3f} s = {medians[worst] / base:.1f}x the bare interpreter "
          f"({base:.3f} s); goal < {GOAL_S} s: {'met' if medians[worst] < GOAL_S else 'NOT met'}")
    if other:
        ratio = statistics.median(statistics.median(other[k]) / medians[k] for k in medians)
        print(f"--other {args.other}: median case {ratio:.1f}x slower than this install")
    if wrong_rc:
        print(f"unexpected exit codes (a case did not fail or succeed as intended): {wrong_rc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
