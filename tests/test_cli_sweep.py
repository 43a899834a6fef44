"""Arguments that cannot work are refused before any work (issue 19, point 3).

The sweep walks the typer app itself: every numeric option of every command gets zero, -1, a
huge value and, for floats, nan, inf and -inf, on top of arguments that are otherwise valid. Each
try runs in one guarded process where importing a heavy module (torch, transformers, plotly,
math-verify, ...) counts as "accepted: the work started". A value must either be refused with
exit code 2 and no traceback, or be one this file lists as meaningful (a zero that means "none"
or "no limit", a seed). A new command needs base arguments here; a new option is covered by
itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from entropykit.cli.app import app

RUNNER = """
import contextlib, io, json, sys, traceback
HEAVY = ("torch", "transformers", "vllm", "plotly", "sentence_transformers", "math_verify", "umap", "sklearn",
         "datasets", "pyarrow")
class Heavy(BaseException):
    pass
class Guard:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise Heavy(name)
        return None
sys.meta_path.insert(0, Guard())
from entropykit.cli.app import main
results = []
for argv in json.loads(sys.stdin.read()):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            main(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    except Heavy:
        code = 99
    except BaseException:
        code = -1
        err.write(traceback.format_exc())
    results.append({"argv": argv, "code": code, "stderr": err.getvalue()[-800:]})
print(json.dumps(results))
"""

HUGE = "1000000000000"


def base_args(tmp: Path) -> dict[tuple[str, ...], list[str]]:
    """Valid arguments of each command (its inputs may not exist: the values are checked first)."""
    rec = tmp / "in.jsonl"
    rec.write_text('{"prompt": "a", "response": "b"}\n')
    return {
        ("score",): ["score", str(rec), "--out", str(tmp / "o.jsonl")],
        ("analyze", "run"): ["analyze", str(rec), "--out", str(tmp / "an")],
        ("analyze", "compare"): ["analyze", "compare", str(tmp / "a"), str(tmp / "b"), "--out", str(tmp / "c.html")],
        ("passk",): ["passk", "--model", "smollm2-135m", "--benchmark", "easy", "--out", str(tmp / "p")],
        ("passk", "compare"): ["passk", "compare", str(tmp / "a"), str(tmp / "b"), "--out", str(tmp / "c.html")],
        ("train",): ["train", "--data", "easy", "--steps", "1", "--prompts-per-step", "2", "--n-samples", "2",
                     "--mini-batch-size", "4", "--max-tokens", "8", "--out", str(tmp / "t")],
        ("train", "report"): ["train", "report", str(tmp / "a"), "--out", str(tmp / "r.html")],
        ("train", "export"): ["train", "export", str(tmp / "a"), "--out", str(tmp / "e")],
        ("reproduce", "run"): ["reproduce", "--preset", "smoke", "--out", str(tmp / "rp")],
        ("reproduce", "power"): ["reproduce", "power", str(tmp / "rp")],
        ("demo",): ["demo", "--out", str(tmp / "d")],
    }


# Values that mean something and are accepted on purpose.
ZERO_MEANS_NONE = {
    ("analyze", "run"): {"--n-boot", "--top-k", "--text-responses"},  # no bootstrap, no alternatives, no text view
    ("passk",): {"--temperature", "--verify-workers"},  # greedy decoding; verify in this process
    ("train",): {"--micro-batch-size", "--micro-batch-tokens", "--entropy-coef", "--kl-coef", "--critic-warmup", "--gamma",
                 "--lam", "--save-every", "--eval-every", "--lora-rank", "--warmup-steps"},  # no limit / off / never
}
HUGE_REFUSED = {(("passk",), "--verify-workers")}  # a trillion processes is never meant
ANY_FINITE = {("train",): {"--clip-cov-lb"}}  # a bound on a covariance, which may be negative


def _commands(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, path + (name,))


def _numeric_options(cmd) -> list[tuple[str, bool]]:
    out = []
    for p in cmd.params:
        if p.param_type_name != "option" or getattr(p, "is_flag", False):
            continue
        ann = str(getattr(getattr(p, "type_descriptor", None), "annotation", ""))
        if "int" in ann or "float" in ann:
            out.append((max(p.opts, key=len), "float" in ann))
    return out


def _cases(tmp: Path) -> list[tuple[tuple[str, ...], str, str, list[str]]]:
    bases = base_args(tmp)
    cases = []
    for path, cmd in _commands(typer.main.get_command(app)):
        if getattr(cmd, "commands", None) and path not in bases:
            continue  # a group that only dispatches
        assert path in bases, f"add valid base arguments for `entropykit {' '.join(path)}` to base_args()"
        for opt, is_float in _numeric_options(cmd):
            for value in ["0", "-1", HUGE] + (["nan", "inf", "-inf"] if is_float else []):
                cases.append((path, opt, value, bases[path] + [opt, value]))
    # options that cannot apply: sampling settings given with --from-samples (existing samples)
    for opt, value in (("--limit", "1"), ("--temperature", "0.1"), ("--top-p", "0.5"), ("--max-tokens", "16"),
                       ("--seed", "3"), ("--batch-size", "2"), ("--backend", "hf")):
        cases.append((("passk", "--from-samples"), opt, value,
                      ["passk", "--from-samples", str(tmp / "in.jsonl"), "--out", str(tmp / "fs"), opt, value]))
    return cases


def _meaningful(path: tuple[str, ...], opt: str, value: str) -> bool:
    if opt == "--seed" and value != "nan" and not value.endswith("inf"):
        return True  # any integer seeds the run
    if opt in ANY_FINITE.get(path, set()) and value != "nan" and not value.endswith("inf"):
        return True
    if value == "0":
        return opt in ZERO_MEANS_NONE.get(path, set())
    return value == HUGE and (path, opt) not in HUGE_REFUSED  # big runs are allowed; the model's limits come later


def test_every_numeric_option_refuses_values_that_cannot_work(tmp_path):
    cases = _cases(tmp_path)
    assert len(cases) > 250  # the sweep really walked the commands
    r = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps([c[3] for c in cases]), capture_output=True,
                       text=True, timeout=600, cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout)
    wrong = []
    for (path, opt, value, _), res in zip(cases, results):
        if res["code"] == -1 or "Traceback" in res["stderr"]:
            wrong.append(f"{' '.join(path)} {opt} {value}: traceback\n{res['stderr']}")
        elif res["code"] == 99 and not _meaningful(path, opt, value):
            wrong.append(f"{' '.join(path)} {opt} {value}: accepted, and the work started")
        elif res["code"] not in (2, 99):
            wrong.append(f"{' '.join(path)} {opt} {value}: exit code {res['code']}")
        elif res["code"] == 2:
            lines = [x for x in res["stderr"].strip().splitlines() if x.strip()]
            one_line = len(lines) == 1 and lines[0].startswith("entropykit: error:")
            click_usage = any(x.startswith("Error:") or x.startswith("│") or "Invalid value" in x for x in lines)
            if not (one_line or click_usage):
                wrong.append(f"{' '.join(path)} {opt} {value}: refused, but not in one clear line: {res['stderr']!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_floats_leave_no_folder_behind(tmp_path, value):
    """The reported case: `--temperature nan` failed when run.json was written and left an
    empty folder; now it is refused before anything is created."""
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "entropykit.cli.app", "passk", "--model", "smollm2-135m", "--benchmark", "easy",
                        "--temperature", value, "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "finite" in r.stderr and not out.exists()
