"""The grader: the corpus through every path, the defects of issue 8, the extraction policy,
verdict keys and the pool's hard per-item limit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from entropykit.sampling import backend_info
from entropykit.verify import GRADERS, Verdict, Verifier, grade, grader_version, verdict_key, verify_batch, verify_one

CORPUS = Path(__file__).resolve().parents[1] / "evalkit" / "data" / "grading_cases.jsonl"
# Cases the entropykit grader is known to get wrong (listed by bench/grading.py too). Fixing one
# must remove it here: the test asserts this exact set.
KNOWN_WRONG: set[str] = set()  # intervals-06 ("x \ge 0" vs "[0, \infty)") is graded as the interval it states since policy 5


def _cases() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _args(cases):
    return [c["gold"] for c in cases], [c["response"] for c in cases], [c.get("finish_reason") for c in cases]


def test_corpus_is_well_formed():
    cases = _cases()
    assert len(cases) >= 150
    assert len({c["id"] for c in cases}) == len(cases)
    for c in cases:
        assert set(c) >= {"id", "category", "gold", "response", "finish_reason", "expected", "why"}, c["id"]
        assert isinstance(c["expected"], bool) and c["why"].strip()
    cats = {c["category"] for c in cases}
    assert {"several_boxes", "self_correction", "final_answer_statement", "unfinished_calculation", "cut_off",
            "units", "percent", "fractions", "thousands", "negatives", "intervals", "sets", "tuples",
            "multiple_choice", "answer_tags", "far_from_end", "unicode_minus", "hostile"} <= cats


def test_corpus_through_every_path():
    """grade(), Verifier(workers=0) and a 2-worker pool give identical verdicts, all as expected."""
    cases = _cases()
    fast = [c for c in cases if not c.get("slow")]  # the slow ones only under a time limit
    single = [grade(c["gold"], c["response"], finish_reason=c.get("finish_reason")) for c in fast]
    with Verifier(workers=0) as v:
        in_process = v.verify(*_args(fast))
    with Verifier(workers=2, timeout_s=2.0) as v:
        pooled = v.verify(*_args(cases))
    by_id = dict(zip([c["id"] for c in cases], pooled))
    assert single == in_process == [by_id[c["id"]] for c in fast]
    wrong = {c["id"] for c, v in zip(cases, pooled) if v.correct != c["expected"]}
    assert wrong == KNOWN_WRONG, {i: (by_id[i].pred, by_id[i].correct) for i in wrong ^ KNOWN_WRONG}
    for c in cases:
        if c.get("slow"):
            assert by_id[c["id"]].timed_out, c["id"]


# ------------------------------------------------------------------ the defects of issue 8


def test_defect0_no_credit_without_a_stated_answer():
    assert grade("7", "...So Sam now has 3 + 4 =", finish_reason="length") == Verdict(False, pred=None)
    assert grade("10", "...there are 5 + 5", finish_reason="length") == Verdict(False, pred=None)
    assert verify_one("12", "so we multiply 3 * 4") == Verdict(False, pred=None)
    # a stated answer counts, and is recorded as pred
    assert grade("12", "so we multiply 3 * 4 = 12.") == Verdict(True, pred="12")
    assert grade("12", "The answer is 12.") == Verdict(True, pred="12")
    # cut off at the token limit: only a complete explicit answer counts
    assert not grade("12", "so we multiply 3 * 4 = 12.", finish_reason="length").correct
    assert grade("12", "so \\boxed{12}. Let me also check the", finish_reason="length").correct
    assert not grade("125", "the answer is 12", finish_reason="length").correct


def test_defect1_every_path_grades_like_grade():
    resp = "The answer is 5. \\boxed{}"
    assert verify_one("5", resp) == grade("5", resp) == Verdict(True, pred="5")
    for workers in (0, 1, 2):
        with Verifier(workers=workers) as v:
            assert v.verify(["5"], [resp]) == [Verdict(True, pred="5")], workers
    assert grade("5", resp, grader="mathverify-default").correct


def test_defect2_timeouts_are_never_cached():
    with Verifier(workers=1, timeout_s=0.5) as v:
        hostile = "\\boxed{9^{9^{9^{9}}}}"
        a = v.verify(["2"], [hostile])[0]
        b = v.verify(["2"], [hostile])[0]
        assert a.timed_out and b.timed_out and a.pred == "9^{9^{9^{9}}}"
        assert v.stats["timeouts"] == 2 and v.stats["cached"] == 0  # judged again, not served from the cache
        assert v.verify(["3"], ["\\boxed{3}"])[0].correct  # the replacement worker serves


def test_defect4_thin_space_thousands():
    assert grade("1000", "\\boxed{1\\,000}").correct
    assert grade("1\\,000", "\\boxed{1000}").correct
    assert grade("1234567", "The total is $1\\,234\\,567$.").correct
    assert not grade("10000", "\\boxed{1\\,000}").correct
    assert grade("(1, 000)", "\\boxed{(1, 000)}").correct  # a comma with a space stays a separator


# ------------------------------------------------------------------ the policy (evalkit/README.md)

POLICY_EXAMPLES = [  # (response, finish_reason, extracted answer); one line per rule of the README
    (r"\boxed{12} Wait, I forgot two. \boxed{14}", None, "14"),
    (r"... so \boxed{85}. Times 123: The final answer is $10,455$.", None, "10,455"),
    (r"$\boxed{(2, 2)} \quad\text{and}\quad \boxed{(6, 2)}$", None, "(2, 2), (6, 2)"),
    (r"$x = \boxed{1}$ or $x = \boxed{2}$", None, "1, 2"),
    (r"The answer is 5. \boxed{}", None, "5"),
    (r"\boxed{8}. Checking: 2^3 = 8, so the answer is correct.", None, "8"),
    ("<answer>7</answer>", None, "7"),
    ("Answer: (B)", None, "B"),
    ("So Sam now has 3 + 4 = 7 apples.", None, "7"),
    ("So Sam now has 3 + 4 = 7 apples.", "length", None),
    ("So Sam now has 3 + 4 =", None, None),
    ("so we multiply 3 * 4", None, None),
    ("there are $5 + 5$", None, None),
    ("1/2", None, "1/2"),
    ("The answer is \u22125.", None, "-5"),
    ("The answer is 1\\,000.", None, "1000"),
    ("The answer is 12", "length", None),
    (r"\boxed{7} then cut mid-sent", "length", "7"),
]


@pytest.mark.parametrize("response,finish_reason,answer", POLICY_EXAMPLES)
def test_policy_examples(response, finish_reason, answer):
    from entropykit.extract import extract_final_answer

    assert extract_final_answer(response, finish_reason).answer == answer


@pytest.mark.timeout(120)  # a quadratic blow-up on these would take many minutes: a hang, not slowness
def test_extraction_survives_hostile_text():
    from entropykit.extract import MAX_SEARCH_CHARS, extract_final_answer

    for text in ("\\boxed{" * 20000, "{" * 200000, "answer is " * 30000, "}" * 200000, "$" * 100001,
                 "\\boxed{1}" + " = 3 +" * 40000, "is the answer " * 20000, "$x$ " * 50000):
        assert extract_final_answer(text).answer in (None, "1", "x"), text[:20]
    far = "x " * MAX_SEARCH_CHARS + "\\boxed{4}"
    assert extract_final_answer(far).answer == "4"
    beyond = "\\boxed{4}" + "x " * MAX_SEARCH_CHARS  # only the last MAX_SEARCH_CHARS are searched
    assert extract_final_answer(beyond).answer is None


# ------------------------------------------------------------------ API and keys


def test_verdict_dict_roundtrip_and_old_dicts():
    v = Verdict(True, False, None, "1/2")
    assert Verdict.from_dict(v.to_dict()) == v and v.to_dict()["pred"] == "1/2"
    assert Verdict.from_dict({"correct": True, "timed_out": False, "error": None}) == Verdict(True)


def test_verdict_key_is_versioned_and_follows_what_is_graded():
    k = verdict_key("5", "so \\boxed{5}")
    assert k == verdict_key("5", "Thinking differently... \\boxed{5}")  # same answer graded: one key
    assert k != verdict_key("5", "so \\boxed{6}") and k != verdict_key("6", "so \\boxed{5}")
    assert k != verdict_key("5", "so \\boxed{5}", grader="mathverify-default")
    assert verdict_key("7", "3 + 4 = 7.") != verdict_key("7", "3 + 4 = 7.", "length")  # cut off: no answer
    assert len(k) == 64 and int(k, 16) >= 0
    assert grader_version("entropykit") != grader_version("mathverify-default")
    with pytest.raises(ValueError, match="unknown grader"):
        verdict_key("5", "x", grader="nope")


def test_graders_and_finish_reasons_through_the_pool():
    assert GRADERS == ("entropykit", "mathverify-default")
    golds, resps = ["7", "7"], ["3 + 4 = 7.", "3 + 4 = 7."]
    got = verify_batch(golds, resps, finish_reasons=[None, "length"], workers=1)
    assert [v.correct for v in got] == [True, False]
    mv = verify_batch(["12"], ["so we multiply 3 * 4"], grader="mathverify-default", workers=1)
    assert mv[0].correct and mv[0].pred == "3 * 4"  # Math-Verify's own extraction, unchanged
    with pytest.raises(ValueError, match="unknown grader"):
        Verifier(workers=0, grader="nope")
    with Verifier(workers=0) as v, pytest.raises(ValueError, match="finish reasons"):
        v.submit(["1"], ["1"], [None, None])


def test_pool_batches_keep_each_items_limit():
    """A chunk of fast items with a hostile one in the middle: the hostile one alone times out."""
    golds = [str(i) for i in range(40)]
    resps = [f"\\boxed{{{i}}}" for i in range(40)]
    resps[17] = "\\boxed{10^{10^{10^{10}}}}"
    with Verifier(workers=2, timeout_s=1.0, cache=False) as v:
        assert v.wait_ready()
        t = time.monotonic()
        got = v.verify(golds, resps)
        elapsed = time.monotonic() - t
    assert [g.timed_out for g in got] == [i == 17 for i in range(40)]
    assert all(g.correct for i, g in enumerate(got) if i != 17)
    assert elapsed < 1.0 + 6.0, elapsed  # one limit plus a worker restart on a loaded machine


# ------------------------------------------------------------------ passk records and run folders


class _CannedGenerator:
    """Stands in for a model: every prompt gets 'So the total is 3 + 4 = 7.', the odd samples cut off."""

    info = backend_info("hf")  # the Generator protocol: what callers ask of a backend
    batch_size = 16

    def check_fits(self, prompts, max_tokens, name):
        pass
    tokenizer = None

    def stream(self, prompts, sampling, seeds):  # the Generator protocol (entropykit.generation)
        from entropykit.generation import Completion

        for i, ss in enumerate(seeds):
            for j, s in enumerate(ss):
                yield i, j, Completion("So the total is 3 + 4 = 7.", [1, 2, 3], "length" if s % 2 else "stop", s)

    def stream_chunks(self, chunks, sampling):
        from entropykit.generation import chunks_one_by_one

        return chunks_one_by_one(self, chunks, sampling)

    def generate(self, prompts, sampling, seeds, progress=None):
        out = [[None] * len(ss) for ss in seeds]
        for i, j, c in self.stream(prompts, sampling, seeds):
            out[i][j] = c
        return out

    def sync_weights(self, named, folder=None):
        pass

    def close(self):
        pass


def test_passk_records_carry_pred_and_grader_and_other_graders_are_refused(tmp_path):
    from entropykit.errors import UserError
    from entropykit.evalkit.runner import PasskConfig, run_passk

    cfg = PasskConfig(model="canned", benchmarks=["easy"], out=str(tmp_path / "run"), n=4, limit=2, workers=1,
                      html=False, quiet=True)
    s = run_passk(cfg, generator=_CannedGenerator())
    recs = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(recs) == 8 and all(r["grader"] == "entropykit" for r in recs)
    for r in recs:  # cut off: no explicit answer, so no pred and wrong; finished: "= 7" is the answer
        cut = r["finish_reason"] == "length"
        assert (r["pred"], r["correct"]) == ((None, False) if cut else ("7", r["answer"] == "7")), r
    assert json.loads((tmp_path / "run" / "run.json").read_text())["settings"]["grader"] == "entropykit"
    assert s["sampling"]["grader"] == "entropykit"
    cfg.grader = "mathverify-default"
    with pytest.raises(UserError, match="grader='entropykit'"):
        run_passk(cfg, generator=_CannedGenerator())
    cfg.grader = "nope"
    with pytest.raises(UserError, match="unknown --grader"):
        run_passk(cfg, generator=_CannedGenerator())


def test_verdict_cache_is_bounded():
    with Verifier(workers=0, cache_size=10) as v:
        v.verify([str(i) for i in range(25)], [f"\\boxed{{{i}}}" for i in range(25)])
        judged = v.stats["verified"]
        assert v.verify(["24"], ["\\boxed{24}"])[0].correct and v.stats["verified"] == judged  # recent: cached
        assert v.verify(["0"], ["\\boxed{0}"])[0].correct and v.stats["verified"] == judged + 1  # oldest: dropped


# ------------------------------------------------------------------ issue 16: how real models end their answers

FAMILIES_16 = ("closing-bold-tail", "closing-expression", "multi-span", "hedge", "multilingual", "decisions")


def test_each_family_of_real_endings_has_cases_both_ways():
    cases = _cases()
    for fam in FAMILIES_16:
        verdicts = [c["expected"] for c in cases if c["category"] == fam]
        assert len(verdicts) >= 6 and True in verdicts and False in verdicts, fam


@pytest.mark.parametrize("expr, unfinished", [
    ("4 + 6", True), (r"\frac{1}{2} + \frac{1}{3}", True), (r"3 \cdot (2 + 1)", True), ("3 + 4 =", True),
    (r"12 \times", True), (r"\begin{pmatrix}1 & 2\end{pmatrix} + \begin{pmatrix}3 & 4\end{pmatrix}", True),
    ("3x + 2", False), (r"1 + \sqrt{5}", False), (r"2\pi - 1", False), ("x^2 + 5x + 6", False), ("-5", False),
    (r"\frac{7}{2}", False), ("2^{10}", False), ("1,000", False),
])
def test_unfinished_calculation_is_arithmetic_still_to_do(expr, unfinished):
    from entropykit.extract import unfinished_calculation

    assert unfinished_calculation(expr) is unfinished


@pytest.mark.parametrize("ineq, interval", [
    ("x > 2", r"(2, \infty)"), (r"x \geq -1", r"[-1, \infty)"), ("x < 5", r"(-\infty, 5)"), (r"x \le 0", r"(-\infty, 0]"),
    ("2 < x", r"(2, \infty)"), ("1 < x < 3", "(1, 3)"), (r"1 \le x < 3", "[1, 3)"), (r"x \geq \frac{1}{2}", r"[\frac{1}{2}, \infty)"),
    ("x > y", None), ("y = 3", None), (r"x \neq 2", None),
])
def test_inequality_as_interval(ineq, interval):
    from entropykit.extract import inequality_as_interval

    assert inequality_as_interval(ineq) == interval


@pytest.mark.parametrize("response, answer", [
    ("So the total is **56**.", "56"),
    ("So the farmer collects 24 eggs every morning before breakfast.", "24"),
    ("After the swap the count is now 9.", "9"),
    ("So Tom has 12 apples and 3 pears left.", None),  # two quantities: no single stated value
    ("The line is therefore $y = 3x + 2$.", "y = 3x + 2"),
    ("Adding them we get $4 + 6$.", None),
    ("So $x = 1$, $y = 4$.", "x = 1, y = 4"),
    ("The answer is 5 or 6, I can't tell.", "5, 6"),
    ("The answer is $5$ or $6$.", "5, 6"),
    (r"So the answer is $\boxed{8}$, or possibly 9.", "8, 9"),
    ("I think the answer is 2, but it might be 3.", "2, 3"),
    ("所以，答案是 9。", "9"), ("最终答案：$12$", "12"), ("よって、答えは12です。", "12"), ("La respuesta es 12.", "12"),
    ("Donc la réponse finale est 7.", "7"), ("Die Antwort lautet 7.", "7"), ("Ответ: 12.", "12"), ("Ответ равен 7.", "7"),
    ("所以 5 + 3", None), ("Итак, 5 + 3 =", None), ("答案是 5 或 6", "5, 6"), ("La respuesta es 5 o 6.", "5, 6"),
])
def test_real_endings(response, answer):
    from entropykit.extract import extract_final_answer

    assert extract_final_answer(response, "stop").answer == answer


@pytest.mark.parametrize("response, finish, answer", [
    (r"so \boxed{12}. Wait, that is not right. Let me recompute: 4 times 5 is", "length", None),
    (r"\boxed{12}. To double-check: 3 times 4 is 12, and adding", "length", "12"),
    ("<think>\nso the answer is 7. But wait", "length", None),
    ("<think>the answer is 6</think>\n\nThe answer is $\\boxed{7}$.", "stop", "7"),
    ("<think>the answer is 6</think>\n\n", "stop", None),  # thought of an answer, never gave one
    (r"Each box holds \boxed{6} eggs, so 2 boxes hold 12 eggs.", "stop", "6"),  # explicit beats a later implicit closing
])
def test_documented_decisions(response, finish, answer):
    from entropykit.extract import extract_final_answer

    assert extract_final_answer(response, finish).answer == answer


def test_a_chunk_larger_than_the_pipe_never_blocks_the_watchdog(tmp_path):
    """Replies of 12 KB after a hostile answer (mathverify-default sends whole responses). Sending
    a chunk of them ahead into the worker's pipe while the worker hangs on the hostile answer blocked the
    coordinator, whose watchdog then never killed the worker: the call hung for good. Run in a
    child process so that a regression fails on the time limit instead of hanging the suite."""
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "pipe.py"
    script.write_text(
        "from entropykit.verify import Verifier\n"
        # 39 answers that take a few ms each (the worker reports some before it reaches the hostile
        # one, so the coordinator sends ahead), the hostile one, then 40 replies of 12 KB: the chunk
        # sent ahead exceeds the pipe (distinct strings: pickle would send equal ones once)
        "fast = ['\\\\boxed{\\\\frac{%d}{7} + \\\\frac{1}{3}}' % i for i in range(39)]\n"
        "long = ['Reply %d. ' % i + 'We add the numbers one by one. ' * 400 + 'The answer is $\\\\boxed{3}$.' for i in range(40)]\n"
        "with Verifier(workers=1, timeout_s=1.0, cache=False, grader='mathverify-default') as v:\n"
        "    assert v.wait_ready()\n"
        "    got = v.verify(['0'] * 39 + ['2'] + ['3'] * 40, fast + ['\\\\boxed{9^{9^{9^{9}}}}'] + long)\n"
        "print(sum(g.timed_out for g in got), got[39].timed_out, all(g.correct for g in got[40:]))\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and its spinning worker
        proc.communicate()
        pytest.fail("the verifier hung: a chunk that does not fit the pipe blocked its watchdog")
    assert proc.returncode == 0, err[-2000:]
    assert out.split("\n")[0] == "1 True True", out
