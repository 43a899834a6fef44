"""Answer classes for maj@k: a problem's graded answers grouped by mathematical equivalence.

`vote_classes(records)` gives, per problem, the sizes of its answer classes, which is all that
the estimator `entropykit.pass_at_k.maj_at_k` needs:

- **right**: every sample graded correct is one class. Each of them is equivalent to the gold
  answer by the grader, so they are equivalent to each other (no pairwise check needed: `x = 5`,
  `5` and `\\frac{10}{2}` against the gold `5` are one vote).
- **unanswered**: samples without a graded answer (`pred` is None: no stated answer, a reply cut
  off before its answer) do not vote.
- **wrong**: the other answers, grouped greedily. Their distinct texts (stripped) are taken in
  order of how many samples gave them (most first, then by text); each joins the first class
  whose representative (the class's first, most frequent text) it is equivalent to, else starts
  a new class. Equivalent means: the project's grader says the answer is right when the
  representative is the gold (`entropykit.verify.Verifier`, grader ``entropykit``, the answer
  written as ``\\boxed{answer}``), so `0.5` and `\\frac12`, or `x > 2` and `(2, \\infty)`, are one
  class. Comparing with representatives only keeps a chain a ~ b ~ c of checks that pass within
  a numeric tolerance from merging a and c that do not, and the order makes the classes
  independent of sample order.
  Two plain integers are equivalent exactly when equal, and two plain numbers (decimals,
  fractions of integers: `0.5`, `\\frac{3}{4}`, `3/4`) more than 0.1% apart never are, so those
  pairs are decided without the grader; an answer whose grading
  timed out is never compared (it is its own class, by text).

Pairwise checks run in the verifier pool (hard time limit each: a check that times out counts as
"not equivalent") and are cached by `verdict_key` in a JSON-lines file (`answer_pairs.jsonl` in
the output folder), so re-scoring a run checks nothing again.

Records lacking the `pred` field (run folders written before the graded answer was recorded) give
no classes for their problem: maj@k is then not reported for that benchmark.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

PAIRS_CACHE = "answer_pairs.jsonl"
_INT = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+)")
_FRACTION = re.compile(r"(-?)\s*(?:\\[dt]?frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\}|(\d+)\s*/\s*(\d+))")


def _text_key(pred: str):
    s = pred.strip()
    if len(s) < 300 and _INT.fullmatch(s):
        return ("int", int(s))
    return ("text", s)


def _plain_value(key: tuple) -> float | None:
    """The value of a plain number (integer, decimal, fraction of integers), else None."""
    if key[0] == "int":
        return float(key[1]) if abs(key[1]) < 10**300 else None
    s = key[1]
    if len(s) > 60:
        return None
    if _DECIMAL.fullmatch(s):
        return float(s)
    m = _FRACTION.fullmatch(s)
    if m:
        num, den = (m.group(2), m.group(3)) if m.group(2) is not None else (m.group(4), m.group(5))
        if int(den):
            return (-1.0 if m.group(1) else 1.0) * int(num) / int(den)
    return None


def _surely_different(a: tuple, b: tuple) -> bool:
    """Two plain numbers that no grader calls equal, decided without asking it: distinct
    integers, or plain numbers (decimals, fractions of integers) more than 0.1% apart."""
    if a[0] == "int" and b[0] == "int":
        return True
    x, y = _plain_value(a), _plain_value(b)
    return x is not None and y is not None and abs(x - y) > 1e-3 * max(1.0, abs(x), abs(y))


def vote_classes(records: Iterable[dict], *, cache_path: Path | None = None, timeout_s: float = 5.0,
                 workers: int | None = None, log: Callable[[str], None] | None = None) -> dict[tuple[str, str], dict | None]:
    """{(benchmark, problem_id): {"correct": c, "wrong": [class sizes, largest first], "unanswered": u}}
    for graded records (benchmark, problem_id, correct, pred, timed_out); None for a problem
    whose records lack `pred`. See the module docstring."""
    log = log or (lambda s: None)
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((str(r["benchmark"]), str(r["problem_id"])), []).append(r)
    out: dict[tuple[str, str], dict | None] = {}
    pending: dict[tuple[str, str], list] = {}  # problem -> distinct wrong answers not in a class yet
    counts: dict[tuple[str, str], Counter] = {}
    texts: dict[tuple[str, str], dict] = {}  # problem -> key -> the text that represents it
    hostile: set = set()
    classes: dict[tuple[str, str], list[int]] = {}
    for key, recs in groups.items():
        if any("pred" not in r and not r.get("correct") for r in recs):
            out[key] = None
            continue
        c = sum(1 for r in recs if r.get("correct"))
        wrong = [r for r in recs if not r.get("correct") and r.get("pred") is not None]
        out[key] = {"correct": c, "wrong": [], "unanswered": len(recs) - c - len(wrong)}
        cnt: Counter = Counter()
        rep: dict = {}
        for r in wrong:
            k = _text_key(str(r["pred"]))
            cnt[k] += 1
            rep.setdefault(k, str(r["pred"]).strip())
            if r.get("timed_out"):
                hostile.add((key, k))
        counts[key], texts[key] = cnt, rep
        pending[key] = sorted(cnt, key=lambda k: (-cnt[k], rep[k]))
        classes[key] = []
    cache, new_entries, verifier = _load_cache(cache_path, log), [], None
    checked = 0
    try:
        while any(pending.values()):
            # one round: in every problem, the first answer left starts a class and the others are
            # checked against it (the same classes as checking each answer in turn)
            jobs = []  # (problem, representative key, other key, verdict key)
            for key, left in pending.items():
                if not left:
                    continue
                head, rest = left[0], left[1:]
                classes[key].append(counts[key][head])
                pending[key] = rest
                if (key, head) in hostile:
                    continue
                for other in rest:
                    if (key, other) in hostile or _surely_different(head, other):
                        continue
                    jobs.append((key, head, other))
            if not jobs:
                continue
            from entropykit.verify import verdict_key

            golds = [texts[key][h] for key, h, _ in jobs]
            answers = ["\\boxed{" + texts[key][o] + "}" for key, _, o in jobs]
            vkeys = [verdict_key(g, a, None, "entropykit") for g, a in zip(golds, answers)]
            todo = list({vk: i for i, vk in enumerate(vkeys) if vk not in cache}.values())  # each check once
            if todo:
                if verifier is None:
                    from entropykit.verify import Verifier

                    verifier = Verifier(timeout_s=timeout_s, workers=workers, grader="entropykit")
                verdicts = verifier.verify([golds[i] for i in todo], [answers[i] for i in todo])
                checked += len(todo)
                for i, vd in zip(todo, verdicts):
                    cache[vkeys[i]] = bool(vd.correct)
                    if not vd.timed_out:  # a timeout is never cached: a longer limit may decide it
                        new_entries.append({"key": vkeys[i], "equivalent": bool(vd.correct)})
            joined: dict[tuple[str, str], set] = {}
            for (key, _, other), vk in zip(jobs, vkeys):
                if cache.get(vk):
                    joined.setdefault(key, set()).add(other)
                    classes[key][-1] += counts[key][other]
            for key, js in joined.items():
                pending[key] = [k for k in pending[key] if k not in js]
    finally:
        if verifier is not None:
            verifier.close()
        if new_entries and cache_path is not None:
            from entropykit.io import JsonlAppender

            with JsonlAppender(cache_path) as app:
                app.write_many(new_entries)
    if checked:
        log(f"maj@k: {checked} pairs of distinct wrong answers checked for equivalence")
    for key, sizes in classes.items():
        out[key]["wrong"] = sorted(sizes, reverse=True)
    return out


def _load_cache(path: Path | None, log: Callable[[str], None]) -> dict[str, bool]:
    """The cached pair checks; a damaged cache is only a cache: emptied and rebuilt."""
    if path is None or not Path(path).exists():
        return {}
    from entropykit.errors import UserError
    from entropykit.io import atomic_write_text, iter_jsonl, repair_jsonl_tail

    try:
        repair_jsonl_tail(path)
        return {str(r["key"]): bool(r["equivalent"]) for r in iter_jsonl(path, required=("key", "equivalent"))}
    except (UserError, KeyError, TypeError, ValueError) as e:
        log(f"{path} is damaged ({str(e)[:120]}): it is only a cache, so it is rebuilt")
        atomic_write_text(path, "")
        return {}
