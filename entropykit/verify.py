"""Answer verification with math-verify, safe against hostile answers.

Shared by the eval engine (`entropykit passk`) and the trainer (outcome rewards).

- `extract_answer(text)`: the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) in a
  response, braces balanced, or None.
- `verify_one(gold, response)`: in-process check (no time limit: only for trusted input).
- `verify_batch(golds, responses, timeout_s=5.0, workers=None) -> list[Verdict]`: a pool of
  worker processes, each item under a hard time limit. A worker stuck on an item (a tower of
  exponents, say, which sympy can spend hours on inside C code where no signal reaches it) is
  killed and replaced; the item is counted incorrect with ``timed_out=True``.
- `Verifier`: the same pool kept open, with `submit(...) -> Future` so verification runs while
  the caller generates, and an in-memory verdict cache (identical (gold, answer) pairs, which
  repeat a lot among n samples of one problem, are verified once).

Rules (math-verify): the gold answer comes first in `verify(gold, pred)`. Gold answers may be
raw LaTeX without delimiters (as MATH-500 stores them, e.g. ``\\frac{\\pi}{2}``): they are
wrapped in ``\\boxed{}`` before parsing. For a response, the last ``\\boxed{}`` answer is
preferred; without one, math-verify's own extraction over the response tail is used. Parsed
sympy objects are never turned into strings here (``str`` of a hostile expression can hang).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import re
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import wait as _wait_conns
from typing import Sequence

__all__ = ["Verdict", "extract_answer", "verify_one", "verify_batch", "Verifier", "default_workers"]

# A response without \boxed{} is parsed from its end only: models put answers last, and
# parsing a whole 8K-token response costs far more than the answer is worth.
_FALLBACK_TAIL_CHARS = 1500


@dataclass(frozen=True)
class Verdict:
    """Outcome of checking one answer. `correct` is False whenever `timed_out` or `error`."""

    correct: bool
    timed_out: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        return {"correct": self.correct, "timed_out": self.timed_out, "error": self.error}

    @staticmethod
    def from_dict(d: dict) -> "Verdict":
        return Verdict(bool(d["correct"]), bool(d.get("timed_out", False)), d.get("error"))


def extract_answer(text: str | None) -> str | None:
    r"""Content of the last ``\boxed{...}``/``\fbox{...}`` of `text` (braces balanced), else None.

    ``\boxed 5`` (no braces) gives ``5``. An unclosed last box gives None for that box and the
    previous complete one is used instead.
    """
    if not text:
        return None
    pos = len(text)
    while True:
        i_boxed = text.rfind("\\boxed", 0, pos)
        i_fbox = text.rfind("\\fbox", 0, pos)
        start = max(i_boxed, i_fbox)
        if start < 0:
            return None
        j = start + (6 if start == i_boxed else 5)
        # skip spaces
        k = j
        while k < len(text) and text[k] == " ":
            k += 1
        if k < len(text) and text[k] == "{":
            depth = 0
            for m in range(k, len(text)):
                ch = text[m]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        return text[k + 1 : m].strip()
            pos = start  # unclosed: try the box before it
            continue
        if k > j:  # "\boxed 5"
            m = k
            while m < len(text) and not text[m].isspace() and text[m] not in "$.,;":
                m += 1
            if m > k:
                return text[k:m]
        pos = start


# ---------------------------------------------------------------------------------------------
# The check itself (runs inside worker processes, or in-process for trusted input)


def _quiet_math_verify() -> None:
    # With our own time limits we pass timeout=None, for which math-verify warns on every call.
    for name in ("math_verify", "math_verify.parser", "math_verify.grader", "math_verify.utils"):
        logging.getLogger(name).setLevel(logging.ERROR)


_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


@lru_cache(maxsize=4096)
def _parse_gold(gold: str):
    from math_verify import parse

    g = gold.strip()
    if "\\boxed" in g or _UNESCAPED_DOLLAR.search(g) or "\\(" in g or "\\[" in g:
        text = g
    else:
        text = "\\boxed{" + g + "}"
    parsed = parse(text, parsing_timeout=None)
    if not parsed:  # plain text such as "1/2" that the LaTeX path missed
        parsed = parse(g, parsing_timeout=None)
    return parsed


def _parse_pred(response: str):
    from math_verify import parse

    boxed = extract_answer(response)
    if boxed is not None:
        parsed = parse("\\boxed{" + boxed + "}", parsing_timeout=None)
        if parsed:
            return parsed
    return parse(response[-_FALLBACK_TAIL_CHARS:], parsing_timeout=None)


def _check(gold: str, response: str) -> tuple[bool, str | None]:
    """(correct, error) without any time limit."""
    from math_verify import verify

    try:
        g = _parse_gold(gold)
        if not g:
            return False, "gold answer could not be parsed"
        p = _parse_pred(response or "")
        if not p:
            return False, None  # no answer found: simply incorrect
        return bool(verify(g, p, timeout_seconds=None)), None
    except Exception as e:  # math-verify/sympy internals: never let one answer kill the run
        return False, f"{type(e).__name__}: {str(e)[:200]}"


def verify_one(gold: str, response: str) -> Verdict:
    """Check one response in this process, without a time limit (trusted input only)."""
    _quiet_math_verify()
    ok, err = _check(gold, response)
    return Verdict(ok, False, err)


def _worker_main(rconn, conn, nice: int = 0) -> None:
    """Worker loop: receive lists of (tag, gold, response), send (tag, correct, error) per item."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    if nice:  # e.g. checking answers must not slow down the generation it overlaps with
        try:
            os.nice(nice)
        except OSError:
            pass
    _quiet_math_verify()
    try:
        import math_verify  # noqa: F401  (import cost paid before "ready")

        _check("1", "\\boxed{1}")
    except Exception as e:  # pragma: no cover - broken install
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    try:
        conn.send(("ready", None))
    except OSError:  # the parent is gone
        return
    while True:
        try:
            msg = rconn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        for tag, gold, response in msg:
            ok, err = _check(gold, response)
            try:
                conn.send((tag, ok, err))
            except OSError:
                return


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------------
# The pool


class _Worker:
    """One verifier process, started as `python -m entropykit.verify FD_IN FD_OUT`.

    A plain subprocess rather than multiprocessing: nothing of the caller's __main__ is
    re-imported (scripts need no `if __name__ == "__main__"` guard) and no torch state is forked.
    """

    __slots__ = ("proc", "send_conn", "conn", "ready", "chunk", "done", "deadline", "started")

    def __init__(self, nice: int = 0):
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        r1, w1 = os.pipe()  # parent -> child
        r2, w2 = os.pipe()  # child -> parent
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "entropykit.verify", str(r1), str(w2), str(int(nice))],
                pass_fds=(r1, w2), stdin=subprocess.DEVNULL, env=env, close_fds=True,
            )
        finally:
            os.close(r1)
            os.close(w2)
        self.send_conn = Connection(w1, readable=False)
        self.conn = Connection(r2, writable=False)
        self.ready = False
        self.chunk: list = []  # items sent, in order
        self.done = 0  # how many of chunk have answered
        self.deadline = float("inf")
        self.started = time.monotonic()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, obj) -> None:
        self.send_conn.send(obj)

    def kill(self) -> None:
        try:
            self.proc.kill()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except Exception:
            pass
        for c in (self.send_conn, self.conn):
            try:
                c.close()
            except Exception:
                pass


class _Job:
    __slots__ = ("future", "results", "remaining", "waiting")

    def __init__(self, n: int):
        self.future: Future = Future()
        self.results: list = [None] * n
        self.remaining = n
        self.waiting: dict = {}  # key -> list of indices sharing the pending item


class Verifier:
    """A pool of verifier processes with a hard per-item time limit and a verdict cache.

    >>> with Verifier(timeout_s=5) as v:
    ...     fut = v.submit(["1/2"], ["... so \\\\boxed{0.5}"])
    ...     fut.result()[0].correct
    True

    `workers=0` checks in this process without any time limit (for trusted input and as the
    single-process baseline of the benchmark).
    """

    def __init__(self, *, timeout_s: float = 5.0, workers: int | None = None, max_chunk: int = 32, nice: int = 0):
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.timeout_s = float(timeout_s)
        self.num_workers = default_workers() if workers is None else int(workers)
        self.max_chunk = max(1, int(max_chunk))
        self.nice = int(nice)
        self._cache: dict[tuple[str, str], Verdict] = {}
        self._lock = threading.RLock()  # future callbacks may call submit() again
        self._queue: deque = deque()  # (key, gold, response)
        self._pending: dict[tuple[str, str], list[tuple[_Job, int]]] = {}
        self._closed = False
        self._broken: BaseException | None = None
        self.stats = {"verified": 0, "cached": 0, "timeouts": 0, "errors": 0, "restarts": 0}
        self._thread: threading.Thread | None = None
        if self.num_workers > 0:
            self._wake_r, self._wake_w = mp.Pipe(duplex=False)
            self._start_failures = 0
            self._workers = [_Worker(self.nice) for _ in range(self.num_workers)]
            self._thread = threading.Thread(target=self._loop, name="entropykit-verifier", daemon=True)
            self._thread.start()
        else:
            _quiet_math_verify()

    # -- public -------------------------------------------------------------------------------

    def submit(self, golds: Sequence[str], responses: Sequence[str]) -> "Future[list[Verdict]]":
        """Queue pairs for checking; the future resolves to one Verdict per pair, in order."""
        if len(golds) != len(responses):
            raise ValueError(f"{len(golds)} gold answers but {len(responses)} responses")
        job = _Job(len(golds))
        if self._closed:
            raise RuntimeError("Verifier is closed")
        if self._broken is not None:
            raise RuntimeError(f"verifier failed: {self._broken}")
        if self.num_workers == 0:
            for i, (g, r) in enumerate(zip(golds, responses)):
                key = (str(g), _key_response(r))
                v = self._cache.get(key)
                if v is None:
                    ok, err = _check(key[0], key[1])
                    v = Verdict(ok, False, err)
                    self._cache[key] = v
                    self.stats["verified"] += 1
                    self.stats["errors"] += err is not None
                else:
                    self.stats["cached"] += 1
                job.results[i] = v
            job.future.set_result(job.results)
            return job.future
        new = False
        with self._lock:
            for i, (g, r) in enumerate(zip(golds, responses)):
                key = (str(g), _key_response(r))
                v = self._cache.get(key)
                if v is not None:
                    job.results[i] = v
                    job.remaining -= 1
                    self.stats["cached"] += 1
                    continue
                waiters = self._pending.get(key)
                if waiters is None:
                    self._pending[key] = [(job, i)]
                    self._queue.append((key, key[0], key[1]))
                    new = True
                else:
                    waiters.append((job, i))
                    self.stats["cached"] += 1
            if job.remaining == 0:
                job.future.set_result(job.results)
        if new:
            self._wake()
        return job.future

    def verify(self, golds: Sequence[str], responses: Sequence[str]) -> list[Verdict]:
        return self.submit(golds, responses).result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._wake()
            self._thread.join(timeout=10)
            for w in self._workers:
                try:
                    w.send(None)
                except Exception:
                    pass
            for w in self._workers:
                try:
                    w.proc.wait(timeout=2)
                except Exception:
                    pass
                w.kill()

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # best effort
        try:
            self.close()
        except Exception:
            pass

    # -- dispatcher thread --------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"")
        except Exception:
            pass

    def _resolve(self, key, verdict: Verdict) -> None:
        # called with the lock held
        self._cache[key] = verdict
        for job, i in self._pending.pop(key, []):
            job.results[i] = verdict
            job.remaining -= 1
            if job.remaining == 0 and not job.future.done():
                job.future.set_result(job.results)

    def _assign(self, w: _Worker) -> None:
        with self._lock:
            if not self._queue:
                return
            size = max(1, min(self.max_chunk, len(self._queue) // (2 * self.num_workers)))
            chunk = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
        w.chunk = chunk
        w.done = 0
        w.deadline = time.monotonic() + self.timeout_s
        try:
            w.send(chunk)
        except Exception:
            self._restart(w, requeue_all=True)

    def _restart(self, w: _Worker, *, timed_out_item: bool = False, requeue_all: bool = False) -> None:
        idx = self._workers.index(w)
        rest = w.chunk[w.done :]
        w.kill()
        if not w.ready:
            self._start_failures += 1
            if self._start_failures >= 3:
                raise RuntimeError("verifier processes fail to start (see the messages above)")
        with self._lock:
            if timed_out_item and rest:
                key = rest[0][0]
                self.stats["timeouts"] += 1
                self._resolve(key, Verdict(False, True, f"timed out after {self.timeout_s:g}s"))
                rest = rest[1:]
            elif rest and not requeue_all:
                # the worker died on this item (crash, out of memory): count it as an error
                key = rest[0][0]
                self.stats["errors"] += 1
                self._resolve(key, Verdict(False, False, "verifier process died"))
                rest = rest[1:]
            self._queue.extendleft(reversed(rest))
        self.stats["restarts"] += 1
        if not self._closed:
            self._workers[idx] = _Worker(self.nice)

    def _loop(self) -> None:
        try:
            self._loop_inner()
        except BaseException as e:  # pragma: no cover - never leave futures hanging
            self._broken = e
            with self._lock:
                for key in list(self._pending):
                    self._resolve(key, Verdict(False, False, f"verifier failed: {e!r}"))

    def _loop_inner(self) -> None:
        while not self._closed:
            # hand work to idle, ready workers
            for w in list(self._workers):
                if w.ready and not w.chunk and self._queue:
                    self._assign(w)
            now = time.monotonic()
            deadlines = [w.deadline for w in self._workers if w.chunk]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            conns = [w.conn for w in self._workers] + [self._wake_r]
            ready = _wait_conns(conns, timeout=timeout)
            for c in ready:
                if c is self._wake_r:
                    try:
                        while self._wake_r.poll():
                            self._wake_r.recv_bytes()
                    except Exception:
                        pass
                    continue
                w = next((x for x in self._workers if x.conn is c), None)
                if w is None:
                    continue
                try:
                    while c.poll():
                        msg = c.recv()
                        self._on_message(w, msg)
                except (EOFError, OSError):
                    self._restart(w)
            now = time.monotonic()
            for w in list(self._workers):
                if w.chunk and now >= w.deadline:
                    self._restart(w, timed_out_item=True)
                elif not w.alive():
                    self._restart(w)

    def _on_message(self, w: _Worker, msg) -> None:
        tag, a, *rest = msg
        if tag == "ready":
            w.ready = True
            self._start_failures = 0
            return
        if tag == "error" and not w.ready:
            raise RuntimeError(f"verifier worker failed to start: {a}")
        ok, err = a, rest[0]
        key = w.chunk[w.done][0]
        w.done += 1
        with self._lock:
            self.stats["verified"] += 1
            if err is not None:
                self.stats["errors"] += 1
            self._resolve(key, Verdict(bool(ok), False, err))
        if w.done >= len(w.chunk):
            w.chunk = []
            w.deadline = float("inf")
            if self._queue:
                self._assign(w)
        else:
            w.deadline = time.monotonic() + self.timeout_s


def _key_response(response: str | None) -> str:
    """Cache key of a response: its boxed answer when it has one, else its parsed tail."""
    r = response or ""
    boxed = extract_answer(r)
    if boxed is not None:
        return "\\boxed{" + boxed + "}"
    return r[-_FALLBACK_TAIL_CHARS:]


def verify_batch(
    golds: Sequence[str],
    preds: Sequence[str],
    *,
    timeout_s: float = 5.0,
    workers: int | None = None,
) -> list[Verdict]:
    """Check `preds` (responses or bare answers) against `golds`; one Verdict per pair.

    Runs a process pool (`workers` processes, default: all cores) with a hard per-item limit of
    `timeout_s` seconds: a stuck item costs at most that, is counted incorrect and marked
    `timed_out`. A bare answer such as ``0.5`` works as well as a full response.
    """
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold answers but {len(preds)} predictions")
    if not golds:
        return []
    with Verifier(timeout_s=timeout_s, workers=workers) as v:
        return v.verify(golds, preds)


if __name__ == "__main__":  # a verifier worker process (see _Worker)
    import sys
    from multiprocessing.connection import Connection

    _worker_main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False),
                 int(sys.argv[3]) if len(sys.argv) > 3 else 0)
