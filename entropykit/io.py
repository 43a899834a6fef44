"""Records on disk: streaming JSONL reads with clear errors, atomic writes, durable appends.

Every write that a user keeps goes through here so that a killed run never leaves a
half-written file: whole files are written to a temporary file in the same folder, fsynced
and renamed over the target; logs are appended line by line and fsynced.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from entropykit.errors import UserError


def iter_jsonl(path: str | os.PathLike, required: Sequence[str] = ()) -> Iterator[dict]:
    """Yield the JSON objects of a JSONL file one by one (blank lines are skipped).

    A UTF-8 byte-order mark (as Windows editors and Excel write) is accepted at the start of
    the file and of any line (files joined with `cat`). Raises UserError for a missing/unreadable
    file, binary or non-UTF-8 data, a line that is not a JSON object, or a record without one
    of the `required` fields.
    """
    for _, rec in iter_jsonl_lines(path, required):
        yield rec


def iter_jsonl_lines(path: str | os.PathLike, required: Sequence[str] = ()) -> Iterator[tuple[int, dict]]:
    """`iter_jsonl` with each record's line number (from 1), for a caller that checks the values
    of a record and names its line ("FILE:LINE: ...")."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    if p.is_dir():
        raise UserError(f"{p}: is a directory, expected a JSONL file")
    try:
        fh = open(p, "r", encoding="utf-8")
    except OSError as e:
        raise UserError(f"{p}: cannot read ({e.strerror})") from None
    with fh:
        lineno = 0
        while True:
            try:
                line = fh.readline()
            except UnicodeDecodeError:
                # the text layer decodes ahead in blocks of 8 KB, so the error may belong to a later
                # line than the last one read: find the line that holds it
                bad = _first_non_utf8_line(p) or lineno + 1
                raise UserError(f"{p}:{bad}: not UTF-8 text ({_not_utf8_hint(p, bad)})") from None
            if not line:
                break
            lineno += 1
            if line.startswith(UTF8_BOM):
                line = line[1:]
            if not line.strip():
                continue
            yield lineno, parse_record(line, p, lineno, required)


def parse_record(line: str, p: Path, lineno: int, required: Sequence[str] = ()) -> dict:
    """One JSONL line as a JSON object with the `required` fields; UserError naming the line."""
    if "\x00" in line:
        raise UserError(f"{p}:{lineno}: binary data, expected one JSON object per line")
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise UserError(f"{p}:{lineno}: malformed JSON ({e.msg})") from None
    if not isinstance(rec, dict):
        raise UserError(f"{p}:{lineno}: expected a JSON object, got {type(rec).__name__}")
    if may_hold_lone_surrogate(line):  # cheap: only lines with such an escape are walked
        where = lone_surrogate(rec)
        if where is not None:
            raise UserError(f"{p}:{lineno}: {where[0]} holds a lone surrogate ({where[1]}), which is not Unicode text; "
                            "fix or drop this record")
    missing = [k for k in required if k not in rec]
    if missing:
        raise UserError(f"{p}:{lineno}: missing field(s) {', '.join(map(repr, missing))}")
    return rec


UTF8_BOM = "\ufeff"  # other readers of user files open them with encoding="utf-8-sig", which drops it


# A JSON escape of a UTF-16 surrogate (\ud800-\udfff). A pair of them (an escaped emoji) decodes to
# one character; one alone decodes to a code point that no UTF-8 writer, tokenizer or browser takes.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # after decoding, a pair is one character: what is left is lone


def may_hold_lone_surrogate(text: str) -> bool:
    """Whether JSON text holds a surrogate escape (then `lone_surrogate` of its decoded value tells);
    two substring searches for text without one, so every line of a big file can be asked."""
    return ("\\ud" in text or "\\uD" in text) and _SURROGATE_ESCAPE.search(text) is not None


def lone_surrogate(obj: Any, where: str = "") -> tuple[str, str] | None:
    """(where, "\\udXXX") of the first lone surrogate in the strings (keys included) of a decoded JSON
    value, or None. `where` names it: "field 'prompt'", "field 'messages'[1]['content']"."""
    if isinstance(obj, str):
        m = _LONE_SURROGATE.search(obj)
        return None if m is None else (where or "a value", f"\\u{ord(m.group()):04x}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            name = f"field {k!r}" if not where else f"{where}[{k!r}]"
            if isinstance(k, str) and _LONE_SURROGATE.search(k):
                return (f"a field name{' in ' + where if where else ''}", lone_surrogate(k)[1])
            hit = lone_surrogate(v, name)
            if hit is not None:
                return hit
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            hit = lone_surrogate(v, f"{where or 'value'}[{i}]")
            if hit is not None:
                return hit
    return None


def _first_non_utf8_line(p: Path) -> int | None:
    """The number of the first line of `p` that is not UTF-8 (lines split at b"\\n"), or None."""
    try:
        with open(p, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return n
    except OSError:
        pass
    return None


def _not_utf8_hint(p: Path, lineno: int) -> str:
    if lineno == 1:
        with open(p, "rb") as fh:
            head = fh.read(4)
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return "UTF-16 text: save it as UTF-8"
    return "binary file?"


def read_jsonl(path: str | os.PathLike, required: Sequence[str] = ()) -> list[dict]:
    """All records of a JSONL file; UserError when the file holds no record."""
    records = list(iter_jsonl(path, required))
    if not records:
        raise UserError(f"{path}: empty file, no records")
    return records


def _probe_writable(folder: Path, what: Path) -> None:
    """Create and remove a temporary file in `folder`: the only reliable test (os.access is
    True for root even on /proc or a read-only mount)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".entropykit-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        # a pseudo file system (/proc, /sys) answers ENOENT for a folder that plainly exists
        reason = "it takes no new files" if e.errno == errno.ENOENT and folder.is_dir() else (e.strerror or e)
        raise UserError(f"{what}: cannot write in {folder} ({reason})") from None


def _check_creatable(folder: Path, what: Path) -> None:
    """Check, without creating anything, that `folder` could be made with `mkdir -p` and
    written in: its nearest existing ancestor must be a folder that takes files."""
    base = folder
    while not base.exists() and base.parent != base:
        base = base.parent
    if not base.is_dir():
        raise UserError(f"{what}: {base} is not a folder")
    _probe_writable(base, what)


def ensure_writable_dir(path: str | os.PathLike, *, create: bool = True) -> Path:
    """Create the folder `path` if needed and check that files can be written in it; UserError
    (one line, exit 2) otherwise. Call it for every output folder before the work starts.

    With `create=False` nothing is left behind: a missing folder is only checked to be creatable
    (for commands that validate their inputs afterwards and must not leave an empty folder)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder")
    if not create and not path.exists():
        _check_creatable(path, path)
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{path}: cannot create folder ({e.strerror or e})") from None
    _probe_writable(path, path)
    return path


def ensure_writable_parent(path: str | os.PathLike, *, create: bool = True) -> None:
    """Create `path`'s folder if needed; UserError when it cannot be created or written in,
    or `path` itself is a folder. Call it for every output file before the work starts.
    `create=False`: as for ensure_writable_dir."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{path}: {parent} is not a folder")
    if not create and not parent.exists():
        _check_creatable(parent, path)
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{path}: cannot create folder {parent} ({e.strerror or e})") from None
    _probe_writable(parent, path)


def _title_of(path: Path) -> str | None:
    """The <title> of an HTML page (read from its first 4 KB), or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    start = head.find("<title>")
    end = head.find("</title>", start)
    return head[start + 7:end] if start >= 0 and end > start else None


def refuse_replacing_inputs(outputs: Sequence[str | os.PathLike], inputs: Sequence[str | os.PathLike], *,
                            own_title: str | None = None, option: str = "--out") -> None:
    """UserError (one line, exit 2) when writing one of `outputs` would replace a file of one of the
    inputs: any file inside an input run folder (at any depth), or an input file itself, symbolic
    links resolved. `analyze compare A B --out A/report.html` must not destroy run A's own report.
    Call it before any work, for every file the command writes (a page and its .json twin).

    A new file inside a run folder is allowed, and so is replacing what this command wrote there
    before, so that rerunning the same command works: `outputs[0]` is the command's page, and when
    its existing <title> starts with `own_title` the page and the files written beside it are the
    command's own.
    """
    first = Path(outputs[0]).resolve()
    ours = own_title is not None and first.is_file() and (_title_of(first) or "").startswith(own_title)
    resolved = [(Path(i).resolve(), i) for i in inputs if Path(i).exists()]
    for out in outputs:
        target = Path(out).resolve()
        if not target.exists() or target.is_dir():
            continue
        what = f"{option} {outputs[0]}" + ("" if out is outputs[0] else f": the {out} written beside it")
        for inp, given in resolved:
            if inp == target:
                raise UserError(f"{what} would replace the input {given}; write the output somewhere else")
            if inp.is_dir() and inp in target.parents and not ours:
                raise UserError(f"{what} would replace {target.relative_to(inp)}, a file of the input run {given}; "
                                f"write the output somewhere else")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced, given the usual file
    mode and renamed over `path`; on error it is removed and `path` is untouched.

    For writers that want a file name (pyarrow, numpy, plotly): `with atomic_path(p) as tmp: write(tmp)`.
    """
    p = Path(path)
    ensure_writable_parent(p)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, default_file_mode())  # mkstemp makes 0600; results are for sharing
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (temp file in the same folder, fsync, rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def default_file_mode() -> int:
    """The mode a plainly created file would get: 0o666 minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Write `obj` as JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Write all records as JSONL atomically (for outputs that are rewritten whole)."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


class JsonlAppender:
    """Append records to a JSONL log durably: each `write` is flushed and fsynced.

    A torn last line (from a kill in the middle of a write) is cut off when the log is
    reopened, so a resumed run never sees half a record.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        ensure_writable_parent(self.path)
        repair_jsonl_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self.write_many([record])

    def write_many(self, records: Iterable[dict]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        if data:
            self._fh.write(data)
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def append_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Append records to a JSONL file with fsync (see JsonlAppender)."""
    with JsonlAppender(path) as out:
        out.write_many(records)


def repair_jsonl_tail(path: str | os.PathLike) -> None:
    """Truncate a JSONL file after its last complete line (a kill can leave half a line)."""
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return
    with open(p, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return
        # walk back to the last newline
        pos = size
        block = 4096
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                fh.truncate(start + idx + 1)
                return
            pos = start
        fh.truncate(0)


_RAISE = object()


def read_json_object(path: str | os.PathLike, *, missing: Any = _RAISE, damaged: Any = _RAISE) -> Any:
    """A JSON object (dict) from a state file, checked: UTF-8, valid JSON, an object.

    A missing file returns `missing`, a damaged one (not UTF-8, not JSON, not an object)
    returns `damaged`; either left unset raises UserError with one line naming the file.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        if missing is _RAISE:
            raise UserError(f"{p}: no such file") from None
        return missing
    try:
        obj = json.loads(raw.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError(f"a JSON {type(obj).__name__}, not an object")
    except (UnicodeDecodeError, ValueError) as e:
        if damaged is _RAISE:
            why = "not UTF-8" if isinstance(e, UnicodeDecodeError) else str(e)[:120]
            raise UserError(f"{p}: damaged ({why})") from None
        return damaged
    return obj


# ----------------------------------------------------------------------------------------------
# one writer per run folder

LOCK_FILE = ".entropykit.lock"


def _holder_line(raw: bytes) -> str | None:
    """'pid 123 on host (entropykit passk, since ...)' from a lock file's contents, or None."""
    try:
        info = json.loads(raw.decode("utf-8"))
        return f"pid {info['pid']} on {info['host']} ({info.get('command', 'entropykit')}, since {info.get('since', '?')})"
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return None


def _read_fd(fd: int) -> bytes:
    return os.pread(fd, 4096, 0)


def _shard_holders(folder: Path) -> str | None:
    """Who holds the shards of `folder` (they share its lock and name themselves in their own)."""
    names = []
    for f in sorted(folder.glob(LOCK_FILE + ".shard-*")):
        try:
            line = _holder_line(f.read_bytes())
        except OSError:
            continue
        if line:
            names.append(f"shard {f.name.rsplit('shard-', 1)[1].replace('-of-', '/')}: {line}")
    return "; ".join(names) or None


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, *, command: str, shard: str | None = None,
             log: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the run folder for one writer while the block runs.

    An exclusive `flock` on ``FOLDER/.entropykit.lock``, which names its holder (pid, host,
    command, start time). A second writer is refused with one line naming the holder. A shard
    (`shard="I/N"`) holds the folder lock shared, so shards run side by side, and its own shard
    lock exclusively, so the same shard cannot run twice; a plain run excludes every shard. The
    kernel drops a lock whose process died (kill -9), so such a lock is taken over, with a line
    saying whose it was. flock works on local disks and on NFS (emulated with byte-range locks).
    """
    import datetime
    import fcntl
    import socket

    folder = Path(folder)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
          "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    held: list[int] = []

    def take(path: Path, mode: int, what: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_line(_read_fd(fd)) or _shard_holders(folder) or "another entropykit process"
            os.close(fd)
            raise UserError(f"{what} is in use by {holder}; wait for it to finish, or choose another --out") from None
        held.append(fd)
        if mode == fcntl.LOCK_EX:
            stale = _holder_line(_read_fd(fd))
            if stale and log is not None:
                log(f"took over the lock of {what} left by {stale}, which is no longer running")
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode("utf-8"), 0)
            os.fsync(fd)

    try:
        if shard is None:
            take(folder / LOCK_FILE, fcntl.LOCK_EX, str(folder))
        else:
            take(folder / LOCK_FILE, fcntl.LOCK_SH, str(folder))
            take(folder / f"{LOCK_FILE}.shard-{shard.replace('/', '-of-')}", fcntl.LOCK_EX, f"{folder} shard {shard}")
        yield
    finally:
        for fd in reversed(held):
            try:  # a clean exit clears the holder (a lock file that still names one was left by a kill)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while shards still share it
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)



def read_complete_jsonl(path: str | os.PathLike, required: Sequence[str] = (),
                        types: dict[str, type | tuple[type, ...]] | None = None) -> list[dict]:
    """The records of a state file that is written by appends (metrics.jsonl, caches), checked.

    Complete lines only: a torn last line (a kill mid-write) is left out, and left in the file
    for its writer to repair. Anything else damaged is a UserError with one line naming the
    file and line: not UTF-8, not a JSON object, a missing `required` field, or a field whose
    value is not of its type in `types` (bool is never taken for int).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{p}: no such file") from None
    except OSError as e:
        raise UserError(f"{p}: cannot read ({e.strerror})") from None
    out = []
    for lineno, line in enumerate(raw[: raw.rfind(b"\n") + 1].split(b"\n")[:-1], 1):
        try:
            text = line.decode("utf-8").lstrip(UTF8_BOM)
        except UnicodeDecodeError:
            raise UserError(f"{p}:{lineno}: not UTF-8 text (binary or damaged file)") from None
        if not text.strip():
            continue
        rec = parse_record(text, p, lineno, required)
        for k, t in (types or {}).items():
            v = rec.get(k)
            if k in rec and (not isinstance(v, t) or (isinstance(v, bool) and bool not in (t if isinstance(t, tuple) else (t,)))):
                raise UserError(f"{p}:{lineno}: field {k!r} must be {getattr(t, '__name__', t)}, got {v!r}")
        out.append(rec)
    return out
