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
from entropykit.errors import UserError
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
        top = [[(i, t, -0.1), (99, "x", -3.0)] for i, t in enumerate(toks)] if kw.get("top_k") else None
        out.append(ScoredResponse(list(range(len(toks))), toks, offs, [-e for e in ents], ents, top))
        if kw.get("progress"):
            kw["progress"](1)
    return out


@pytest.fixture
def fake_scorer(monkeypatch):
    calls = {"n": 0, "models": []}

    def score(lm, records, **kw):
        calls["n"] += len(records)
        return fake_score(lm, records, **kw)

    def load(spec, *a, **k):
        calls["models"].append(spec)
        return SimpleNamespace(tokenizer=None, name=spec)

    monkeypatch.setattr(entropykit.scoring, "score_responses", score)
    monkeypatch.setattr(entropykit.models, "load_model", load)
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
    cfg = AnalyzeConfig(outputs=str(inp), out=str(tmp_path / "out"), n_boot=300, report=False, min_word_count=1, min_responses=2, min_count=2)
    s = run_analysis(cfg)
    assert s["num_responses"] == 2 and s["num_tokens"] == 16
    assert s["inputs"]["skipped_empty_responses"] == 1
    assert any("skipped 1" in w for w in s["warnings"]) and any("do not say which model" in w for w in s["warnings"])
    assert s["scorer"]["model"] == "smollm2-135m" and s["scorer"]["source"] == "default" and fake_scorer["models"] == ["smollm2-135m"]
    # paper lexicon: "First" (a) and "However" (b) are pivotal (2.0 each); "So" is not in it, so it is a control word.
    # Control = the other alphabetic words (first-token entropy): a: we add Wait let me verify this; b: So the answer is check it
    ctl_a, ctl_b = [1, 1, 1.5, 1, 1, 1.5, 1], [2, 1, 1, 1, 1.5, 1]
    p = s["pivotal"]
    assert p["count"] == 2 and p["mean_entropy"] == 2.0 and p["other_count"] == 13
    assert p["other_mean_entropy"] == pytest.approx(sum(ctl_a + ctl_b) / 13)
    ref = compare_groups([2.0, 2.0], ctl_a + ctl_b, n_boot=300, seed=0, min_count=2)
    assert p["p_value"] == pytest.approx(ref.p_value) and p["ci95"] == pytest.approx(ref.ci95)
    pr = p["per_response"]  # d_a = 2 - 8/7, d_b = 2 - 7.5/6
    d = [2 - sum(ctl_a) / 7, 2 - sum(ctl_b) / 6]
    assert pr["responses"] == 2 and pr["mean_diff"] == pytest.approx(np.mean(d))
    from scipy import stats

    assert pr["p_value"] == pytest.approx(stats.wilcoxon(d).pvalue) and pr["p_value"] == pytest.approx(0.5)
    assert pr["p_value_t"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    assert set(pr) >= {"responses", "mean_diff", "ci95", "p_value", "p_value_t"}
    # the old, unmatched control: every token outside pivotal words (14 tokens)
    assert p["vs_all_other_tokens"]["other_mean_entropy"] == pytest.approx(16.5 / 14)
    assert p["categories"]["sequential"]["count"] == 1 and p["categories"]["contrastive"]["count"] == 1
    assert {w["word"]: w["count"] for w in p["words"]} == {"first": 1, "however": 1}
    assert p["lexicon_filter"] == {"min_count": 1, "kept": {"first": 1, "however": 1}, "dropped": {}}
    # sentences: "First, we add." 4/3 | "Wait, let me verify this." 1.2 (refl) | "So the answer is 4." 1.2 | "However, check it." 1.5 (refl)
    r = s["reflection"]
    assert r["count"] == 2 and r["num_sentences"] == 4
    assert r["mean_entropy"] == pytest.approx(1.35) and r["other_mean_entropy"] == pytest.approx((4 / 3 + 1.2) / 2)
    assert r["per_response"]["mean_diff"] == pytest.approx(((1.2 - 4 / 3) + (1.5 - 1.2)) / 2)
    assert s["mean_entropy"] == pytest.approx(20.5 / 16)
    assert "rare" not in s
    dyn = s["dynamics"]["by_source"]
    assert set(dyn) == {"outputs", "rl"} and dyn["rl"]["mean_pivotal_count"] == 1 and dyn["rl"]["mean_reflective_count"] == 1
    out = tmp_path / "out"
    assert json.loads((out / "summary.json").read_text())["num_tokens"] == 16
    rows = [json.loads(l) for l in (out / "responses.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and rows[0]["num_tokens"] == 8
    assert rows[1]["pivotal_per_1k"] == pytest.approx(1000 / 8) and rows[1]["pivotal_mean_entropy"] == 2.0
    assert len((out / "sentences.jsonl").read_text().splitlines()) == 4
    import pyarrow.parquet as pq

    t = pq.read_table(out / "tokens.parquet")
    assert t.num_rows == 16 and set(t.column_names) >= {"token", "start", "end", "entropy", "logprob", "response", "top_ids", "top_tokens", "top_logprobs"}
    assert t.column("token").to_pylist()[:2] == ["First,", " we"] and t.column("top_tokens").to_pylist()[0] == ["First,", "x"]
    # the extended lexicon makes "So" pivotal; a lexicon file replaces the default
    s2 = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(out), n_boot=50, report=False, min_word_count=1, lexicon="extended"))
    assert {w["word"] for w in s2["pivotal"]["words"]} == {"first", "however", "so"}
    f = tmp_path / "lex.txt"
    f.write_text("causal: so\n")
    s3 = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(out), n_boot=50, report=False, min_word_count=1, lexicon=str(f)))
    assert [w["word"] for w in s3["pivotal"]["words"]] == ["so"]
    # the "commonly occurring" filter: words seen fewer than --min-word-count times are left out (and shown)
    s4 = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(out), n_boot=50, report=False, min_word_count=2))
    assert s4["pivotal"]["count"] == 0 and s4["pivotal"]["lexicon_filter"]["dropped"] == {"first": 1, "however": 1}
    assert any("none occurs at least --min-word-count" in w for w in s4["warnings"])


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
    # another scorer does not reuse
    run_analysis(AnalyzeConfig(outputs=str(inp), out=str(out), n_boot=100, report=False, model="other"))
    assert fake_scorer["n"] == 5 and fake_scorer["models"][-1] == "other"


def test_scorer_is_the_records_model(tmp_path, fake_scorer):
    recs = [dict(r, model="writer-7b") for r in RECS[:2]]
    inp = write_jsonl(tmp_path / "in.jsonl", recs)
    s = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(tmp_path / "o1"), n_boot=50, report=False))
    assert s["model"] == "writer-7b" and s["scorer"]["source"] == "records" and fake_scorer["models"] == ["writer-7b"]
    with pytest.raises(UserError, match="not the model that wrote the records.*--scorer-differs-ok"):
        run_analysis(AnalyzeConfig(outputs=str(inp), out=str(tmp_path / "o2"), model="smollm2-135m"))
    assert not (tmp_path / "o2").exists()  # refused before anything is written
    s = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(tmp_path / "o3"), model="smollm2-135m", scorer_differs_ok=True,
                                   n_boot=50, report=False))
    assert s["model"] == "smollm2-135m" and s["scorer"]["source"] == "option" and any("differs" in w for w in s["warnings"])
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [dict(RECS[0], model="a"), dict(RECS[1], model="b")])
    with pytest.raises(UserError, match="written by 2 models"):
        run_analysis(AnalyzeConfig(outputs=str(mixed), out=str(tmp_path / "o4")))
    s = run_analysis(AnalyzeConfig(outputs=str(mixed), out=str(tmp_path / "o4"), model="a", scorer_differs_ok=True, n_boot=50, report=False))
    assert s["scorer"]["record_models"] == {"a": 1, "b": 1}


def test_records_with_arrays_need_no_model(tmp_path, fake_scorer):
    """Records in `entropykit score`'s format are used as they are: no model is loaded."""
    scored = [entropykit.scoring.scored_record(r, x, "writer") for r, x in zip(RECS[:2], fake_score(None, RECS[:2], top_k=5))]
    scored[0]["entropies"] = [e + 0.25 for e in scored[0]["entropies"]]  # so that rescoring would show
    inp = write_jsonl(tmp_path / "scored.jsonl", scored)
    s = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(tmp_path / "o"), n_boot=50, report=True, min_word_count=1))
    assert fake_scorer["models"] == [] and fake_scorer["n"] == 0
    assert s["scorer"] == {"model": "writer", "source": "records", "record_models": {"writer": 2}, "from_records": 2,
                           "scored": 0, "reused_from_cache": 0, "temperature": 1.0, "top_k": 2}
    assert s["mean_entropy"] == pytest.approx((6 + 14.5 + 8 * 0.25) / 16)
    # a record without arrays falls back to scoring (by the records' model), and keeps its place in the input order
    plain = dict(RECS[0], id="c", model="writer")
    write_jsonl(inp, [scored[0], plain, scored[1]])
    s = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(tmp_path / "o"), n_boot=50, report=False))
    assert s["scorer"]["from_records"] == 2 and s["scorer"]["scored"] == 1 and fake_scorer["models"] == ["writer"]
    rows = [json.loads(l) for l in (tmp_path / "o" / "responses.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "c", "b"]
    assert [r["mean_entropy"] for r in rows] == pytest.approx([(10 + 8 * 0.25) / 8, 10 / 8, 10.5 / 8])  # a: +0.25 each
    # arrays that name no model: used, and said to be of an unnamed model
    write_jsonl(inp, [{k: v for k, v in r.items() if k != "model"} for r in scored])
    s = run_analysis(AnalyzeConfig(outputs=str(inp), out=str(tmp_path / "o6"), n_boot=50, report=False))
    assert s["scorer"]["from_records"] == 2 and s["model"].startswith("(unnamed model") and any("do not name" in w for w in s["warnings"])
    # malformed arrays: one clear error
    bad = dict(scored[0], offsets=scored[0]["offsets"][:-1])
    write_jsonl(inp, [bad])
    with pytest.raises(UserError, match="record 1: 'offsets' has 7 entries but 'entropies' has 8"):
        run_analysis(AnalyzeConfig(outputs=str(inp), out=str(tmp_path / "o5")))


def test_real_score_output_is_used_as_is(tmp_path, tiny_model_dir, monkeypatch):
    """`entropykit score` output of a real (tiny) model analyzed with no model loaded at all."""
    from entropykit.scoring import score_file
    from entropykit.scoring_config import ScoreConfig

    src = write_jsonl(tmp_path / "in.jsonl", RECS[:2])
    score_file(ScoreConfig(str(src), str(tmp_path / "scored.jsonl"), model=str(tiny_model_dir), progress=False))
    scored = [json.loads(l) for l in (tmp_path / "scored.jsonl").read_text().splitlines()]

    def no_model(*a, **k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(entropykit.models, "load_model", no_model)
    s = run_analysis(AnalyzeConfig(outputs=str(tmp_path / "scored.jsonl"), out=str(tmp_path / "o"), n_boot=50, report=False))
    assert s["model"] == str(tiny_model_dir) and s["scorer"]["from_records"] == 2
    flat = [e for r in scored for e in r["entropies"]]
    assert s["num_tokens"] == len(flat) and s["mean_entropy"] == pytest.approx(np.mean(flat), rel=1e-6)


def test_empty_groups_and_non_english_warn(tmp_path, fake_scorer):
    recs = [{"prompt": "q", "response": "Считаем сумму: два плюс два равно четыре. Проверим ещё раз."} for _ in range(3)]
    s = run_analysis(AnalyzeConfig(outputs=str(write_jsonl(tmp_path / "ru.jsonl", recs)), out=str(tmp_path / "o"), n_boot=50))
    assert s["pivotal"]["count"] == 0 and s["pivotal"]["per_response"]["responses"] == 0
    assert s["pivotal"]["per_response"]["p_value"] is None and s["pivotal"]["per_response"]["note"]
    assert any("is the text English" in w for w in s["warnings"]) and any("not Latin" in w for w in s["warnings"])
    html = (tmp_path / "o" / "report.html").read_text()
    assert "is the text English? see --lexicon" in html and "no rare-behavior analysis: pass --base" in html


def test_output_folder_checked_before_any_work(tmp_path, fake_scorer, capsys):
    inp = write_jsonl(tmp_path / "in.jsonl", RECS[:2])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(["analyze", str(inp), "--out", str(blocker / "sub"), "--no-progress"], capsys)
    assert code == 2 and "is not a folder" in err and len(err.strip().splitlines()) == 1
    assert fake_scorer["n"] == 0 and fake_scorer["models"] == []


def test_cli_defaults_come_from_config():
    import typer.main

    from entropykit.cli.analyze import analyze_app

    cmd = typer.main.get_command(analyze_app).commands["run"]
    names = {"k": "knn_k", "clusters": "n_clusters", "umap_points": "umap_max_points"}
    checked = 0
    for prm in cmd.params:
        field = names.get(prm.name, prm.name)
        if field in AnalyzeConfig.__dataclass_fields__ and field not in ("outputs", "out", "progress"):
            assert prm.default == AnalyzeConfig.default(field), prm.name
            checked += 1
    assert checked >= 25


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
    # headline, entropy distribution, per-word ("first" occurs 6 times), UMAP, dynamics; the text view is not plotly
    assert html.count('class="plotly-graph-div"') == 5 and "Behavior clusters" in html and "id='ek-status'" in html
    assert html.count("<nav class='toc'>") == 1 and 'id="tv-data"' in html and "Responses as text" in html


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
    code, _, err = run_cli(["analyze", str(p), "--out", str(tmp_path / "o"), "--lexicon-add", str(tmp_path / "nope.txt")], capsys)
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(["analyze", str(p), "--out", str(tmp_path / "o"), "--lexicon", "klingon"], capsys)
    assert code == 2 and "neither 'paper', 'extended' nor an existing file" in err
    code, _, err = run_cli(["analyze", str(p), "--out", str(tmp_path / "o"), "--color-range", "rainbow"], capsys)
    assert code == 2 and "--color-range" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


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
    assert "exit code 2" in flat and "skipped" in flat and "--base" in flat and "--lexicon" in flat and "--scorer-differs-ok" in flat
    assert "analyze compare RUN_A RUN_B" in flat
