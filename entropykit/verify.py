"""Answer grading with math-verify: one grading function for every path, safe against hostile answers.

Shared by the eval engine (`entropykit passk`) and the trainer (outcome rewards).

- `grade(gold, response, finish_reason=None, grader="entropykit") -> Verdict`: THE grading
  function, in this process without a time limit (trusted input only). `verify_one` is an alias.
- `Verifier(timeout_s, workers, grader)`: a pool of worker processes with `submit(...) -> Future`
  (verification overlaps generation) and a hard time limit per answer. A worker stuck on an item
  (a tower of exponents, which sympy can spend hours on inside C code where no signal reaches it)
  is killed and replaced; the item is counted incorrect with ``timed_out=True``. `verify_batch`
  is a one-shot pool.
- `verdict_key(...)`: a stable key for persistent verdict caches, versioned by grading policy.

Graders (`GRADERS`):

- ``entropykit``: the answer is taken by the policy of `entropykit.extract` (a stated answer:
  boxes, answer statements, ``<answer>`` tags; a bare trailing expression never counts; a reply
  cut off at the token limit needs a complete explicit answer), normalised, then parsed and
  compared by math-verify. See ``evalkit/README.md``.
- ``mathverify-default``: math-verify's own extraction, unchanged (``parse(response)`` with its
  default LaTeX + expression configs), to reproduce other papers' numbers.

Both graders parse the gold answer the same way: raw LaTeX without delimiters (as MATH-500 stores
it, e.g. ``\\frac{\\pi}{2}``) is wrapped in ``\\boxed{}``; thin-space thousands separators are
removed first. math-verify's own time limits (``signal.alarm``) are disabled: the pool enforces
ours. Parsed sympy objects are never turned into strings here (``str`` of a hostile expression
can hang); `Verdict.pred` is the extracted answer *text*.

How every path grades the same: a response is first turned into a *task* by `_task` (string work
only: for ``entropykit`` the extraction itself), then the task is judged by `_judge` (math-verify).
`grade` runs both here; the pool runs `_task` in the caller and `_judge` in a worker; caches key
on the task. The pool is tested for equality with `grade` on the grading corpus.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import os
import pickle
import re
import struct
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import wait as _wait_conns
from typing import Sequence

from entropykit.extract import (POLICY_VERSION, as_interval_like, extract_answer, extract_final_answer, normalize_answer,
                                repair_for_parsing)

__all__ = ["Verdict", "GRADERS", "grade", "verify_one", "verify_batch", "Verifier", "verdict_key",
           "grader_version", "extract_answer", "default_workers"]

GRADERS = ("entropykit", "mathverify-default")


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one response. `correct` is False whenever `timed_out` or `error`.

    `pred` is the extracted answer that was graded (None: no answer found).
    """

    correct: bool
    timed_out: bool = False
    error: str | None = None
    pred: str | None = None

    def to_dict(self) -> dict:
        return {"correct": self.correct, "timed_out": self.timed_out, "error": self.error, "pred": self.pred}

    @staticmethod
    def from_dict(d: dict) -> "Verdict":
        return Verdict(bool(d["correct"]), bool(d.get("timed_out", False)), d.get("error"), d.get("pred"))


def _check_grader(grader: str) -> str:
    if grader not in GRADERS:
        raise ValueError(f"unknown grader {grader!r} (use one of {', '.join(GRADERS)})")
    return grader


@lru_cache(maxsize=None)
def grader_version(grader: str = "entropykit") -> str:
    """Version string of a grading policy: the extraction policy and the math-verify release."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        mv = version("math-verify")
    except PackageNotFoundError:  # pragma: no cover
        mv = "unknown"
    policy = POLICY_VERSION if _check_grader(grader) == "entropykit" else "mathverify-default"
    return f"{policy}+math-verify-{mv}"


# ---------------------------------------------------------------------------------------------
# The one grading function, in two halves: _task (strings) and _judge (math-verify)

# A task is what gets judged and what caches key on: (grader, gold, text), where text is the
# extracted answer (entropykit) or the whole response (mathverify-default).
_Task = tuple


def _normalize_gold(gold) -> str:
    return normalize_answer(str(gold))


def _task(gold, response: str | None, finish_reason: str | None, grader: str) -> tuple[_Task | None, Verdict | None]:
    """(task to judge, None) or (None, verdict decided without math-verify)."""
    g = _normalize_gold(gold)
    if grader == "entropykit":
        ex = extract_final_answer(response or "", finish_reason)
        if ex.answer is None:
            return None, Verdict(False, False, None, None)
        answer, g = as_interval_like(ex.answer, g)  # "x > 2" against "(2, \infty)": the same set
        return ("entropykit", g, answer), None
    if grader == "mathverify-default":
        return ("mathverify-default", g, response or ""), None
    raise ValueError(f"unknown grader {grader!r} (use one of {', '.join(GRADERS)})")


def _quiet_math_verify() -> None:
    # With our own time limits we pass timeout=None, for which math-verify warns on every call.
    for name in ("math_verify", "math_verify.parser", "math_verify.grader", "math_verify.utils"):
        logging.getLogger(name).setLevel(logging.ERROR)


_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


@lru_cache(maxsize=4096)
def _parse_gold(gold: str):
    from math_verify import parse

    gold = repair_for_parsing(gold)  # notations math-verify reads as another value (mixed numbers, Eq(...), ...)
    if "\\boxed" in gold or _UNESCAPED_DOLLAR.search(gold) or "\\(" in gold or "\\[" in gold:
        text = gold
    else:
        text = "\\boxed{" + gold + "}"
    parsed = parse(text, parsing_timeout=None)
    if not parsed:  # plain text such as "1/2" that the LaTeX path missed
        parsed = parse(gold, parsing_timeout=None)
    return parsed


def gold_is_gradable(gold) -> bool:
    """Whether a gold answer parses at all (empty or unparsable: no answer can ever match it).
    Gold answers come from benchmark files, not from models: parsed in this process."""
    g = _normalize_gold(gold)
    if not g.strip():
        return False
    _quiet_math_verify()
    try:
        return bool(_parse_gold(g))
    except Exception:  # noqa: BLE001 - math-verify/sympy internals
        return False


def _imaginary_unit(gold: list, pred: list) -> tuple[list, list]:
    """When the gold has a free ``i``, it is the imaginary unit on both sides (math-verify reads a
    plain symbol: ``i(2-i)`` would not equal ``1+2i``)."""
    import sympy

    def symbol_i(xs):
        return next((s for x in xs if isinstance(x, sympy.Basic) for s in x.free_symbols if s.name == "i"), None)

    if symbol_i(gold) is None:
        return gold, pred

    def sub(xs):
        out = []
        for x in xs:
            if isinstance(x, sympy.Basic):
                i = symbol_i([x])
                x = x.xreplace({i: sympy.I}) if i is not None else x
            out.append(x)
        return out

    return sub(gold), sub(pred)


def _judge(task: _Task) -> Verdict:
    """Parse and compare one task with math-verify, without any time limit."""
    from math_verify import parse, verify

    grader, gold, text = task
    pred = text if grader == "entropykit" else None
    try:
        g = _parse_gold(gold)
        if not g:
            return Verdict(False, False, "gold answer could not be parsed", pred)
        if grader == "entropykit":
            p = parse("\\boxed{" + repair_for_parsing(text) + "}", parsing_timeout=None)
            g, p = _imaginary_unit(g, p)
        else:
            p = parse(text, parsing_timeout=None)
            # math-verify returns [parsed, extracted string]; keep the string only
            pred = next((x for x in reversed(p) if isinstance(x, str)), None)
        if not p:
            return Verdict(False, False, None, pred)  # nothing parseable: simply incorrect
        return Verdict(bool(verify(g, p, timeout_seconds=None)), False, None, pred)
    except Exception as e:  # math-verify/sympy internals: never let one answer kill the run
        return Verdict(False, False, f"{type(e).__name__}: {str(e)[:200]}", pred)


def grade(gold, response: str | None, *, finish_reason: str | None = None, grader: str = "entropykit") -> Verdict:
    """Grade one response against its gold answer in this process, without a time limit.

    `finish_reason` "length" marks a response cut off at the token limit. Trusted input only:
    a hostile answer can hang here; use `Verifier`/`verify_batch` for model output at scale.
    """
    _quiet_math_verify()
    task, decided = _task(gold, response, finish_reason, _check_grader(grader))
    return decided if task is None else _judge(task)


def verify_one(gold, response: str | None) -> Verdict:
    """Alias of `grade(gold, response)` (the entropykit grader, response not cut off)."""
    return grade(gold, response)


def verdict_key(gold, response: str | None, finish_reason: str | None = None, grader: str = "entropykit") -> str:
    """Stable key of a grading for persistent verdict caches (hex sha256).

    It covers the grading policy's version (`grader_version`), so cached verdicts of an older
    policy are never reused, and exactly what is judged (for ``entropykit`` the extracted answer:
    responses with the same answer share one key).
    """
    task, _ = _task(gold, response, finish_reason, _check_grader(grader))
    parts = [grader_version(grader)] + (["no-answer"] if task is None else [str(x) for x in task])
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------------
# Worker processes
#
# The parent sends a worker a chunk of (seq, task) in one message; the worker answers in batches
# (at the end of the chunk, or every _FLUSH_S while a chunk runs long). Each answer keeps its own
# hard limit: before judging an item the worker writes (seq, start time) into a small shared
# memory slot, and the parent kills a worker whose current item has run past the limit.

_SLOT = struct.Struct("=qdq")  # seq, start (time.monotonic, system-wide on Linux), seq again
_FLUSH_S = 0.05
# A chunk is sent ahead (into the pipe while the worker judges the previous one) only when it is
# this small: a pipe holds 64 KiB, and a send that does not fit blocks the coordinator, whose
# watchdog then cannot kill a worker stuck on an answer. A larger chunk waits until its worker is idle.
_SEND_AHEAD_BYTES = 32 * 1024


def _worker_main(rconn, conn, slot_fd: int, nice: int = 0) -> None:
    import mmap
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    if nice:  # e.g. checking answers must not slow down the generation it overlaps with
        try:
            os.nice(nice)
        except OSError:
            pass
    slot = mmap.mmap(slot_fd, _SLOT.size)
    _quiet_math_verify()
    try:
        _judge(("entropykit", "1", "1"))  # import cost paid before "ready"
    except Exception as e:  # pragma: no cover - broken install
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    try:
        conn.send(("ready", None))
    except OSError:  # the parent is gone
        return
    mono = time.monotonic
    while True:
        try:
            msg = rconn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        out = []
        last = mono()
        for seq, task in msg:
            _SLOT.pack_into(slot, 0, seq, mono(), seq)
            v = _judge(task)
            out.append((seq, v.correct, v.error, v.pred))
            now = mono()
            if now - last >= _FLUSH_S:
                try:
                    conn.send(("done", out))
                except OSError:
                    return
                out, last = [], now
        _SLOT.pack_into(slot, 0, -1, mono(), -1)
        try:
            conn.send(("done", out))
        except OSError:
            return


def _shared_slot() -> int:
    """A file descriptor of _SLOT.size bytes shared with a child process (memfd on Linux)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("entropykit-verifier", 0)
    else:  # pragma: no cover - other systems
        import tempfile

        f = tempfile.TemporaryFile()
        fd = os.dup(f.fileno())
        f.close()
    os.ftruncate(fd, _SLOT.size)
    return fd


class _Worker:
    """One verifier process, started as `python -m entropykit.verify FD_IN FD_OUT FD_SLOT NICE`.

    A plain subprocess rather than multiprocessing: nothing of the caller's __main__ is
    re-imported (scripts need no `if __name__ == "__main__"` guard) and no torch state is forked.
    """

    __slots__ = ("proc", "send_conn", "conn", "slot", "ready", "outstanding")

    def __init__(self, nice: int = 0):
        import mmap
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        r1, w1 = os.pipe()  # parent -> child
        r2, w2 = os.pipe()  # child -> parent
        slot_fd = _shared_slot()
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "entropykit.verify", str(r1), str(w2), str(slot_fd), str(int(nice))],
                pass_fds=(r1, w2, slot_fd), stdin=subprocess.DEVNULL, env=env, close_fds=True,
            )
            self.slot = mmap.mmap(slot_fd, _SLOT.size)
        finally:
            os.close(r1)
            os.close(w2)
            os.close(slot_fd)
        _SLOT.pack_into(self.slot, 0, -1, 0.0, -1)
        self.send_conn = Connection(w1, readable=False)
        self.conn = Connection(r2, writable=False)
        self.ready = False
        self.outstanding: dict[int, _Task] = {}  # seq -> task, sent and not answered, in order

    def current(self) -> tuple[int, float] | None:
        """(seq, start) of the item the worker is judging now, if it is one of ours."""
        for _ in range(3):
            a, t, b = _SLOT.unpack_from(self.slot, 0)
            if a == b:
                return (a, t) if a in self.outstanding else None
        return None

    def alive(self) -> bool:
        return self.proc.poll() is None

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
        try:
            self.slot.close()
        except Exception:
            pass


class _Job:
    __slots__ = ("future", "results", "remaining")

    def __init__(self, n: int):
        self.future: Future = Future()
        self.results: list = [None] * n
        self.remaining = n


class Verifier:
    """A pool of grading processes with a hard per-item time limit and a verdict cache.

    >>> with Verifier(timeout_s=5) as v:
    ...     fut = v.submit(["1/2"], ["... so \\\\boxed{0.5}"])
    ...     fut.result()[0].correct
    True

    `workers=0` grades in this process without any time limit (trusted input; the single-process
    baseline of the benchmarks). Identical tasks (the same answer to the same problem, frequent
    among n samples) are judged once; the cache keeps the last `cache_size` verdicts. Timed-out
    verdicts are never cached (a later call, or one with a longer limit, tries again);
    `cache=False` turns the cache off (benchmarks).
    """

    def __init__(self, *, timeout_s: float = 5.0, workers: int | None = None, grader: str = "entropykit",
                 max_chunk: int = 64, nice: int = 0, cache: bool = True, cache_size: int = 200_000):
        if timeout_s is None or timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.grader = _check_grader(grader)
        self.timeout_s = float(timeout_s)
        self.num_workers = default_workers() if workers is None else int(workers)
        if self.num_workers < 0:
            raise ValueError("workers must be >= 0")
        self.max_chunk = max(1, int(max_chunk))
        self.nice = int(nice)
        self.use_cache = bool(cache)
        self.cache_size = max(1, int(cache_size))
        self._cache: dict[_Task, Verdict] = {}  # oldest first: a long training run must not grow it forever
        self._lock = threading.RLock()  # future callbacks may call submit() again
        self._queue: deque = deque()  # (seq, task)
        self._pending: dict[_Task, list[tuple[_Job, int]]] = {}
        self._seq = 0
        self._closed = False
        self._broken: BaseException | None = None
        self.stats = {"verified": 0, "cached": 0, "no_answer": 0, "timeouts": 0, "errors": 0, "restarts": 0}
        self._thread: threading.Thread | None = None
        _quiet_math_verify()
        if self.num_workers > 0:
            self._wake_r, self._wake_w = mp.Pipe(duplex=False)
            self._start_failures = 0
            self._workers = [_Worker(self.nice) for _ in range(self.num_workers)]
            self._thread = threading.Thread(target=self._loop, name="entropykit-verifier", daemon=True)
            self._thread.start()

    # -- public -------------------------------------------------------------------------------

    def submit(self, golds: Sequence[str], responses: Sequence[str],
               finish_reasons: Sequence[str | None] | None = None) -> "Future[list[Verdict]]":
        """Queue responses for grading; the future resolves to one Verdict per response, in order."""
        if len(golds) != len(responses):
            raise ValueError(f"{len(golds)} gold answers but {len(responses)} responses")
        if finish_reasons is not None and len(finish_reasons) != len(responses):
            raise ValueError(f"{len(finish_reasons)} finish reasons but {len(responses)} responses")
        if self._closed:
            raise RuntimeError("Verifier is closed")
        if self._broken is not None:
            raise RuntimeError(f"verifier failed: {self._broken}")
        fr = finish_reasons if finish_reasons is not None else [None] * len(responses)
        prepared = [_task(g, r, f, self.grader) for g, r, f in zip(golds, responses, fr)]  # strings only
        job = _Job(len(golds))
        if self.num_workers == 0:
            for i, (task, decided) in enumerate(prepared):
                job.results[i] = decided if task is None else self._judge_here(task)
                self.stats["no_answer"] += task is None
            job.future.set_result(job.results)
            return job.future
        new = False
        with self._lock:
            for i, (task, decided) in enumerate(prepared):
                if task is None:
                    job.results[i] = decided
                    job.remaining -= 1
                    self.stats["no_answer"] += 1
                    continue
                v = self._cache.get(task)
                if v is not None:
                    job.results[i] = v
                    job.remaining -= 1
                    self.stats["cached"] += 1
                    continue
                waiters = self._pending.get(task) if self.use_cache else None
                if waiters is None:
                    self._seq += 1
                    self._pending[self._pkey(self._seq, task)] = [(job, i)]
                    self._queue.append((self._seq, task))
                    new = True
                else:  # the same task is on its way: wait for it
                    waiters.append((job, i))
                    self.stats["cached"] += 1
            if job.remaining == 0:
                job.future.set_result(job.results)
        if new:
            self._wake()
        return job.future

    def wait_ready(self, timeout_s: float = 120.0) -> bool:
        """Block until every worker process has started (imports done); False after `timeout_s`.

        Not needed for correctness (work waits for ready workers); benchmarks use it so that a
        worker's start-up is not counted as grading time.
        """
        deadline = time.monotonic() + timeout_s
        while self.num_workers and not all(w.ready for w in self._workers):
            if time.monotonic() > deadline or self._broken is not None:
                return False
            time.sleep(0.01)
        return True

    def verify(self, golds: Sequence[str], responses: Sequence[str],
               finish_reasons: Sequence[str | None] | None = None) -> list[Verdict]:
        return self.submit(golds, responses, finish_reasons).result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._wake()
            self._thread.join(timeout=10)
            for w in self._workers:
                try:
                    w.send_conn.send(None)
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

    def _remember(self, task: _Task, verdict: Verdict) -> None:
        self._cache[task] = verdict
        if len(self._cache) > self.cache_size:  # drop the oldest tenth at once (dicts keep insertion order)
            for key in list(self._cache)[: max(1, self.cache_size // 10)]:
                del self._cache[key]

    # -- in process ---------------------------------------------------------------------------

    def _judge_here(self, task: _Task) -> Verdict:
        v = self._cache.get(task) if self.use_cache else None
        if v is not None:
            self.stats["cached"] += 1
            return v
        v = _judge(task)
        self.stats["verified"] += 1
        self.stats["errors"] += v.error is not None
        if self.use_cache:
            self._remember(task, v)
        return v

    # -- dispatcher thread --------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"")
        except Exception:
            pass

    def _pkey(self, seq: int, task: _Task):
        """Key of a queued item among the pending ones: with the cache on, identical tasks share one."""
        return task if self.use_cache else seq

    def _resolve(self, seq: int, task: _Task, verdict: Verdict, *, cacheable: bool = True) -> None:
        # called with the lock held
        if cacheable and self.use_cache:
            self._remember(task, verdict)
        for job, i in self._pending.pop(self._pkey(seq, task), []):
            job.results[i] = verdict
            job.remaining -= 1
            if job.remaining == 0 and not job.future.done():
                job.future.set_result(job.results)

    def _assign(self, w: _Worker) -> None:
        """Send `w` a chunk when it has less than one chunk of work left: the next chunk waits in
        the pipe while the current one runs, so a worker never idles for a round trip."""
        with self._lock:
            if not self._queue or not w.ready:
                return
            size = max(1, min(self.max_chunk, len(self._queue) // (2 * self.num_workers)))
            if len(w.outstanding) >= size:
                return
            chunk = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
            data = pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)
            if w.outstanding and len(data) > _SEND_AHEAD_BYTES:  # not while the worker is busy
                self._queue.extendleft(reversed(chunk))
                return
        w.outstanding.update(chunk)
        try:
            w.send_conn.send_bytes(data)  # what Connection.send(chunk) writes; the worker's recv() unpickles it
        except Exception:
            self._restart(w, culprit=None)

    def _restart(self, w: _Worker, *, culprit: int | None, timed_out: bool = False) -> None:
        """Replace worker `w`; item `culprit` (timed out, or died on) is resolved, the rest requeued."""
        idx = self._workers.index(w)
        w.kill()
        if not w.ready:
            self._start_failures += 1
            if self._start_failures >= 3:
                raise RuntimeError("verifier processes fail to start (see the messages above)")
        with self._lock:
            rest = []
            for seq, task in w.outstanding.items():
                if seq != culprit:
                    rest.append((seq, task))
                elif timed_out:
                    self.stats["timeouts"] += 1
                    pred = task[2] if task[0] == "entropykit" else None
                    self._resolve(seq, task, Verdict(False, True, f"timed out after {self.timeout_s:g}s", pred),
                                  cacheable=False)
                else:
                    self.stats["errors"] += 1
                    self._resolve(seq, task, Verdict(False, False, "verifier process died"), cacheable=False)
            w.outstanding = {}
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
                for waiters in self._pending.values():
                    for job, i in waiters:
                        job.results[i] = Verdict(False, False, f"verifier failed: {e!r}")
                        job.remaining -= 1
                        if job.remaining == 0 and not job.future.done():
                            job.future.set_result(job.results)
                self._pending.clear()

    def _loop_inner(self) -> None:
        while not self._closed:
            for w in list(self._workers):
                if self._queue:
                    self._assign(w)
            now = time.monotonic()
            wait_s = None
            for w in self._workers:
                if w.outstanding:
                    cur = w.current()
                    left = 0.2 if cur is None else cur[1] + self.timeout_s - now
                    wait_s = left if wait_s is None else min(wait_s, left)
            ready = _wait_conns([w.conn for w in self._workers] + [self._wake_r],
                                timeout=None if wait_s is None else max(0.0, wait_s))
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
                        self._on_message(w, c.recv())
                except (EOFError, OSError):
                    cur = w.current()
                    self._restart(w, culprit=None if cur is None else cur[0])
            now = time.monotonic()
            for w in list(self._workers):
                if w.outstanding:
                    cur = w.current()
                    if cur is not None and now >= cur[1] + self.timeout_s:
                        self._restart(w, culprit=cur[0], timed_out=True)
                        continue
                if not w.alive():
                    cur = w.current()
                    self._restart(w, culprit=None if cur is None else cur[0])

    def _on_message(self, w: _Worker, msg) -> None:
        tag, payload = msg
        if tag == "ready":
            w.ready = True
            self._start_failures = 0
            return
        if tag == "error":
            raise RuntimeError(f"verifier worker failed to start: {payload}")
        with self._lock:
            for seq, ok, err, pred in payload:
                task = w.outstanding.pop(seq, None)
                if task is None:
                    continue
                self.stats["verified"] += 1
                self.stats["errors"] += err is not None
                self._resolve(seq, task, Verdict(bool(ok), False, err, pred))
        if self._queue:
            self._assign(w)


def verify_batch(
    golds: Sequence[str],
    responses: Sequence[str],
    *,
    finish_reasons: Sequence[str | None] | None = None,
    timeout_s: float = 5.0,
    workers: int | None = None,
    grader: str = "entropykit",
) -> list[Verdict]:
    """Grade `responses` against `golds` in a one-shot pool; one Verdict per response.

    `workers` processes (default: all cores), each item under a hard limit of `timeout_s`
    seconds: a stuck item costs at most that, is counted incorrect and marked `timed_out`.
    """
    if len(golds) != len(responses):
        raise ValueError(f"{len(golds)} gold answers but {len(responses)} responses")
    if not golds:
        return []
    with Verifier(timeout_s=timeout_s, workers=workers, grader=grader) as v:
        return v.verify(golds, responses, finish_reasons)


if __name__ == "__main__":  # a verifier worker process (see _Worker)
    import sys
    from multiprocessing.connection import Connection

    _worker_main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False),
                 int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
