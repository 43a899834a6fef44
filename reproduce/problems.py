"""One-step arithmetic word problems, generated: the `cpu` preset's train and held-out splits.

The bundled `easy` set (40 problems written by hand) is too small to train on and evaluate
on without sharing problems. `arithmetic_problems(n, seed)` writes more of the same kind: one
operation (+, -, x, /) on small whole numbers, phrased as a short story or a bare question,
with a whole-number answer. Everything is drawn from one `random.Random(seed)`, so a seed
gives the same problems on every machine; `write_splits` keeps train and evaluation disjoint
by problem text.
"""

from __future__ import annotations

import random
from pathlib import Path

NAMES = ["Sam", "Lily", "Tom", "Anna", "Ben", "Mia", "Jack", "Emma", "Leo", "Nina", "Kate", "Paul", "Sara", "Max",
         "Eva", "Ryan", "Zoe", "Olivia", "Noah", "Ava", "Liam", "Ella", "Omar", "Ivy", "Hugo", "Rosa"]
THINGS = ["apples", "pencils", "stickers", "marbles", "cookies", "books", "balloons", "cards", "shells", "candies",
          "toy cars", "stamps", "oranges", "flowers", "buttons", "coins"]
BOXES = ["boxes", "bags", "baskets", "jars", "rows", "shelves", "packs", "plates"]


def _add(r: random.Random) -> tuple[list[str], list[str], int]:
    a, b = r.randint(1, 12), r.randint(1, 9)
    name, thing = r.choice(NAMES), r.choice(THINGS)
    stories, questions = [
        f"{name} has {a} {thing}. {name} gets {b} more {thing}. How many {thing} does {name} have now?",
        f"{name} has {a} red {thing} and {b} blue {thing}. How many {thing} does {name} have in total?",
    ], [
        f"What is {a} plus {b}?",
        f"What is {a} + {b}?",
        f"Add {a} and {b}.",
    ]
    return stories, questions, a + b


def _sub(r: random.Random) -> tuple[list[str], list[str], int]:
    a = r.randint(4, 20)
    b = r.randint(1, min(9, a - 1))
    name, thing = r.choice(NAMES), r.choice(THINGS)
    stories, questions = [
        f"{name} has {a} {thing}. {name} gives {b} {thing} to a friend. How many {thing} does {name} have left?",
        f"There are {a} {thing} in a basket. {b} {thing} are taken out. How many {thing} are left in the basket?",
    ], [
        f"What is {a} minus {b}?",
        f"What is {a} - {b}?",
    ]
    return stories, questions, a - b


def _mul(r: random.Random) -> tuple[list[str], list[str], int]:
    a, b = r.randint(2, 6), r.randint(2, 6)
    name, thing, box = r.choice(NAMES), r.choice(THINGS), r.choice(BOXES)
    stories, questions = [
        f"{name} has {a} {box} with {b} {thing} in each. How many {thing} does {name} have?",
        f"A {thing[:-1] if thing.endswith('s') else thing} costs {b} dollars. How many dollars do {a} of them cost?",
        f"{name} reads {b} pages every day. How many pages does {name} read in {a} days?",
    ], [
        f"What is {a} times {b}?",
        f"What is {a} x {b}?",
    ]
    return stories, questions, a * b


def _div(r: random.Random) -> tuple[list[str], list[str], int]:
    b, q = r.randint(2, 5), r.randint(2, 6)
    a = b * q
    name, thing, box = r.choice(NAMES), r.choice(THINGS), r.choice(BOXES)
    stories, questions = [
        f"{name} has {a} {thing} and puts them equally into {b} {box}. How many {thing} are in each?",
        f"{a} {thing} are shared equally among {b} children. How many {thing} does each child get?",
    ], [
        f"What is {a} divided by {b}?",
        f"What is {a} / {b}?",
    ]
    return stories, questions, q


# Addition and subtraction, and bare questions, are what a 135M model solves often enough for
# RL to have signal (measured: about 26% of its answers to bare questions are right at T 0.6,
# 4% of its answers to stories), so they are drawn most often.
_KINDS = [(_add, 4), (_sub, 3), (_mul, 2), (_div, 1)]
QUESTION_SHARE = 0.6


def arithmetic_problems(n: int, seed: int = 0) -> list[dict]:
    """`n` distinct problems as {"id", "problem", "answer"} rows (answer: a whole number as text)."""
    r = random.Random(seed)
    makers = [m for m, w in _KINDS for _ in range(w)]
    out, seen = [], set()
    while len(out) < n:
        stories, questions, answer = r.choice(makers)(r)
        text = r.choice(questions if r.random() < QUESTION_SHARE else stories)
        if text in seen:
            continue
        seen.add(text)
        out.append({"id": f"arith-{len(out):04d}", "problem": text, "answer": str(answer)})
    return out


def write_splits(folder: Path, n_train: int, n_eval: int, seed: int = 0) -> tuple[Path, Path]:
    """`folder/train.jsonl` and `folder/eval.jsonl`: disjoint draws of one generated set."""
    from entropykit.io import atomic_write_jsonl

    rows = arithmetic_problems(n_train + n_eval, seed)
    train, held = rows[:n_train], rows[n_train:]
    for i, row in enumerate(held):
        row["id"] = f"arith-eval-{i:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "train.jsonl", folder / "eval.jsonl"
    atomic_write_jsonl(paths[0], train)
    atomic_write_jsonl(paths[1], held)
    return paths
