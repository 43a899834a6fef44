"""Issue 24: the grading families found by holding the grader against other graders' test suites.
Each family has corpus cases both ways (evalkit/data/grading_cases.jsonl, checked through every
path by test_evalkit_verify.py); here the rules themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entropykit.extract import extract_final_answer, normalize_answer, repair_for_parsing
from entropykit.verify import grade

CORPUS = Path(__file__).resolve().parents[1] / "evalkit" / "data" / "grading_cases.jsonl"
FAMILIES_24 = ("gsm8k_marker", "marker_sentence", "foreign_closing", "adverbs", "gold_units", "mathverify_repairs",
               "decisions_24")


def test_each_family_has_corpus_cases_both_ways():
    cases = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    for fam in FAMILIES_24:
        verdicts = [c["expected"] for c in cases if c["category"] == fam]
        assert len(verdicts) >= 6 and True in verdicts and False in verdicts, fam


@pytest.mark.parametrize("response, answer", [
    # 1. GSM8K's marker: at the end, after an answer phrase; a numbered markdown heading is no answer
    ("Each bag has 6, and 3 bags hold 18.\n#### 18", "18"),
    ("So the answer is #### 42", "42"),
    ("Answer: #### 42", "42"),
    ("#### 16\nOops, I missed two: #### 18", "18"),
    ("#### 3. Verify the result\nIt works.", None),
    # 2. a sentence after an answer marker, in every language of the policy
    ("答案：每份是 0.4 吨。", "0.4"),
    ("Ответ: каждая часть равна 0.4 тонны.", "0.4"),
    ("Respuesta: cada parte pesa 0.4 toneladas.", "0.4"),
    ("Antwort: Jeder Teil wiegt 0.4 Tonnen.", "0.4"),
    ("Ответ: 3 или 4 тонны.", "3, 4"),
    # 3. closing statements in other languages, Arabic and Hindi; never unfinished arithmetic or a hedge
    ("所以一共有13只鸟。", "13"),
    ("Le pourcentage est de **25%**.", "25%"),
    ("अब 67 कमीजें हैं।", "67"),
    ("إذن لديه 67 قميصًا.", "67"),
    ("Por lo tanto, Juan tiene 15 manzanas.", "15"),
    ("Quindi Marco ha 15 mele.", "15"),
    ("Portanto, Ana tem 15 maçãs.", "15"),
    ("所以 5 + 3", None),
    ("Итак, 5 + 3 =", None),
    ("所以是 5 或 6。", None),
    ("所以第2个盒子最多。", None),
    # 4. adverbs between the verb and the value: the class, not a list
    ("So the total is definitely 12.", "12"),
    ("So the total is surely 12.", "12"),
    ("The answer is for sure D.", "D"),
    ("The answer is undoubtedly $\\frac{3}{4}$.", "\\frac{3}{4}"),
    ("So the total is approximately 12.", None),
    ("The answer is definitely not 12.", None),
])
def test_extraction_families(response, answer):
    assert extract_final_answer(response, "stop").answer == answer


@pytest.mark.parametrize("raw, normalized", [
    ("10 weeks", "10"), ("10 cm^2", "10"), ("3.5 km/h", "3.5"), ("1,000 dollars", "1,000"), ("12 m", "12"),
    ("2 pi", "2 pi"), ("3 and 4", "3 and 4"), ("5 \\text{ cm}", "5 \\text{ cm}"),  # math words stay; \text is math-verify's
    ("(D) Alina", "D"), ("C Cecile", "C"), ("B. x = 42", "B"), ("A", "A"),
    ("٦٧", "67"), ("६७", "67"),
])
def test_gold_and_answer_normalisation(raw, normalized):
    assert normalize_answer(raw) == normalized


@pytest.mark.parametrize("raw, repaired", [
    ("3128 1/2", "\\frac{6257}{2}"), ("-1 1/2", "-\\frac{3}{2}"), ("3 4/2", "3 4/2"),  # improper: not a mixed number
    ("2.3148\\times 10^{-3}", "0.0023148"), ("6.02e23", "602000000000000000000000"),
    ("1; 2; 3", "1, 2, 3"), ("x = 1\\; y", "x = 1\\; y"),
    ("Eq(x**2/4 + y**2/3, 1)", "x^2/4 + y^2/3 = 1"), ("sqrt(2)/2", "\\sqrt{2}/2"), ("Rational(1, 3)", "\\frac{1}{3}"),
    ("E'", "E_{p}"), ("\\text{don't}", "\\text{don't}"), ("30^\\circ", "30^\\circ"),
])
def test_repairs_before_math_verify(raw, repaired):
    assert repair_for_parsing(raw) == repaired


@pytest.mark.parametrize("gold, response, correct", [
    ("3128 1/2", "\\boxed{6257/2}", True), ("1 1/2", "\\boxed{1}", False), ("6257/2", "\\boxed{3128 1/2}", True),
    ("E", "\\boxed{E'}", False), ("E'", "\\boxed{E'}", True),
    ("1+2i", "\\boxed{i(2-i)}", True), ("1-2i", "\\boxed{i(2-i)}", False), ("x + y", "\\boxed{y + x}", True),
    ("\\frac{1}{432}", "\\boxed{2.3148\\times 10^{-3}}", True), ("\\frac{1}{432}", "\\boxed{0.0023148}", True),
    ("(1, 2); (3, 4)", "\\boxed{(1, 2), (3, 4)}", True), ("(1, 2); (3, 4)", "\\boxed{(1, 2)}", False),
    ("Eq(x**2/4 + y**2/3, 1)", "\\boxed{1}", False), ("Eq(x**2/4 + y**2/3, 1)", "\\boxed{\\frac{x^2}{4}+\\frac{y^2}{3}=1}", True),
    ("\\cos x", "\\boxed{\\sin(90^\\circ - x)}", True), ("\\cos x", "\\boxed{\\sin(90^\\circ + x)}", True), ("\\cos x", "\\boxed{\\sin(60^\\circ - x)}", False),
    ("10 weeks", "\\boxed{10}", True), ("10 weeks", "\\boxed{11}", False),
])
def test_math_verify_repairs_in_grading(gold, response, correct):
    assert grade(gold, response).correct is correct


@pytest.mark.parametrize("response, finish, answer", [
    # 7. decisions: a leading turn header, <answer> after an unclosed <think>, a choice with its text
    ("<|im_start|>assistant\nSo \\boxed{5}.<|im_end|>", "stop", "5"),
    ("<|start_header_id|>assistant<|end_header_id|>\n\nThe answer is 5.<|eot_id|>", "stop", "5"),
    ("<|im_end|>The answer is 5.", "stop", None),  # an end-of-turn token first: the turn is empty
    ("<think>2 + 3 = 5\n<answer>5</answer>", "stop", "5"),
    ("<think>2 + 3 = 5\n<answer>5</answer>", "length", None),
    ("<answer>4</answer><think>hmm, 2 + 3 = 5", "stop", None),  # the tag came before the unfinished thought
    ("<think>2 + 3 = 5, so the answer is 5", "stop", None),
])
def test_decisions_of_issue_24(response, finish, answer):
    assert extract_final_answer(response, finish).answer == answer
