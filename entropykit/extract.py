r"""Which part of a model's response is graded: the `entropykit` final-answer policy.

Pure string work in linear time (no sympy, safe in the parent process on hostile text); the
extracted string is then parsed and compared by math-verify in `entropykit.verify`. The policy,
with examples, is documented in ``evalkit/README.md``; in short:

1. An answer must be *stated*. Explicit markers are ``\boxed{..}``/``\fbox{..}``,
   ``<answer>..</answer>`` and answer statements ("the answer is X", "Final Answer: X",
   "**Answer:** X", "$x \geq 5$ is the solution"; after "Final Answer:" the value after "is",
   else the sentence's only number or math span). The explicit marker that ends last in the
   response wins: a box after a statement (self-correction) and a statement after the last
   box ("The final answer is $10,455$") alike.
2. Boxes written together (``\boxed{(2, 2)} \quad\text{and}\quad \boxed{(6, 2)}``: only
   spaces, punctuation, ``and``/``or``, ``\quad`` or math delimiters between them) form one
   answer, their contents joined with ", ".
3. Only without any explicit marker, a *finished* response may state its answer implicitly:
   the whole response is one value (``1/2``, ``$\frac13$``, ``(B)``, ``3 * 4``), or its last
   sentence ends with one math span (``we find that $x < 3$``), or its last line ends with
   ``= VALUE``, ``is/are/was/equals VALUE`` or a quantity verb (``has``, ``needs``, ``costs``,
   ...) and VALUE (or "a total of VALUE") (a number or a LaTeX value, optionally followed by up to three unit words).
   An unfinished calculation (``3 + 4 =``, ``there are 5 + 5``, ``we get $4 + 6$``) or a bare
   trailing expression (``so we multiply 3 * 4``) never counts.
4. A response cut off at the token limit (``finish_reason == "length"``) is graded only on an
   explicit marker that is complete (a closed box; a statement whose value does not run into
   the cut).
5. The reply ends at the first chat-template token (``<|im_end|>``, ``<|im_start|>``, ...).
   No fixed tail cut: the whole response is searched, up to its last `MAX_SEARCH_CHARS`
   characters (a bound against hostile input; 200k characters is about 50k tokens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Extraction", "extract_final_answer", "extract_answer", "normalize_answer", "repair_for_parsing",
           "POLICY_VERSION", "MAX_SEARCH_CHARS"]

# Bumped whenever the policy changes what is extracted: persistent verdict caches key on it.
POLICY_VERSION = "entropykit-extract-7"  # 7: issue 24's families (GSM8K ####, closings in other languages, units of golds, ...)
MAX_SEARCH_CHARS = 200_000
_MAX_BOXES_TRIED = 64  # from the end; bounds the work on text full of unclosed boxes
_MAX_STATEMENTS_TRIED = 64
_MAX_JOINED_BOXES = 8
_MAX_PLAIN_VALUE_CHARS = 200


@dataclass(frozen=True)
class Extraction:
    """The graded answer: `answer` (None: no stated answer), which rule found it, and where."""

    answer: str | None
    kind: str | None = None  # "box", "boxes", "tag", "statement", "bare", "closing"
    start: int = -1  # span of the answer in the response (-1 when none)
    end: int = -1


NO_ANSWER = Extraction(None)

# ----------------------------------------------------------------------------------------------
# normalisation (applied to extracted answers and to gold answers alike)

_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2012": "-", "\ufe63": "-", "\uff0d": "-"})
# digits of other scripts (Arabic-Indic, Persian, Devanagari, fullwidth) become ASCII digits in an answer
_DIGITS = str.maketrans({chr(base + i): str(i) for base in (0x0660, 0x06F0, 0x0966, 0xFF10) for i in range(10)})
# Thousands separators that never separate list items: "1\,000", "1\ 000", "1~000", thin and
# no-break spaces. Only between a digit and a group of exactly three digits.
_THIN_SEP = re.compile(r"(?<=\d)(?:\\,|\\ |~|\\thinspace ?|[\u2009\u202f\u00a0])(?=\d{3}(?!\d))")
_SPACE_GROUPED = re.compile(r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$")


def normalize_answer(s: str) -> str:
    r"""Normalise an answer string before it is parsed: non-ASCII minus signs become ``-``,
    thin-space thousands separators are removed (``1\,000`` -> ``1000``), a whole number grouped
    by plain spaces (``1 000 000``) is joined, markdown bold/code marks and a final period go,
    digits of other scripts become ASCII, plain unit words after a number go (``10 weeks`` ->
    ``10``, ``10 cm^2`` -> ``10``) and a choice written with its option text is its letter
    (``(D) Alina`` -> ``D``)."""
    s = s.translate(_MINUS).translate(_DIGITS).strip()
    s = _THIN_SEP.sub("", s)
    s = s.replace("\\varnothing", "\\emptyset")
    s = s.strip("*`").strip()
    if s.count("$") == 1:  # currency ("$18.90" -> "18.90"), not a math span like "$3\sqrt{13}$"
        s = re.sub(r"^(-?)(?:\\\$|\$)(?=\d)", r"\1", s)
    if s.endswith(".") and not s.endswith("..."):
        s = s[:-1].rstrip()
    if _SPACE_GROUPED.match(s):
        s = s.replace(" ", "")
    m = _NUMBER_WITH_UNITS.fullmatch(s)
    if m and not any(w.lower() in _NOT_UNITS for w in re.findall(r"[A-Za-z]+", m.group("units"))):
        s = m.group("value")
    m = _CHOICE_WITH_TEXT.fullmatch(s)
    if m:
        s = next(g for g in m.groups() if g)
    return s


# a number followed by plain unit words: "10 weeks", "10 cm^2", "3.5 km/h", "12 m" (how a reply's
# units are read: a word ends the value). Words of math ("2 pi", "3 and 4", "5 sin") are kept.
_UNIT_WORD = r"(?:[A-Za-z]{3,}|cm|mm|km|dm|kg|mg|ml|mL|ft|yd|mi|lb|oz|hr|m|g|s|h|L)(?:\^\{?[23]\}?|²|³)?"
_NUMBER_WITH_UNITS = re.compile(
    r"(?P<value>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s+(?P<units>" + _UNIT_WORD + r"\.?(?:\s*/\s*" + _UNIT_WORD
    + r")?(?:\s+" + _UNIT_WORD + r"\.?){0,2})")
_NOT_UNITS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "sqrt", "and", "or", "the", "pi", "times",
              "cdot", "div", "mod", "pmod", "bmod", "inf", "infty", "infinity", "arcsin", "arccos", "arctan", "sinh",
              "cosh", "tanh", "ln", "lg", "frac", "dfrac", "tfrac", "text", "mathrm", "choose", "binom", "not", "none",
              "true", "false", "yes", "no", "odd", "even", "undefined", "in",
              # multipliers, not units: "12 dozen" is 144
              "dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion",
              "billions", "trillion", "trillions", "half", "halves", "quarter", "quarters", "percent", "score"}
# a choice with its option text: "(D) Alina", "D) Alina", "D. x = 42", "C Cecile"
_CHOICE_WITH_TEXT = re.compile(r"\(([A-J])\)\s*\S.*|([A-J])[.:)]\s+\S.*|([A-J])\s+[A-Z][a-z][\w' -]*", re.DOTALL)


# ----------------------------------------------------------------------------------------------
# repairs before math-verify parses an answer (gold and graded answer alike): notations its parser
# reads as another value. String work only; each one rewrites the notation into one it reads right.

_MIXED_NUMBER = re.compile(r"([-+]?)(\d+)\s+(\d+)\s*/\s*(\d+)")  # "3128 1/2": 3128 and a half
_SCIENTIFIC = re.compile(
    r"([-+]?\d+(?:\.\d+)?)\s*(?:(?:\\times|\\cdot|×|\*)\s*10\s*\^\s*\{?\s*([-+]?\d{1,3})\s*\}?|[eE]([-+]?\d{1,3}))")
_SYMPY_SYNTAX = re.compile(r"\*\*|\b(?:Eq|Rational|sqrt)\(")
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![A-Za-z])")
_DEGREES = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{?\s*\\circ\s*\}?|°)")
_PRIME = re.compile(r"(?<![\\A-Za-z])([A-Za-z])('+)")
_UNESCAPED_SEMICOLON = re.compile(r"(?<!\\);")
_REPAIR_CHARS = frozenset(" ;'*\\eE(×°")  # every repair needs one of these


def _call_args(s: str, open_pos: int) -> tuple[list[str], int] | None:
    """Top-level comma-separated arguments of the call whose "(" is at `open_pos`, and the end."""
    depth, start, args = 0, open_pos + 1, []
    for i in range(open_pos, len(s)):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(s[start:i].strip())
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(s[start:i].strip())
            start = i + 1
    return None


def _from_sympy_syntax(s: str) -> str:
    r"""``Eq(x**2/4 + y**2/3, 1)`` -> ``x^2/4 + y^2/3 = 1``; ``sqrt(2)`` -> ``\sqrt{2}``;
    ``Rational(1, 3)`` -> ``\frac{1}{3}`` (golds written in sympy's own syntax)."""
    s = s.replace("**", "^")
    for _ in range(32):
        m = re.search(r"\b(Eq|Rational|sqrt)\(", s)
        if m is None:
            break
        call = _call_args(s, m.end() - 1)
        if call is None:
            break
        args, end = call
        name = m.group(1)
        if name == "Eq" and len(args) == 2:
            rep = f"{args[0]} = {args[1]}"
        elif name == "Rational" and len(args) == 2:
            rep = f"\\frac{{{args[0]}}}{{{args[1]}}}"
        elif name == "sqrt" and len(args) == 1:
            rep = f"\\sqrt{{{args[0]}}}"
        else:
            break
        s = s[: m.start()] + rep + s[end:]
    return s


def repair_for_parsing(s: str) -> str:
    r"""An answer rewritten where math-verify's parser would read another value than written:

    - a mixed number ``3128 1/2`` -> ``\frac{6257}{2}`` (parsed as 3129/2 otherwise; ``1 1/2`` as 1);
    - scientific notation ``2.3148\times 10^{-3}`` / ``2.3148e-3`` -> ``0.0023148`` (the decimal is
      compared with a rounding tolerance, the product is not);
    - ``;`` between the values of a list or set -> ``,`` (``\;`` is a space and stays);
    - sympy's own syntax (``Eq(a, b)``, ``x**2``, ``sqrt(2)``, ``Rational(1, 3)``) -> LaTeX (``Eq(...)``
      is otherwise read as 1, right for any answer 1);
    - a prime ``E'`` -> ``E_{p}`` (otherwise dropped: ``E'`` would equal ``E``);
    - degrees inside a trigonometric function ``\sin(90^\circ - x)`` -> radians, so that
      ``\sin(\frac{90\pi}{180} - x)`` equals ``\cos x`` (outside trig functions ``30^\circ`` stays 30).
    """
    t = s.strip()
    if not any(c in t for c in _REPAIR_CHARS):
        return t  # a plain number or word: nothing to repair (the common case, kept cheap)
    m = _MIXED_NUMBER.fullmatch(t)
    if m and int(m.group(3)) < int(m.group(4)) and int(m.group(4)) > 0 and len(t) < 40:
        whole, num, den = int(m.group(2)), int(m.group(3)), int(m.group(4))
        return f"{'-' if m.group(1) == '-' else ''}\\frac{{{whole * den + num}}}{{{den}}}"
    m = _SCIENTIFIC.fullmatch(t)
    if m:
        from decimal import Decimal

        d = Decimal(m.group(1)).scaleb(int(m.group(2) or m.group(3)))
        return format(d, "f")
    if _SYMPY_SYNTAX.search(t):
        t = _from_sympy_syntax(t)
    if ";" in t and "\\begin" not in t:
        t = _UNESCAPED_SEMICOLON.sub(",", t)
    if "'" in t and "\\text" not in t:
        t = _PRIME.sub(lambda p: f"{p.group(1)}_{{{'p' * len(p.group(2))}}}", t)
    if _TRIG.search(t):
        t = _DEGREES.sub(lambda d: f"\\frac{{{d.group(1)}\\pi}}{{180}}", t)
    return t


# ----------------------------------------------------------------------------------------------
# boxes


_BOX_START = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")


def _is_escaped(text: str, i: int) -> bool:
    n = 0
    while i - 1 - n >= 0 and text[i - 1 - n] == "\\":
        n += 1
    return n % 2 == 1


def _closing_brace(text: str, open_pos: int) -> int:
    """Index of the brace closing the group opened at `open_pos` (escaped \\{ \\} ignored), or -1."""
    depth = 0
    i = open_pos
    n = len(text)
    while i < n:
        j_open = text.find("{", i)
        j_close = text.find("}", i)
        if j_close < 0:
            return -1
        if 0 <= j_open < j_close:
            if not _is_escaped(text, j_open):
                depth += 1
            i = j_open + 1
            continue
        if not _is_escaped(text, j_close):
            depth -= 1
            if depth == 0:
                return j_close
        i = j_close + 1
    return -1


def _box_at(text: str, m: re.Match) -> tuple[str, int, int] | None:
    """(content, content_start, end) of the box starting at match `m`, or None if unclosed/empty."""
    k = m.end()
    n = len(text)
    while k < n and text[k] == " ":
        k += 1
    if k < n and text[k] == "{":
        close = _closing_brace(text, k)
        if close < 0:
            return None
        content = text[k + 1 : close].strip()
        return (content, k + 1, close + 1) if content else None
    if k > m.end():  # "\boxed 5": one token
        e = k
        while e < n and not text[e].isspace() and text[e] not in "$.,;":
            e += 1
        return (text[k:e], k, e) if e > k else None
    return None


_BOX_SEP = re.compile(
    r"(?:\s|[,;&]|\$|\\quad|\\qquad|\\[,;:! ]|\\\\|\\text\s*\{[^{}]{0,40}?(?:\band|\bor|,)?\s*\}|\band\b|\bor\b"
    r"|\\\(|\\\)|\\\[|\\\]"
    r"|\b[a-zA-Z](?:_\{?\w+\}?)?\s*=)*"  # "x = \boxed{1} or x = \boxed{2}"
)


def _last_box_group(text: str) -> Extraction | None:
    """The last closed, non-empty box, joined with the boxes written right before it."""
    starts = list(_BOX_START.finditer(text))
    boxes: list[tuple[str, int, int, int]] = []  # (content, content_start, end, box_start), from the end
    tried = 0
    for m in reversed(starts):
        if tried >= _MAX_BOXES_TRIED or len(boxes) >= _MAX_JOINED_BOXES:
            break
        tried += 1
        b = _box_at(text, m)
        if b is None:
            if boxes:
                break  # an unclosed or empty box between two boxes ends the group
            continue
        if boxes and (boxes[-1][3] - b[2] > 200 or not _BOX_SEP.fullmatch(text, b[2], boxes[-1][3])):
            break
        boxes.append((b[0], b[1], b[2], m.start()))
    if not boxes:
        return None
    boxes.reverse()
    contents = list(dict.fromkeys(c for c, _, _, _ in boxes))  # "\boxed{5} \boxed{5}" is one answer
    kind = "box" if len(contents) == 1 else "boxes"
    return Extraction(", ".join(contents), kind, boxes[0][1], boxes[-1][2])


def extract_answer(text: str | None) -> str | None:
    r"""Content of the last closed, non-empty ``\boxed{...}``/``\fbox{...}`` of `text`, else None.

    ``\boxed 5`` (no braces) gives ``5``; an unclosed or empty last box is skipped.
    """
    if not text:
        return None
    for m in reversed(list(_BOX_START.finditer(text))[-_MAX_BOXES_TRIED:]):
        b = _box_at(text, m)
        if b is not None:
            return b[0]
    return None


# ----------------------------------------------------------------------------------------------
# <answer> tags and answer statements


_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
# what follows the word "answer" in an answer statement ("answer is", "Answer:", "answer $...$")
_STATEMENT_TAIL = re.compile(
    r"(?:\s*\*\*)?\s*(?:\}\s*)?"
    r"(?:is|:|=|would\s+be|will\s+be|should\s+be|must\s+be|(?=\s*(?:\$|\\\(|\\\[)))"
    r"(?:\s*\*\*)?\s*(?:\}\s*)?:?[ \t]*(?:\n[ \t]*)?",
    re.IGNORECASE,
)
_FINAL_BEFORE = re.compile(r"final\s+$")
# adverbs between a verb and its value ("is definitely 12", "is for sure D", "is now actually 9"): a
# word class, not a list. Approximations ("approximately 3") and negations ("not 12") are not in it.
_ADVERB = (r"(?:(?!(?:approximately|roughly|nearly|hardly|barely|scarcely|apply|reply|supply|multiply|imply|comply"
           r"|rely|family|only\s+if)\b)[a-z]{2,}ly|now|still|just|then|therefore|thus|hence|indeed|simply|only|also"
           r"|again|already|exactly|precisely|for\s+sure|of\s+course|in\s+fact|in\s+total|altogether|overall|so)")
_ADVERBS = re.compile(r"(?:" + _ADVERB + r",?\s+){1,2}")
# after "Answer:" at the start of a line, a sentence may state the value (as after "Final Answer:")
_LINE_START_BEFORE = re.compile(r"(?:^|\n)[ \t>#*_-]*(?:\d+\.\s*)?(?:\*\*)?(?:final\s+)?$")


# "the answer is" in other languages: the word for "answer" (lower case) and what may follow it
# before the value (a copula, a colon or a dash; "final" where the language puts it after the
# noun). Words in scripts without spaces (Chinese, Japanese) need no word boundary before them.
_FOREIGN_STATEMENTS: dict[str, re.Pattern] = {
    word: re.compile(tail, re.IGNORECASE) for word, tail in {
        "respuesta": r"(?:\s+final)?\s*(?:es|será|sería|:|=)(?![^\W\d_])",  # Spanish
        "resposta": r"(?:\s+final)?\s*(?:é|será|:|=)(?![^\W\d_])",  # Portuguese
        "risposta": r"(?:\s+finale)?\s*(?:è|sarà|:|=)(?![^\W\d_])",  # Italian
        "réponse": r"(?:\s+finale)?\s*(?:est|sera|serait|:|=)(?![^\W\d_])",  # French
        "reponse": r"(?:\s+finale)?\s*(?:est|sera|serait|:|=)(?![^\W\d_])",
        "antwort": r"\s*(?:ist|lautet|wäre|:|=)(?![^\W\d_])",  # German
        "ответ": r"\s*(?:[:—–=]|-(?!\d)|равен|равна|равно|будет|это|составляет)(?![^\W\d_])",  # Russian
        "答案": r"\s*(?:是|为|為|：|:|=)",  # Chinese
        "答え": r"\s*(?:は|：|:|=)",  # Japanese
        "解答": r"\s*(?:は|是|为|：|:|=)",
        "الإجابة": r"(?:\s+النهائية)?\s*(?:هي|هو|:|=)",  # Arabic
        "الاجابة": r"(?:\s+النهائية)?\s*(?:هي|هو|:|=)",
        "الجواب": r"(?:\s+النهائي)?\s*(?:هو|:|=)",
        "उत्तर": r"\s*(?:है|:|=|—|-(?!\d))",  # Hindi
    }.items()
}
_SPACELESS_SCRIPT_WORDS = ("答案", "答え", "解答", "الإجابة", "الاجابة", "الجواب")


def _statements(text: str, low: str) -> list[tuple[int, bool]]:
    """(end of the statement, is it a "final answer" one) for the last answer statements, in
    English and in the languages of `_FOREIGN_STATEMENTS`.

    Found with str.find on the word for "answer" first: a regex alternation tried at every
    position of a long response costs milliseconds, this costs microseconds.
    """
    found: list[tuple[int, int, bool]] = []  # (position of the word, end of the statement, final)
    for word, tail in (("answer", _STATEMENT_TAIL), *_FOREIGN_STATEMENTS.items()):
        hits = 0
        i = low.rfind(word)
        while i >= 0 and hits < _MAX_STATEMENTS_TRIED:
            if i == 0 or word in _SPACELESS_SCRIPT_WORDS or not low[i - 1].isalnum():
                m = tail.match(text, i + len(word))
                if m is not None:
                    # a sentence may follow "Final Answer:", and any "Answer:" that starts a line
                    sentence = (_FINAL_BEFORE.search(low, max(0, i - 16), i) is not None if word == "answer" else False) or (
                        _LINE_START_BEFORE.search(low, max(0, i - 40), i) is not None
                        and (word != "answer" or text[i + len(word): m.end()].strip(" \t*").startswith(":")))
                    found.append((i, m.end(), sentence))
                    hits += 1
            i = low.rfind(word, 0, i)
    found.sort()
    return [(end, final) for _, end, final in found[-_MAX_STATEMENTS_TRIED:]]


# math environments that may hold the value right after a statement
# (an escaped \$ inside inline math is a dollar sign, not the end of the math)
_ENV = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|\$((?:\\.|[^$\n\\])+?)\$", re.DOTALL)
_NUMBER = (
    r"[-+]?(?:\\\$|\$)?(?:\d{1,3}(?:(?:,|\\,|\\!|,\\!|\{,\}| )\d{3})+|\d+)(?:\.\d+)?"
    r"(?:\s*/\s*\d+)?(?:\s*(?:\\?%|percent\b))?"
)
_NUMBER_RE = re.compile(_NUMBER)
_CHOICE = re.compile(r"\(?\**([A-J])\**\)?(?=[\s.,;:!)*]|$)")
_WORD_END = re.compile(r"[A-Z][a-z]+(?=\s*(?:[.!]|\*\*|$|\n))")
_OPS = set("+-*/=×÷^<>≤≥")
_TRAIL_PUNCT = ".,;:!?*`"


def _ascii_alnum(c: str) -> bool:
    """A letter or digit that continues a number or a Latin word ("12です": です does not)."""
    return c.isascii() and c.isalnum()


def _plain_value(seg: str) -> tuple[str, int] | None:
    """A value written without math delimiters at the start of `seg`: (value, length) or None.

    Tokens separated by spaces are joined while they are operators or math (``x = 5``,
    ``3x + 2``, ``\frac{1}{2}``); a plain word of two or more letters ends the value.
    """
    m = _CHOICE.match(seg)
    if m and not re.match(r"\s+[a-z]", seg[m.end():]):
        return m.group(1), m.end()
    m = _WORD_END.match(seg)
    if m:
        return m.group(0), m.end()
    pos, last_end, parts = 0, 0, []
    n = min(len(seg), _MAX_PLAIN_VALUE_CHARS)
    while pos < n:
        while pos < n and seg[pos] in " \t":
            pos += 1
        if pos >= n or seg[pos] == "\n":
            break
        m = _NUMBER_RE.match(seg, pos)
        if m and m.end() > pos and (m.end() >= len(seg) or not _ascii_alnum(seg[m.end()]) and seg[m.end()] not in "\\{(^_"):
            tok_end = m.end()
        else:
            tok_end = pos
            while tok_end < n and not seg[tok_end].isspace():
                tok_end += 1
        tok = seg[pos:tok_end]
        core = tok.rstrip(_TRAIL_PUNCT)
        is_op = core in _OPS
        is_word = bool(re.fullmatch(r"[A-Za-z]{2,}", core.strip("*`")))
        if is_word or not core:
            break
        if parts and not is_op and parts[-1] not in _OPS:
            break  # two values in a row: "5 12" is not one answer
        parts.append(core)
        last_end = pos + len(core)
        if core != tok:  # punctuation after the token ends the sentence/clause
            break
        pos = tok_end
    while parts and parts[-1] in _OPS:
        parts.pop()
    if not parts:
        return None
    value = " ".join(parts)
    if not (re.search(r"\d", value) or "\\" in value):
        return None  # a lone letter is a choice (handled above) or a variable, not a value
    return value, last_end


_ENV_JOIN = re.compile(r"\s*(?:,\s*and|,|and|or)\s+")
# what joins two stated values into one answer of several parts ("5 or 6", "$x = 4$ or $x = 5$",
# "5 (or maybe 6)", "5 或 6"): a hedge between two values is then wrong for either of them
_HEDGE = (r",?\s*\(?\s*(?:or|but\s+(?:it|that|this)\s+(?:might|could|may)\s+(?:also\s+)?be)\b"
          r"(?:\s+(?:maybe|perhaps|possibly|even|also))?")
_VALUE_JOIN = re.compile(
    r"\s*(?:" + _HEDGE + r"|,\s*and\b|,|\band\b"
    r"|\bo\b|\bou\b|\boder\b|\bund\b|\bet\b|\by\b|или|либо|и(?=\s)|或者|或|还是|還是|または|か|と)\s*",
    re.IGNORECASE)
_HEDGE_AFTER = re.compile(r"(?:\s*(?:\$+|\\\)|\\\]))?\s*" + _HEDGE + r"\s*", re.IGNORECASE)  # after "$\boxed{8}$"


def _hedged_value(text: str, pos: int) -> str | None:
    """A second value offered right after an answer ("\\boxed{8}, or possibly 9"), else None."""
    h = _HEDGE_AFTER.match(text, pos)
    if h is None:
        return None
    env = _ENV.match(text, h.end())
    if env is not None:
        return next(g for g in env.groups() if g is not None).strip() or None
    pv = _plain_value(text[h.end(): h.end() + 300])
    return pv[0] if pv else None


def _value_after(text: str, pos: int, cut_off: bool) -> tuple[str, int, int] | None:
    """The stated value starting at `pos` (after an answer statement): (value, start, end)."""
    while pos < len(text) and text[pos] in " \t*\"'":
        pos += 1
    if text.startswith('\\"', pos):  # an escaped quote: "The final answer is \"$12$\""
        pos += 2
    adv = _ADVERBS.match(text, pos)  # "the answer is definitely 12", "is for sure D"
    if adv is not None:
        pos = adv.end()
    if text.startswith("####", pos):  # "The answer is #### 42"
        pos += 4
        while pos < len(text) and text[pos] in " \t*":
            pos += 1
    seg = text[pos : pos + 2000]
    if not seg:
        return None
    b = _BOX_START.match(seg)
    if b:
        box = _box_at(seg, b)
        return (box[0], pos + box[1], pos + box[2]) if box else None
    m = _ENV.match(seg)
    if m:
        inner = next(g for g in m.groups() if g is not None).strip()
        if not inner:
            return None
        inner_box = extract_answer(inner)
        values, end = [inner_box if inner_box is not None else inner], m.end()
        while len(values) < _MAX_JOINED_BOXES:  # "$12$ and $13$": one answer of several parts
            j = _ENV_JOIN.match(seg, end)
            nxt = _ENV.match(seg, j.end()) if j else None
            if nxt is None:
                break
            part = next(g for g in nxt.groups() if g is not None).strip()
            if part:
                values.append(part)
            end = nxt.end()
        return ", ".join(values), pos, pos + end
    pv = _plain_value(seg)
    if pv is None:
        return None
    value, length = pv
    values = [value]
    while len(values) < _MAX_JOINED_BOXES:  # "5 or 6": one answer of two parts, right for neither
        j = _VALUE_JOIN.match(seg, length)
        if j is None or j.end() == length:
            break
        env = _ENV.match(seg, j.end())
        if env is not None:
            part, end = next(g for g in env.groups() if g is not None).strip(), env.end()
        else:
            nxt = _plain_value(seg[j.end():])
            if nxt is None:
                break
            part, end = nxt[0], j.end() + nxt[1]
        values.append(part)
        length = end
    if cut_off and pos + length >= len(text.rstrip()):
        return None  # the value runs into the cut: "The answer is 12" may have been 125
    return ", ".join(dict.fromkeys(values)), pos, pos + length


_SENTENCE_END = re.compile(r"\.(?!\d)|\n|[!?。！？।؟]")
# the copula of a sentence after an answer marker, in the languages of the policy
_IS = re.compile(r"\b(?:is|are|was|be|equals|es|son|será|é|são|è|sono|est|sont|sera|ist|sind|beträgt|lautet"
                 r"|равн[аоы]|равен|составляет|будет|هو|هي|يساوي|تساوي)\b:?|[是为為はが]|(?:है|हैं)")


def _final_sentence_value(text: str, pos: int, cut_off: bool) -> tuple[str, int, int] | None:
    """After "Final Answer:" a sentence: the value after its "is", else its only number or math span."""
    end = _SENTENCE_END.search(text, pos, pos + 300)
    sentence = text[pos : end.start() if end else pos + 300]
    m = _IS.search(sentence)
    if m:
        v = _value_after(text, pos + m.end(), cut_off)
        if v is not None:
            return v
    if re.search(r"\bnot\b", sentence):
        return None
    envs = list(_ENV.finditer(sentence))
    rest = _ENV.sub(" ", sentence)
    nums = [x for x in _NUMBER_RE.finditer(rest) if x.group(0).strip("+-$\\")]
    if len(envs) + len(nums) != 1:
        return None
    if envs:
        e = envs[0]
        return next(g for g in e.groups() if g is not None).strip(), pos + e.start(), pos + e.end()
    x = nums[0].group(0)
    at = pos + sentence.find(x)
    return x, at, at + len(x)


# "$x \geq 5$ is the solution": found by its cheap tail, then the math span right before it
# (matched on the lower-cased text: a pattern that starts with a literal is searched fast)
_IS_THE_ANSWER = re.compile(r"is\s+(?:the|our|my)\s+(?:final\s+)?(?:answer|solution|result)\b")
_SPAN_BEFORE = re.compile(r"(?:\$[^$\n]{1,200}\$|\\\((?:(?!\\\)).){1,200}\\\))$")


def _last_statement(text: str, cut_off: bool) -> Extraction | None:
    found = None
    low = text.lower()  # same length as text for the scripts models write answers in
    if len(low) != len(text):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    for end, final in reversed(_statements(text, low)):
        v = _value_after(text, end, cut_off)
        if v is None and final:
            v = _final_sentence_value(text, end, cut_off)
        if v is not None:
            found = Extraction(v[0], "statement", v[1], v[2])
            break
    for m in reversed(list(_IS_THE_ANSWER.finditer(low))[-_MAX_STATEMENTS_TRIED:]):
        if found is not None and m.end() <= found.end:
            break
        window = max(0, m.start() - 210)
        before = text[window : m.start()].rstrip()
        span = _SPAN_BEFORE.search(before)
        if span is not None:
            inner = span.group(0)
            inner = inner[2:-2] if inner.startswith("\\(") else inner[1:-1]
            if inner.strip():
                found = Extraction(inner.strip(), "statement", window + span.start(), m.end())
                break
    return found


def _last_gsm8k_marker(text: str, cut_off: bool) -> Extraction | None:
    """GSM8K's ``#### N``: the value after the last ``####`` whose line holds nothing else (a
    markdown heading ``#### 2. Check`` is not an answer)."""
    i = text.rfind("####")
    tried = 0
    while i >= 0 and tried < _MAX_STATEMENTS_TRIED:
        tried += 1
        if text.startswith("#####", i) or (i > 0 and text[i - 1] == "#"):
            i = text.rfind("####", 0, i)
            continue
        v = _value_after(text, i + 4, cut_off)
        if v is not None:
            line_end = text.find("\n", v[2])
            rest = text[v[2]: line_end if line_end >= 0 else len(text)]
            if not rest.strip(" \t.*!$。"):
                return Extraction(v[0], "statement", v[1], v[2])
        i = text.rfind("####", 0, i)
    return None


def _last_tag(text: str) -> Extraction | None:
    last = None
    for m in _TAG.finditer(text):
        last = m
    if last is None:
        return None
    inner = last.group(1).strip()
    if not inner:
        return None
    box = _last_box_group(inner)
    if box is not None:
        value = box.answer
    else:
        env = _ENV.fullmatch(inner)
        value = next(g for g in env.groups() if g is not None).strip() if env else inner
    if not value or len(value) > _MAX_PLAIN_VALUE_CHARS:
        return None
    return Extraction(value, "tag", last.start(1), last.end(1))


# ----------------------------------------------------------------------------------------------
# closing statement of a finished response

# a value written on its own: a number (thousands groups, decimals, a/b, percent, currency) or a
# LaTeX value (\frac{7}{2}, 2\sqrt{3}, \pi)
_VALUE = (
    r"[-+]?(?:\\\$|\$)?(?:"
    r"\d*(?:\\(?:frac|dfrac|tfrac|sqrt|pi)\b\s*(?:\{[^{}\n]*\}|\d)*)+"
    r"|(?:\d{1,3}(?:(?:,|\\,|\\!|,\\!|\{,\}| )\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?"
    r")(?:\s*(?:\\?%|percent\b))?"
)
_BARE = re.compile(r"\s*(?P<value>" + _VALUE + r"|\(?[A-J]\)?)\s*(?:pct\b)?\s*\.?\s*")
_CLOSING = re.compile(
    r"(?:=|:|\b(?:is|are|was|were|equals|be|has|have|had|needs?|costs?|gets?|got|makes?|earns?|earned|pays?|paid"
    r"|spends?|spent|remains?|collects?|collected|sells?|sold|buys?|bought|reads?|eats?|ate|saves?|saved|scores?|scored"
    r"|owns?|holds?|contains?|weighs?|receives?|received|picks?|picked|bakes?|baked|uses?|used|takes?|took|walks?"
    r"|walked|runs?|ran|drives?|drove|travels?|traveled|travelled|leaves?|comes?\s+to|came\s+to)\b)\s*"
    r"(?:" + _ADVERB + r",?\s+){0,2}"  # "is now 9", "is definitely 12"
    r"(?:(?:a\s+)?total\s+of\s+)?"  # "Tom has a total of 10 balls."
    r"(?:\*\*|__)?(?P<value>" + _VALUE + r")(?:\*\*|__)?"  # "the total is **56**."
    r"(?P<units>(?:\s+(?:\\text\{[^{}\n]*\}|[A-Za-z][A-Za-z^0-9]*)){0,3})"
    # a tail of plain words ("24 eggs every morning before breakfast."): no other number, no math
    r"(?P<tail>(?:[ \t]+[A-Za-z][A-Za-z'’-]*[,;]?){0,15})"
    r"[\s.!*$]*(?:\\\]|\\\))?[\s.!*$]*$"
)
# a finished reply whose last sentence ends with one math span (and maybe a few unit words)
_TRAILING_ENV = re.compile(
    r"(?P<env>\$\$(?:(?!\$\$).){1,400}\$\$|\\\[(?:(?!\\\]).){1,400}\\\]|(?<![$\\])\$[^$\n]{1,200}\$|\\\((?:(?!\\\)).){1,200}\\\))"
    r"(?P<units>(?:\s+[A-Za-z]+){0,3})[\s.!*]*$",
    re.DOTALL,
)
_BINARY_OP = re.compile(r"(?<=[\w})\]])\s*(?:[-+*/×÷]|\\times|\\cdot|\\div)\s*(?=[\w\\({\[])")
_LAST_SIDE = re.compile(r"(?<![!<>=\\])=(?!=)")  # "=", not "!=", "<=", ">=", "=="
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
# a word in any script: two Latin letters, or one letter of another script (Greek letters are
# math: "2π"); "所以 5 + 3" and "Итак, 5 + 3 =" are sentences, never a bare value
_ANY_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}|[^\W\d_A-Za-z\u0370-\u03ff]")
_PERCENT_AFTER = re.compile(r"\s*(?:\\?%|percent\b|pct\b)", re.IGNORECASE)


_TRAILING_OP = re.compile(r"(?:[-+*/×÷=^]|\\times|\\cdot|\\div|\\pm)\s*$")
_INT_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*\d+\s*\}\s*\{\s*\d+\s*\}|\\[dt]?frac\s*\d\d")
_ARITHMETIC = re.compile(r"[\d\s.,+\-*/×÷()\[\]{}]+")
# a matrix or vector of plain numbers is a number too ("$A + B$" with both written out is a sum to do)
_NUMERIC_MATRIX = re.compile(r"\\begin\{([pbvB]?matrix)\}[\d\s.,&\\+-]*\\end\{\1\}")


def unfinished_calculation(expr: str) -> bool:
    r"""True for arithmetic still to be done: a trailing operator (``3 + 4 =``, ``12 \times``) or
    an expression of plain numbers with an operator between them (``4 + 6``, ``\frac12 + \frac13``,
    ``3 \cdot (2 + 1)``). An expression with a variable, a radical or a constant (``3x + 2``,
    ``1 + \sqrt{5}``, ``2\pi - 1``) is an answer, not an unfinished calculation."""
    s = expr.strip().rstrip(".,")
    if not s or _TRAILING_OP.search(s):
        return True
    plain = _NUMERIC_MATRIX.sub("1", _INT_FRAC.sub("1", s))
    for op, sym in (("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("\\left", ""), ("\\right", "")):
        plain = plain.replace(op, sym)
    return bool(_ARITHMETIC.fullmatch(plain)) and _BINARY_OP.search(plain) is not None


def _env_inner(env_text: str) -> str:
    for a, b in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if env_text.startswith(a) and env_text.endswith(b):
            return env_text[len(a) : len(env_text) - len(b)].strip()
    return env_text


def _env_value(env: re.Match) -> str | None:
    """The math inside a closing span, unless it is a calculation still to be done ("$5 + 5$")."""
    inner = _env_inner(env.group("env"))
    last = _LAST_SIDE.split(inner)[-1].strip().rstrip(".,")
    if not last or unfinished_calculation(last):
        return None
    return inner


# math spans written together before the closing one ("$x = 1$, $y = 4$", "$x = 4$ or $x = 5$")
_SPAN_BEFORE_JOIN = re.compile(
    r"(?P<env>\$[^$\n]{1,200}\$|\\\((?:(?!\\\)).){1,200}\\\))\s*(?:,\s*(?:and|or)|,|and|or)\s*$", re.DOTALL)


def _closing_statement(text: str) -> Extraction | None:
    tail_start = max(0, len(text) - 500)
    tail = text[tail_start:].rstrip()
    m = _TRAILING_ENV.search(tail)
    if m is not None:
        value = _env_value(m)
        if value is None:
            return None
        values, start = [value], m.start("env")
        while len(values) < _MAX_JOINED_BOXES:  # several answers written as separate spans: one answer
            before = _SPAN_BEFORE_JOIN.search(tail, 0, start)
            if before is None:
                break
            part = _env_value(before)
            if part is None:
                return None  # "$4 + 6$ or $x = 5$": part of it is unfinished
            values.insert(0, part)
            start = before.start("env")
        return Extraction(", ".join(dict.fromkeys(values)), "closing", tail_start + start, tail_start + m.end("env"))
    nl = tail.rfind("\n", 0, max(0, len(tail) - 1))
    line_start = nl + 1 if nl >= 0 else 0
    line = tail[line_start:]
    if not line.strip():
        return None
    m = _CLOSING.search(line)
    if m is None:
        return None
    before = line[: m.start()].rstrip()
    if m.group(0).startswith("=") and before and before[-1] in _OPS:
        return None  # "a == b" or "x <= 5" are not a stated value
    value = m.group("value")
    start = tail_start + line_start + m.start("value")
    return Extraction(value, "closing", start, start + len(value))


# Closing statements in the other languages of the policy (and Arabic, Hindi): the last sentence of
# a finished reply holds one value and a word that states it (a copula or quantity verb: 是, 有, est,
# ist, tiene, равно, है, يساوي, ...; or a conclusion: 所以, donc, итак, इसलिए, إذن, ...), no operator
# (not a calculation still to do), no hedge ("5 或 6"), no ordinal ("第3步"). English keeps `_CLOSING`;
# words that are also English words ("hat", "hay", "ha", "logo", "also", "son") are no cue.
_FOREIGN_CLOSING_CJK = re.compile(
    r"所以|因此|因而|故|总共|總共|一共|共有|合计|合計|总计|總計|是|有|为|為|等于|等於|剩下|剩|需要|得到|花了|用了"
    r"|よって|したがって|従って|つまり|なので|全部で|合計|は|です|あります|います|になります|必要")
_FOREIGN_CLOSING_WORDS = re.compile(
    r"(?:^|(?<=[\s,;:()«»\"'“”„—–*]))(?:"
    r"итак|значит|поэтому|таким\s+образом|всего|итого|равн[аоы]|равен|составляет|составят|будет|будут|есть|имеет|имеют"
    r"|осталось|останется|остаётся|получится|получаем|получим|нужно|потребуется|стоит|стоят"  # Russian
    r"|donc|ainsi|alors|au\s+total|il\s+y\s+a|est|sont|sera|seront|ont|reste|restent|coûte|coûtent|vaut"  # French
    r"|por\s+lo\s+tanto|entonces|así\s+que|en\s+total|es|será|tiene|tienen|quedan|queda|cuesta|cuestan"  # Spanish
    r"|portanto|então|no\s+total|é|são|tem|têm|há|custa|custam|sobram|sobra|restam"  # Portuguese
    r"|quindi|pertanto|dunque|in\s+totale|è|sono|hanno|costa|costano|restano|rimangono|rimane"  # Italian
    r"|daher|somit|folglich|insgesamt|ist|sind|haben|beträgt|betragen|kostet|kosten|bleiben|bleibt|gibt"  # German
    r"|إذن|إذًا|إذاً|اذن|لذلك|لذا|وبالتالي|بالتالي|المجموع|الإجمالي|يساوي|تساوي|هو|هي|لديه|لديها|لديهم|يكون|تكون"
    r"|أصبح|أصبحت|يوجد|توجد|هناك|يملك|تملك|بقي|يتبقى|سيكون|ستكون|يحتاج|تحتاج|سيحتاج|ستحتاج"  # Arabic
    r"|इसलिए|अतः|अत:|तो|कुल|है|हैं|होगा|होंगे|होगी|बराबर|बचे|बचेंगे|मिलेंगे|चाहिए|अब"  # Hindi
    r")(?=$|[\s,.;:!?()«»\"'“”।؟،—–*])", re.IGNORECASE)
_FOREIGN_HEDGE = re.compile(r"或|还是|還是|または|(?:^|(?<=\s))(?:или|либо|ou|oder|o|أو|او|या)(?=\s)", re.IGNORECASE)
_LAST_SENTENCE_END = re.compile(r"(?:\.(?!\d)|[!?。！？।؟\n])[^.!?。！？।؟\n]*$")
_CALCULATION = re.compile(r"[+*/×÷=^<>≤≥]|\\(?:times|cdot|div)|\d\s*-\s*\d")


def _foreign_closing(text: str) -> Extraction | None:
    tail_start = max(0, len(text) - 500)
    tail = text[tail_start:].rstrip().rstrip(".!。！।*")
    body_end = len(tail)
    m = _LAST_SENTENCE_END.search(tail)
    start = m.start() + 1 if m else 0
    sentence = tail[start:body_end]
    if not sentence.strip() or not (_FOREIGN_CLOSING_CJK.search(sentence) or _FOREIGN_CLOSING_WORDS.search(sentence)):
        return None
    if _FOREIGN_HEDGE.search(sentence) or "?" in sentence or "？" in sentence:
        return None
    envs = list(_ENV.finditer(sentence))
    rest = _ENV.sub(" ", sentence).replace("**", "  ").replace("__", "  ")  # bold marks are no operator
    if _CALCULATION.search(rest):
        return None  # "所以 5 + 3", "Итак, 5 + 3 ="
    nums = [x for x in _NUMBER_RE.finditer(rest) if x.group(0).strip("+-$\\")]
    if len(envs) + len(nums) != 1:
        return None
    if envs:
        e = envs[0]
        inner = next(g for g in e.groups() if g is not None).strip()
        last = _LAST_SIDE.split(inner)[-1].strip()
        if not last or unfinished_calculation(last):
            return None
        return Extraction(inner, "closing", tail_start + start + e.start(), tail_start + start + e.end())
    x = nums[0]
    before, after = rest[: x.start()], rest[x.end():]
    if before.rstrip().endswith(("第", "№", "#")) or after.lstrip().startswith(("番目", "位", "号")):
        return None  # an ordinal: "第3步", "3番目"
    if _ascii_alnum(after[:1]) or before[-1:].isascii() and before[-1:].isalpha():
        return None  # part of a word or a name ("x2", "H2O")
    at = sentence.find(x.group(0))
    return Extraction(x.group(0), "closing", tail_start + start + at, tail_start + start + at + len(x.group(0)))


def _whole_reply(text: str) -> Extraction | None:
    r"""A reply that is nothing but one value: "1/2", "(B)", "$\frac13$", "$$x \geq 5$$", "28 pct"."""
    stripped = text.strip()
    if not stripped or len(stripped) > 1000:
        return None
    lead = len(text) - len(text.lstrip())
    bare = _BARE.fullmatch(stripped)
    if bare:
        value = bare.group("value")
        letter = re.fullmatch(r"\(?([A-J])\)?", value)
        return Extraction(letter.group(1) if letter else value, "bare", lead + bare.start("value"),
                          lead + bare.end("value"))
    env = _ENV.match(stripped)
    if env:
        rest = stripped[env.end():]
        pct = _PERCENT_AFTER.match(rest)
        if pct:
            rest = rest[pct.end():]
        if not rest.strip(" \t\n.!"):
            inner = next(g for g in env.groups() if g is not None).strip()
            return Extraction(inner + ("\\%" if pct else ""), "bare", lead, lead + env.end()) if inner else None
    if not _ANY_WORD.search(re.sub(r"\\[A-Za-z]+", " ", stripped)) and re.search(r"\d", stripped) and len(stripped) <= 200:
        return Extraction(stripped.rstrip("."), "bare", lead, lead + len(stripped))  # "3 * 4", "x+1=5"
    return None


# ----------------------------------------------------------------------------------------------

# The reply ends at the first chat-template token (models sometimes write on into a new turn).
_END_OF_TURN = re.compile(r"<\|(?:im_end|im_start|endoftext|eot_id|end_of_text|end)\|>|</s>")
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
# chat-template tokens that open the reply ("<|im_start|>assistant\n", "<|start_header_id|>assistant<|end_header_id|>"):
# a reply that starts with its own turn header is graded on that turn, not cut to nothing
_LEADING_TEMPLATE = re.compile(
    r"(?:\s*(?:<s>|<\|begin_of_text\|>|<\|im_start\|>(?:assistant|model)?[ \t]*\n?"
    r"|<\|start_header_id\|>assistant<\|end_header_id\|>\s*|<\|assistant\|>\s*))*")
# In a reply cut off at the token limit, text after the last answer that takes it back: the model
# withdrew that answer and never gave another. ("check"/"verify" alone are not a retraction.)
_RETRACTION = re.compile(
    r"\b(?:wait|hmm+|hold\s+on|actually|oops|no,|not\s+(?:right|correct)|(?:is|was|'s)\s+(?:wrong|incorrect)|mistake"
    r"|an?\s+error|let\s+me\s+(?:re-?(?:compute|calculate|do|think|consider|evaluate|examine|check)|start\s+over|try\s+again)"
    r"|recompute|recalculate|reconsider|re-?examine|start\s+over)\b",
    re.IGNORECASE)


def extract_final_answer(response: str | None, finish_reason: str | None = None) -> Extraction:
    """The answer the `entropykit` policy grades in `response` (see the module docstring).

    `finish_reason` "length" means the response was cut off at the token limit.
    """
    if not response:
        return NO_ANSWER
    offset = max(0, len(response) - MAX_SEARCH_CHARS)
    text = (response[offset:] if offset else response).translate(_MINUS)  # 1:1, so positions hold
    lead = _LEADING_TEMPLATE.match(text)
    if lead is not None and lead.end() > 0:  # "<|im_start|>assistant\n...": the turn starts after its header
        offset, text = offset + lead.end(), text[lead.end():]
    eot = _END_OF_TURN.search(text)
    if eot:
        text = text[: eot.start()]
    cut_off = finish_reason == "length" and eot is None
    think_end = text.rfind(_THINK_CLOSE)
    if think_end >= 0:  # reasoning, then the reply: only the reply states the answer
        skip = think_end + len(_THINK_CLOSE)
        offset, text = offset + skip, text[skip:]
    elif _THINK_OPEN in text:
        # still thinking when it stopped: nothing was answered yet; except a finished reply that
        # forgot </think> and gave its answer in <answer> tags after the <think>
        tag = None if cut_off else _last_tag(text)
        if tag is None or tag.start < text.rfind(_THINK_OPEN):
            return NO_ANSWER
        answer = normalize_answer(tag.answer or "")
        return Extraction(answer, "tag", tag.start + offset, tag.end + offset) if answer else NO_ANSWER
    found = [x for x in (_last_box_group(text), _last_statement(text, cut_off), _last_tag(text),
                         _last_gsm8k_marker(text, cut_off)) if x is not None]
    if found:
        best = max(found, key=lambda x: (x.end, x.kind != "statement"))
        if cut_off and _RETRACTION.search(text, best.end):
            return NO_ANSWER  # cut off while taking the answer back
        other = _hedged_value(text, best.end)
        if other is not None:  # a hedge between two answers is right for neither
            best = Extraction(f"{best.answer}, {other}", best.kind, best.start, best.end)
    else:  # implicit answers count only in a finished reply (rule 3)
        best = None if cut_off else (_whole_reply(text) or _closing_statement(text) or _foreign_closing(text))
        if best is None:
            return NO_ANSWER
    answer = normalize_answer(best.answer or "")
    if not answer:
        return NO_ANSWER
    return Extraction(answer, best.kind, best.start + offset, best.end + offset)


# ----------------------------------------------------------------------------------------------
# inequalities and intervals: "x > 2" states the same set as "(2, \infty)"

_LT = r"(?:<|\\lt\b|\\le(?:q|qslant)?\b|\\leqslant\b|≤|<=)"
_GT = r"(?:>|\\gt\b|\\ge(?:q|qslant)?\b|\\geqslant\b|≥|>=)"
_VAR = r"[a-zA-Z](?:_\{?\w+\}?)?"
_BOUND = r"[^<>=≤≥]{1,80}?"
_ONE_SIDED = re.compile(rf"\s*(?P<var>{_VAR})\s*(?P<op>{_LT}|{_GT})\s*(?P<b>{_BOUND})\s*")
_ONE_SIDED_REV = re.compile(rf"\s*(?P<b>{_BOUND})\s*(?P<op>{_LT}|{_GT})\s*(?P<var>{_VAR})\s*")
_TWO_SIDED = re.compile(rf"\s*(?P<a>{_BOUND})\s*(?P<op1>{_LT})\s*(?P<var>{_VAR})\s*(?P<op2>{_LT})\s*(?P<b>{_BOUND})\s*")
_INTERVAL = re.compile(r"\s*(?:\\left)?[(\[].*,.*(?:\\right)?[)\]]\s*")


def _strict(op: str) -> bool:
    return op in ("<", ">", "\\lt", "\\gt")


def _side_is_number(b: str) -> bool:
    return not re.fullmatch(r"\s*" + _VAR + r"\s*", b) and bool(re.search(r"[\d\\]", b))


def inequality_as_interval(s: str) -> str | None:
    r"""The interval a one-variable inequality states, in LaTeX (``x > 2`` -> ``(2, \infty)``,
    ``x \geq -1`` -> ``[-1, \infty)``, ``1 < x \le 3`` -> ``(1, 3]``); None for anything else."""
    s = s.strip().strip("$").strip()
    m = _TWO_SIDED.fullmatch(s)
    if m and _side_is_number(m["a"]) and _side_is_number(m["b"]):
        lo = "(" if _strict(m["op1"].strip()) else "["
        hi = ")" if _strict(m["op2"].strip()) else "]"
        return f"{lo}{m['a'].strip()}, {m['b'].strip()}{hi}"
    for pattern, flipped in ((_ONE_SIDED, False), (_ONE_SIDED_REV, True)):
        m = pattern.fullmatch(s)
        if not m or not _side_is_number(m["b"]):
            continue
        op = m["op"].strip()
        above = bool(re.fullmatch(_GT, op)) != flipped  # var > b, or b < var
        b = m["b"].strip()
        if above:
            return ("(" if _strict(op) else "[") + f"{b}, \\infty)"
        return f"(-\\infty, {b}" + (")" if _strict(op) else "]")
    return None


def as_interval_like(answer: str, gold: str) -> tuple[str, str]:
    """(answer, gold) with an inequality rewritten as the interval it states when the other of
    the two is written as an interval, so math-verify compares sets with sets."""
    if _INTERVAL.fullmatch(gold.strip("$")):
        answer = inequality_as_interval(answer) or answer
    elif _INTERVAL.fullmatch(answer.strip("$")):
        gold = inequality_as_interval(gold) or gold
    return answer, gold
