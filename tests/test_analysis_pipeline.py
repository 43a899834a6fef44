"""run_analysis end to end with a fake scorer (hand-checkable numbers), the token cache, and the
CLI's bad-input contract (one stderr line, exit code 2)."""

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

import entropykit.models
import entropykit.scoring
from entropykit.analysis import AnalyzeConfig, compare_groups, run_analysis
from entropykit.scoring import ScoredResponse

PIVOTAL = {"first", "so", "however"}
REFLECT = {"wait", "verify", "check"}


def fake_entropy(tok: str) -> float:
    w = re.sub(r"[^\w]", "", tok).lower()
    return 2.0 if w in PIVOTAL else 1.5 if w in REFLECT else 1.0


def fake_score(lm, records, **kw):
    """Whitespace-attached tokens (" word" like byte-level BPE); entropy by rule above."""
    out = []
    for r in records:
        text = r["response"]
        offs = [(m.start(), m.end()) for m in re.finditer(r"\s*\S+", text)]
        toks = [text[s:e] for s, e in offs]
        ents = [fake_entropy(t) for t in toks]
        out.append(ScoredResponse(list(range(len(toks))), toks, offs, [-e for e in ents], ents))
        if kw.get("progress"):
            kw["progress"](1)
    return out


@pytest.fixture
def fake_scorer(monkeypatch):
    calls = {"n": 0}

    def score(lm, records, **kw):
        calls["n"] += len(records)
        return fake_score(lm, records, **kw)

    monkeypatch.setattr(entropykit.scoring, "score_responses", score)
    monkeypatch.setattr(entropykit.models, "load_model", lambda *a, **k: SimpleNamespace(tokenizer=None, name="fake"))
    return calls


def write_jsonl(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


RECS = [
    {"prompt": "q1", "response": "First, we add. Wait, let me verify this.", "id": "a"},
    {"prompt": "q2", "response": "So the answer is 4. However, check it.", "id": "b", "source": "rl"},
    {"prompt": "q3", "response": "   ", "id": "empty"},
]


def test_run_analysis_hand_checked(tmp_path, fake_scorer):
    inp = write_jsonl(tmp_path / "in.jsonl", RECS)
    cfg = AnalyzeConfig(outputs=str(inp), out=str(tmp_path / "out"), n_boot=300, report=False)
    s = run_analysis(cfg)
    assert s["num_responses"] == 2 and s["num_tokens"] == 16
    assert s["inputs"]["skipped_empty_responses"] == 1 and s["warnings"]
    # pivotal: First, So, However (2.0 each) vs the 13 other tokens (eleven 1.0, ... see fake_entropy)
    other = [1, 1, 1.5, 1, 1, 1.5, 1] + [1, 1, 1, 1, 1.5, 1]
    p = s["pivotal"]
    assert p["count"] == 3 and p["mean_entropy"] == 2.0
    assert p["other_mean_entropy"] == pytest.approx(14.5 / 13)
    ref = compare_groups([2.0, 2.0, 2.0], other, n_boot=300, seed=0)
    assert p["p_value"] == pytest.approx(ref.p_value) and p["ci95"] == pytest.approx(ref.ci95)
    assert p["categories"]["causal"]["count"] == 1 and p["categories"]["contrastive"]["count"] == 1
    assert {w["word"]: w["count"] for w in p["words"]} == {"first": 1, "so": 1, "however": 1}
    # sentences: "First, we add." 4/3 | "Wait, let me verify this." 1.2 (refl) | "So the answer is 4." 1.2 | "However, check it." 1.5 (refl)
    r = s["reflection"]
    assert r["count"] == 2 and r["num_sentences"] == 4
    assert r["mean_entropy"] == pytest.approx(1.35) and r["other_mean_entropy"] == pytest.approx((4 / 3 + 1.2) / 2)
    assert 0.0 <= r["p_value"] <= 1.0 and len(r["ci95"]) == 2
    assert s["mean_entropy"] == pytest.approx((6 + 14.5) / 16)
    assert "rare" not in s
    dyn = s["dynamics"]["by_source"]
    assert set(dyn) == {"outputs", "rl"} and dyn["rl"]["mean_pivotal_count"] == 2 and dyn["rl"]["mean_reflective_count"] == 1
    out = tmp_path / "out"
    assert json.loads((out / "summary.json").read_text())["num_tokens"] == 16
    rows = [json.loads(l) for l in (out / "responses.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and rows[0]["num_tokens"] == 8
    assert len((out / "sentences.jsonl").read_text().splitlines()) == 4
    import pyarrow.parquet as pq

    t = pq.read_table(out / "tokens.parquet")
    assert t.num_rows == 16 and set(t.column_names) >= {"token", "start", "end", "entropy", "logprob", "response"}
    assert t.column("token").to_pylist()[:2] == ["First,", " we"]


def test_cache_reused_and_mean_mode(tmp_path, fake_scorer):
    inp = write_jsonl(tmp_path / "in.jsonl", RECS[:2])
    out = tmp_path / "out"
    s1 = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(out), n_boot=100, report=False))
    assert fake_scorer["n"] == 2 and s1["cache"] == {"file": "tokens.parquet", "reused": 0, "scored": 2}
    s2 = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(out), n_boot=100, report=False, pivotal_entropy="mean"))
    assert fake_scorer["n"] == 2 and s2["cache"]["reused"] == 2  # no new scoring
    assert s2["mean_entropy"] == s1["mean_entropy"] and s2["pivotal"]["entropy_of_word"] == "mean_of_tokens"
    # a changed response is re-scored, the other reused
    recs = [RECS[0], dict(RECS[1], response="Then x = 1.")]
    write_jsonl(inp, recs)
    s3 = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(out), n_boot=100, report=False))
    assert fake_scorer["n"] == 3 and s3["cache"]["reused"] == 1
    # another model spec does not reuse
    run_analysis(AnalyzeConfig(outputs=str(inp), out=str(out), n_boot=100, report=False, model="other"))
    assert fake_scorer["n"] == 5


def test_rare_and_report_with_fake_scorer(tmp_path, fake_scorer):
    """Rare behaviors with a fake embedder (one-hot by topic) and the report's structure."""
    import entropykit.analysis.rare as rare_mod

    class FakeEmbedder:
        def get_embedding_dimension(self):
            return 3

        def encode(self, texts, **kw):
            out = np.zeros((len(texts), 3), dtype=np.float32)
            for i, t in enumerate(texts):
                out[i, 2 if "log" in t.lower() else (0 if i % 2 else 1)] = 1.0
                out[i] += 0.01 * (len(t) % 7)
            return out / np.linalg.norm(out, axis=1, keepdims=True)

    rare_mod._EMBEDDERS[rare_mod.resolve_embedder_path("minilm")] = FakeEmbedder()
    try:
        outs = [{"prompt": "q", "response": f"First, take the log of {i}. So x = {i}. Wait, check {i}."} for i in range(6)]
        base = [{"response": f"x = {i}. The answer is {i}."} for i in range(6)]
        s = run_analysis(AnalyzeConfig(outputs=str(write_jsonl(tmp_path / "o.jsonl", outs)), base=str(write_jsonl(tmp_path / "b.jsonl", base)),
                                       out=str(tmp_path / "out"), n_boot=100, n_clusters=3))
        assert s["rare"]["embedding_cache"]["reused"] == 0
        again = run_analysis(AnalyzeConfig(outputs=str(tmp_path / "o.jsonl"), base=str(tmp_path / "b.jsonl"), out=str(tmp_path / "out"),
                                           n_boot=100, n_clusters=3, rare_fraction=0.5, report=False))
        uniq = again["rare"]["embedding_cache"]["unique_sentences"]
        assert again["rare"]["embedding_cache"]["reused"] == uniq and again["rare"]["count"] == 9
    finally:
        rare_mod._EMBEDDERS.clear()
    rare = s["rare"]
    assert rare["num_sentences"] == 18 and rare["count"] == 2  # ceil(0.1 * 18)
    # the "log" sentences are the isolated ones (orthogonal to every base sentence)
    assert all("log" in e["text"] for e in rare["examples"][:6])
    assert rare["examples"][0]["rarity"] > 0.8 > rare["examples"][-1]["rarity"]
    assert len(rare["clusters"]) == 3 and sum(c["size"] for c in rare["clusters"]) == 18 + 12
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<script src=" not in html and "cdn.plot.ly" not in html.split("</head>")[1]
    assert html.count('class="plotly-graph-div"') == 6 and "Behavior clusters" in html and "id='ek-status'" in html


def run_cli(argv, capsys):
    from entropykit.cli.app import main

    with pytest.raises(SystemExit) as ex:
        main(argv)
    cap = capsys.readouterr()
    return ex.value.code, cap.out, cap.err


@pytest.mark.parametrize(
    "content,needle",
    [
        (None, "no such file"),
        ("", "empty file"),
        ('{"prompt": "q", "response": "ok"}\n{"prompt": \n', "malformed JSON"),
        ('{"prompt": "q"}\n', "missing field"),
        ('{"prompt": "q", "response": 5}\n', "must be a string"),
        ('{"prompt": "q", "response": "  "}\n', "empty response"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "binary"),
        ('[1, 2]\n', "expected a JSON object"),
    ],
)
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, content, needle):
    p = tmp_path / "in.jsonl"
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif content is not None:
        p.write_text(content)
    code, _, err = run_cli(["analyze", str(p), "--out", str(tmp_path / "o"), "--no-progress"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("entropykit: error:") and needle in lines[0], err
    assert not (tmp_path / "o").exists()  # nothing written for unusable input


def test_cli_bad_options_exit_2(tmp_path, capsys):
    p = write_jsonl(tmp_path / "in.jsonl", RECS[:1])
    code, _, err = run_cli(["analyze", str(p), "--out", str(tmp_path / "o"), "--rare-fraction", "1.5"], capsys)
    assert code == 2 and "rare-fraction" in err
    code, _, err = run_cli(["analyze", str(p), "--out", str(tmp_path / "o"), "--pivotal-words", str(tmp_path / "nope.txt")], capsys)
    assert code == 2 and "no such file" in err


def test_cli_ok_and_skips_empty_with_warning(tmp_path, capsys, fake_scorer):
    p = write_jsonl(tmp_path / "in.jsonl", RECS)
    code, out, err = run_cli(["analyze", str(p), "--out", str(tmp_path / "o"), "--no-progress", "--n-boot", "50"], capsys)
    assert code == 0, err
    assert "pivotal" in out and "reflective" in out and "report.html" in out
    assert "warning: " in err and "skipped 1 record" in err
    assert (tmp_path / "o" / "report.html").exists()


def test_cli_help_documents_bad_input_policy(capsys):
    code, out, _ = run_cli(["analyze", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    assert "exit code 2" in flat and "skipped" in flat and "--base" in flat and "--pivotal-words" in flat
