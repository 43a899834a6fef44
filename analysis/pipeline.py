"""`entropykit analyze` end to end, in named phases that each return plain data:

    prepare -> score_tokens -> response_tables -> pivotal -> reflection -> rare -> dynamics -> write_outputs

`run_analysis(AnalyzeConfig(...))` is what the CLI calls; tests call it (or a phase) directly.
Every comparison's headline treats the response as the unit (`stats.per_response_comparison`);
pooled token/sentence figures stay, labelled descriptive.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from entropykit.errors import UserError
from entropykit.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, ensure_writable_dir
from entropykit.response_metrics import aggregate_metrics, resolve_lexicon, resolve_patterns, response_metrics, split_sentences

from . import rare as rare_mod
from .behaviors import normalize_token, sentence_rows, top_counts, word_units
from .config import AnalyzeConfig
from entropykit.formats import prompt_identity

from .inputs import Inputs, ScorerChoice, choose_scorer, load_records
from .steps import step_dynamics
from .stats import compare_groups, describe, holm, mixed_model, paired_differences, per_response_comparison
from .tokens import TOKENS_FILE, TokenTable, cache_key, read_token_table, score_with_cache, write_token_table

EMBEDDINGS_FILE = "embeddings.npz"
NO_PIVOTAL_HINT = "0 pivotal words found: is the text English? see --lexicon"


@dataclass
class Words:
    """Word units of all responses (`behaviors.word_units`, concatenated); token indices are
    global rows of the token table."""

    response: np.ndarray
    start: np.ndarray
    end: np.ndarray
    first_token: np.ndarray
    last_token: np.ndarray
    entropy: np.ndarray  # first-token or mean entropy, per --pivotal-entropy
    pivotal: np.ndarray  # lexicon match (any count)
    common: np.ndarray  # pivotal and its lemma occurs >= min_word_count times (the studied group)
    word: list
    category: list


@dataclass
class AnalysisResult:
    """Everything the outputs are made of (`build_report` takes this)."""

    config: AnalyzeConfig
    summary: dict
    records: list
    table: TokenTable
    words: Words
    sentences: list
    responses: list
    base_responses: list = field(default_factory=list)
    umap: dict | None = None


@contextlib.contextmanager
def timed(name: str, into: dict):
    """Record the wall time of the block as ``into[name]`` (seconds)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        into[name] = round(time.perf_counter() - t0, 3)


class _Progress:
    """Rich progress bars on stderr when enabled, no-ops otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._p = None

    def __enter__(self):
        if self.enabled:
            from entropykit.progress import make_progress

            self._p = make_progress()
            self._p.__enter__()
        return self

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.__exit__(*exc)

    def task(self, description: str, total: int) -> Callable[[int], None]:
        if self._p is None:
            return lambda n: None
        tid = self._p.add_task(description, total=total)
        return lambda n: self._p.advance(tid, n)

    def note(self, msg: str) -> None:
        if self._p is not None:
            self._p.console.print(f"[dim]{msg}[/dim]")


_NULL_PROGRESS = _Progress(False)


# ---- phase 0: inputs, options, scorer ----------------------------------------------------------

@dataclass
class Prepared:
    inputs: Inputs
    base_inputs: Inputs | None
    lexicon: dict
    patterns: tuple
    scorer: ScorerChoice
    warnings: list


def prepare(cfg: AnalyzeConfig) -> Prepared:
    """Validate options, read the inputs, choose the scorer, check the output folder: all before
    any expensive work, so bad input costs nothing and writes nothing."""
    cfg.validate()
    lexicon = resolve_lexicon(cfg.lexicon, cfg.lexicon_add)
    patterns = resolve_patterns(cfg.reflective, cfg.reflective_add)
    fmt = dict(fmt=cfg.input_format, fields=cfg.fields, batch_input=cfg.batch_input)
    inputs = load_records(cfg.outputs, limit=cfg.limit, **fmt)
    base_inputs = load_records(cfg.base, base=True, **fmt) if cfg.base else None
    scorer = choose_scorer(inputs.records, cfg.model, cfg.scorer_differs_ok)
    warnings = list(scorer.warnings) + inputs.notes + (base_inputs.notes if base_inputs else [])
    if inputs.skipped_empty:
        warnings.append(f"{cfg.outputs}: skipped {inputs.skipped_empty} record(s) with an empty response")
    if base_inputs and base_inputs.skipped_empty:
        warnings.append(f"{cfg.base}: skipped {base_inputs.skipped_empty} record(s) with an empty response")
    ensure_writable_dir(cfg.out)
    return Prepared(inputs, base_inputs, lexicon, patterns, scorer, warnings)


# ---- phase 1: token entropies ------------------------------------------------------------------

def _arrays_table(recs: Sequence[dict]) -> TokenTable:
    a = [r["arrays"] for r in recs]
    return TokenTable.from_lists([x["token_ids"] for x in a], [x["tokens"] for x in a], [x["offsets"] for x in a],
                                 [x["logprobs"] for x in a], [x["entropies"] for x in a], top_k=[x["top_k"] for x in a])


def score_tokens(cfg: AnalyzeConfig, records: Sequence[dict], scorer: ScorerChoice, prog: _Progress = _NULL_PROGRESS) -> tuple[TokenTable, dict]:
    """Per-token entropies of every response, in input order, as one `TokenTable`.

    Records that carry their own arrays (and whose model is the scorer) are used as they are;
    the rest are scored with ``scorer.model`` (loaded only if needed), reusing the responses
    already in ``out/tokens.parquet`` for the same scorer and text. Returns ``(table, info)``.
    """
    out = Path(cfg.out)
    given = [i for i, r in enumerate(records) if scorer.use_arrays and "arrays" in r]
    temps = sorted({records[i]["arrays"]["temperature"] for i in given})
    given_set = set(given)
    todo = [i for i in range(len(records)) if i not in given_set]
    if len(temps) > 1 or (temps and temps[0] != 1.0 and todo):
        raise UserError(f"the records carry entropies at temperature(s) {temps} and {len(todo)} record(s) would be scored "
                        "at temperature 1: analyze them separately")
    # entropies taken from the records are kept apart from what we scored (never reused as a scoring cache)
    keys = [("records:" if i in given_set else "") + cache_key(scorer.model, prompt_identity(r), r["response"], cfg.chat)
            for i, r in enumerate(records)]
    parts = [_arrays_table([records[i] for i in given])]  # responses in `given` order, then `todo` order
    parts[0].keys = [keys[i] for i in given]
    reused = 0
    if todo:
        cached = read_token_table(out / TOKENS_FILE)
        cache = cached[0] if cached and cached[1].get("model") == scorer.model and cached[1].get("top_k_requested", 0) >= cfg.top_k else None
        lm_box: dict = {}
        advance = prog.task(f"scoring with {scorer.model}", len(todo))

        def score_fn(recs: Sequence[dict]) -> TokenTable:
            from entropykit.models import load_model
            from entropykit.scoring import score_responses

            if "lm" not in lm_box:
                try:
                    lm_box["lm"] = load_model(scorer.model, device=cfg.device)
                except UserError as e:
                    if scorer.source != "records":
                        raise
                    raise UserError(f"{e} (it is the model named by the records; to score with another one, pass "
                                    "--model M --scorer-differs-ok)") from None
            scored = score_responses(lm_box["lm"], list(recs), chat=cfg.chat, max_batch_tokens=cfg.max_batch_tokens,
                                     progress=advance, top_k=cfg.top_k)
            return TokenTable.from_lists([s.token_ids for s in scored], [s.tokens for s in scored], [s.offsets for s in scored],
                                         [s.logprobs for s in scored], [s.entropies for s in scored],
                                         top_k=[s.top_k for s in scored])

        scored, reused = score_with_cache([records[i] for i in todo], [keys[i] for i in todo], score_fn, cache,
                                          chunk_records=cfg.chunk_records, progress=advance)
        parts.append(scored)
    table = TokenTable.concat(parts).select(np.argsort(given + todo))  # back to input order (keys too)
    write_token_table(out / TOKENS_FILE, table, {"model": scorer.model, "chat": cfg.chat, "top_k_requested": cfg.top_k})
    info = {"from_records": len(given), "scored": len(todo) - reused, "reused_from_cache": reused,
            "temperature": temps[0] if temps else 1.0, "top_k": table.top_k}
    return table, info


def cut_at_window(records: Sequence[dict], table: TokenTable) -> list[int]:
    """Cut each response whose scored tokens stop before its text does (the scorer's context
    window ended: `entropykit.scoring`) to the scored part; returns the indices cut."""
    cut = []
    for r, rec in enumerate(records):
        rows = table.rows(r)
        if rows.stop == rows.start or "arrays" in rec:  # a record's own arrays are its writer's, whole
            continue
        end = int(table.offsets[rows.stop - 1][1])
        if rec["response"][end:].strip():
            rec["response"] = rec["response"][:end]
            rec["cut_at_window"] = True
            cut.append(r)
    return cut


# ---- phase 2: per-response tables ----------------------------------------------------------------

def _per_1k(count, tokens):
    return 1000.0 * count / tokens if tokens else None


def response_tables(cfg: AnalyzeConfig, records: Sequence[dict], table: TokenTable, lexicon: dict, patterns: tuple,
                    prog: _Progress = _NULL_PROGRESS) -> tuple[Words, list[dict], list[dict]]:
    """Word units, sentences and per-response rows (entropy and test-time dynamics) of every response."""
    advance = prog.task("words and sentences", len(records))
    cols: dict[str, list] = {k: [] for k in ("response", "start", "end", "first_token", "last_token", "entropy", "pivotal")}
    word, category = [], []
    sents: list[dict] = []
    resp_rows: list[dict] = []
    for r, rec in enumerate(records):
        rows = table.rows(r)
        text = rec["response"]
        off, ent = table.offsets[rows], table.entropy[rows]
        u = word_units(text, off, ent, lexicon)
        cols["response"].append(np.full(len(u), r, np.int64))
        for k in ("start", "end", "pivotal"):
            cols[k].append(getattr(u, k))
        cols["first_token"].append(u.first_token + rows.start)
        cols["last_token"].append(u.last_token + rows.start)
        cols["entropy"].append(u.entropy_first if cfg.pivotal_entropy == "first" else u.entropy_mean)
        word += u.word
        category += u.category
        spans = split_sentences(text)
        srows = sentence_rows(text, spans, off, ent, patterns)
        for j, row in enumerate(srows):
            row.update(response=r, sentence=j, source=rec["source"])
        sents.extend(srows)
        ntok = rows.stop - rows.start
        m = response_metrics(text, ntok, lexicon=lexicon, reflective=patterns, n=cfg.repetition_n, sentences=spans)
        piv_e = cols["entropy"][-1][u.pivotal]
        refl_e = [s["mean_entropy"] for s in srows if s["reflective"] and s["mean_entropy"] is not None]
        resp_rows.append({
            "index": r, "id": rec["id"], "source": rec["source"], "prompt_key": rec["prompt_key"], "model": rec["model"],
            "correct": rec["correct"], "key": table.keys[r] if table.keys else None,
            "mean_entropy": float(np.mean(ent, dtype=np.float64)) if len(ent) else None,
            "max_entropy": float(np.max(ent)) if len(ent) else None,
            **m,
            "pivotal_per_1k": _per_1k(m["pivotal_count"], ntok),
            "reflective_per_1k": _per_1k(m["reflective_count"], ntok),
            "pivotal_mean_entropy": float(piv_e.mean()) if len(piv_e) else None,
            "reflective_mean_entropy": float(np.mean(refl_e)) if refl_e else None,
        })
        advance(1)

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    pivotal = cat(cols["pivotal"], bool)
    lemma_counts = Counter(w for w, p in zip(word, pivotal) if p)
    common = pivotal & np.array([lemma_counts[w] >= cfg.min_word_count for w in word], dtype=bool)
    words = Words(response=cat(cols["response"], np.int64), start=cat(cols["start"], np.int64), end=cat(cols["end"], np.int64),
                  first_token=cat(cols["first_token"], np.int64), last_token=cat(cols["last_token"], np.int64),
                  entropy=cat(cols["entropy"], np.float64), pivotal=pivotal, common=common, word=word, category=category)
    return words, sents, resp_rows


# ---- comparisons ----------------------------------------------------------------------------------

def _compare(cfg, g_vals, g_resp, o_vals, o_resp, prompts, n_resp, *, unit: str, n_boot: int | None = None) -> dict:
    """Headline per-response comparison plus the pooled (descriptive) figures, as one dict: the
    pooled fields at the top level (where summary.json always had them), ``per_response`` inside."""
    nb = cfg.n_boot if n_boot is None else n_boot
    pooled = compare_groups(g_vals, o_vals, n_boot=nb, seed=cfg.seed, min_count=cfg.min_count, unit=unit).to_dict()
    d, rs, gm, om = paired_differences(g_vals, g_resp, o_vals, o_resp, n_resp)
    pr = per_response_comparison(d, prompts[rs], group_means=gm, other_means=om, n_boot=nb, seed=cfg.seed,
                                 min_responses=cfg.min_responses)
    pooled["per_response"] = pr.to_dict()
    return pooled


def _mixed(values, is_group, response, prompts) -> dict | None:
    return mixed_model(values, is_group, prompts[response], response)


def pivotal(cfg: AnalyzeConfig, words: Words, table: TokenTable, prompts: np.ndarray, lexicon: dict) -> dict:
    """Pivotal words (commonly occurring lexicon words) vs the same position of other words."""
    n = table.num_responses
    g, ctl = words.common, ~words.pivotal
    res = _compare(cfg, words.entropy[g], words.response[g], words.entropy[ctl], words.response[ctl], prompts, n,
                   unit="word (pooled, descriptive)")
    res["entropy_of_word"] = "first_token" if cfg.pivotal_entropy == "first" else "mean_of_tokens"
    res["other"] = ("first token of every other word (alphabetic words that are not lexicon words): same position, "
                    "no whitespace, digits or punctuation" if cfg.pivotal_entropy == "first" else "mean token entropy of every other word")
    # the older, unmatched control: every token outside pivotal words
    in_piv = np.zeros(table.num_tokens, bool)
    for a, b in zip(words.first_token[words.pivotal], words.last_token[words.pivotal]):
        in_piv[a : b + 1] = True
    tok_resp = np.repeat(np.arange(n), np.diff(table.ptr))
    ent = table.entropy.astype(np.float64)
    res["vs_all_other_tokens"] = _compare(cfg, words.entropy[g], words.response[g], ent[~in_piv], tok_resp[~in_piv], prompts, n,
                                          unit="token (pooled, descriptive)", n_boot=min(cfg.n_boot, 1000))
    counts = Counter(w for w, p in zip(words.word, words.pivotal) if p)
    res["lexicon_filter"] = {
        "min_count": cfg.min_word_count,
        "kept": {w: c for w, c in counts.most_common() if c >= cfg.min_word_count},
        "dropped": {w: c for w, c in counts.most_common() if c < cfg.min_word_count},
    }
    cats = {}
    cat_arr = np.array(words.category, dtype=object)
    for c in lexicon:
        m = g & (cat_arr == c)
        cats[c] = _compare(cfg, words.entropy[m], words.response[m], words.entropy[ctl], words.response[ctl], prompts, n,
                           unit="word (pooled, descriptive)", n_boot=min(cfg.n_boot, 1000))
    _holm_into(list(cats.values()))
    res["categories"] = cats
    word_arr = np.array(words.word, dtype=object)
    rows = []
    for w, c in counts.most_common():
        m = words.pivotal & (word_arr == w)
        cmp_ = _compare(cfg, words.entropy[m], words.response[m], words.entropy[ctl], words.response[ctl], prompts, n,
                        unit="word (pooled, descriptive)", n_boot=min(cfg.n_boot, 1000))
        rows.append({"word": w, "category": words.category[int(np.argmax(m))], "count": c, "common": c >= cfg.min_word_count,
                     "mean_entropy": cmp_["mean_entropy"], "diff_vs_other": cmp_["diff"], "per_response": cmp_["per_response"]})
    _holm_into(rows)
    res["words"] = rows
    if cfg.mixed_model:
        keep = g | ctl
        res["mixed_model"] = _mixed(words.entropy[keep], g[keep], words.response[keep], prompts)
    return res


def _holm_into(items: list[dict]) -> None:
    """Holm across a family (categories, or words): adds ``per_response.p_value_holm``."""
    adj = holm([it["per_response"]["p_value"] for it in items])
    for it, a in zip(items, adj):
        it["per_response"]["p_value_holm"] = a


def _sentence_arrays(sents: Sequence[dict], flag: str):
    with_tok = [s for s in sents if s["mean_entropy"] is not None]
    e = np.array([s["mean_entropy"] for s in with_tok], dtype=np.float64)
    r = np.array([s["response"] for s in with_tok], dtype=np.int64)
    f = np.array([bool(s.get(flag)) for s in with_tok], dtype=bool)
    return with_tok, e, r, f


def reflection(cfg: AnalyzeConfig, sents: Sequence[dict], prompts: np.ndarray, n_resp: int, patterns: tuple) -> dict:
    """Reflective sentences vs the other sentences (mean token entropy per sentence)."""
    with_tok, e, r, f = _sentence_arrays(sents, "reflective")
    res = _compare(cfg, e[f], r[f], e[~f], r[~f], prompts, n_resp, unit="sentence (pooled, descriptive)")
    res["num_sentences"] = len(with_tok)
    res["other"] = "the other sentences of the same responses (mean token entropy per sentence)"
    res["patterns"] = list(patterns)
    res["examples"] = [{"text": s["text"], "mean_entropy": s["mean_entropy"], "response": s["response"]}
                       for s in sorted((s for s in with_tok if s["reflective"]), key=lambda s: -s["mean_entropy"])[:10]]
    if cfg.mixed_model:
        res["mixed_model"] = _mixed(e, f, r, prompts)
    return res


def rare(cfg: AnalyzeConfig, sents: list[dict], base_inputs: Inputs, base_spans: Sequence[list], prompts: np.ndarray,
         n_resp: int, prog: _Progress = _NULL_PROGRESS, timings: dict | None = None) -> tuple[dict, dict]:
    """Rare behaviors: OUTPUTS sentences far (kNN cosine distance, SBERT) from every BASE sentence
    (``base_spans``: `split_sentences` of each BASE response). Marks ``rare``/``rarity`` on the
    sentence rows; returns ``(summary part, umap data)``."""
    timings = {} if timings is None else timings
    base_sents = [rec["response"][s:e] for rec, spans in zip(base_inputs.records, base_spans) for s, e in spans]
    if not base_sents:
        raise UserError(f"{cfg.base}: no sentences found in the responses")
    study = [s for s in sents if s["mean_entropy"] is not None]
    with timed("embedding_s", timings):
        all_texts = [s["text"] for s in study] + base_sents
        n_texts = len(set(all_texts))
        emb, emb_reused = rare_mod.embed_with_cache(
            lambda: rare_mod.load_embedder(cfg.embedder), all_texts, Path(cfg.out) / EMBEDDINGS_FILE, cfg.embedder,
            batch_size=cfg.embed_batch_size, progress=prog.task("embedding sentences", n_texts))
        e_study, e_base = emb[: len(study)], emb[len(study):]
    with timed("knn_s", timings):
        prog.note("nearest neighbours ...")
        rarity = rare_mod.knn_rarity(e_study, e_base, k=cfg.knn_k)
        is_rare = rare_mod.top_fraction_mask(rarity, cfg.rare_fraction)
        for s, d, f in zip(study, rarity, is_rare):
            s["rarity"], s["rare"] = float(d), bool(f)
        _, e, r, f = _sentence_arrays(study, "rare")
        res = _compare(cfg, e[f], r[f], e[~f], r[~f], prompts, n_resp, unit="sentence (pooled, descriptive)")
        res.update({
            "k": int(min(cfg.knn_k, len(e_base))), "fraction": cfg.rare_fraction, "num_sentences": len(study),
            "num_base_sentences": len(base_sents),
            "distance": "mean cosine distance (1 - cos) to the k nearest base sentences",
            "threshold_distance": float(rarity[is_rare].min()) if is_rare.any() else None,
            "other": "the other (non-rare) sentences of the same responses", "embedder": cfg.embedder,
            "embedding_cache": {"file": EMBEDDINGS_FILE, "reused": emb_reused, "unique_sentences": n_texts},
            "examples": [{"text": study[i]["text"], "rarity": float(rarity[i]), "mean_entropy": study[i]["mean_entropy"]}
                         for i in np.argsort(-rarity, kind="stable")[:10]],
        })
        if cfg.mixed_model:
            res["mixed_model"] = _mixed(e, f, r, prompts)
    with timed("umap_s", timings):
        prog.note("UMAP projection and clusters ...")
        umap_data, clusters = _umap_and_clusters(cfg, study, e_study, base_sents, e_base, is_rare)
        res["clusters"] = clusters
        res["umap_points"] = len(umap_data["x"])
    return res, umap_data


def _base_token_counter(scorer_model: str) -> Callable[[str], int | None]:
    """Token counts of BASE responses with the scorer's tokenizer alone (no model is loaded);
    None for every response when the tokenizer cannot be loaded."""
    box: dict = {}

    def count(text: str) -> int | None:
        if "tok" not in box:
            try:
                from transformers import AutoTokenizer

                from entropykit.models import resolve_model_path

                box["tok"] = AutoTokenizer.from_pretrained(resolve_model_path(scorer_model))
            except Exception:  # an unreachable hub id: lengths in words only
                box["tok"] = None
        tok = box["tok"]
        return None if tok is None else len(tok(text, add_special_tokens=False)["input_ids"])

    return count


def dynamics(cfg: AnalyzeConfig, resp_rows: list[dict], base_inputs: Inputs | None, base_spans: Sequence[list],
             lexicon: dict, patterns: tuple, scorer_model: str) -> tuple[dict, list[dict]]:
    """Test-time dynamics (paper section 6.2) per source; BASE responses (sentence spans
    ``base_spans``) counted with the scorer's tokenizer (or their own ``num_tokens``)."""
    base_rows = []
    if base_inputs is not None:
        count = _base_token_counter(scorer_model)
        for rec, spans in zip(base_inputs.records, base_spans):
            ntok = rec["num_tokens"] if rec["num_tokens"] is not None else count(rec["response"])
            m = response_metrics(rec["response"], ntok, lexicon=lexicon, reflective=patterns, n=cfg.repetition_n,
                                 sentences=spans)
            base_rows.append({"id": rec["id"], "source": rec["source"], "prompt_key": rec["prompt_key"], **m,
                              "pivotal_per_1k": _per_1k(m["pivotal_count"], ntok), "reflective_per_1k": _per_1k(m["reflective_count"], ntok)})
    by_source: dict[str, list] = {}
    for row in resp_rows + base_rows:
        by_source.setdefault(row["source"], []).append(row)
    dyn = {
        "repetition_n": cfg.repetition_n,
        "repetition_rate": f"seq-rep-{cfg.repetition_n}: 1 - unique word {cfg.repetition_n}-grams / all word {cfg.repetition_n}-grams",
        "by_source": {src: aggregate_metrics(rows) for src, rows in by_source.items()},
    }
    return dyn, base_rows


def _language_warning(records: Sequence[dict]) -> str | None:
    """A warning when most letters are not Latin (the lexicon and patterns are English)."""
    letters = latin = 0
    for rec in records[:500]:
        for ch in rec["response"][:4000]:
            if ch.isalpha():
                letters += 1
                latin += ch < "\u0250"
    if letters and latin / letters < 0.5:
        return (f"{100 * (1 - latin / letters):.0f}% of the letters are not Latin: the pivotal lexicon and reflective "
                "patterns are English (see --lexicon, --reflective)")
    return None


# ---- the whole run ---------------------------------------------------------------------------------

def run_analysis(config: AnalyzeConfig) -> dict:
    """Run every phase and write the outputs into ``config.out``; returns the summary dict.

    Files: ``summary.json``, ``tokens.parquet`` (token table with top-k alternatives; the
    scoring cache), ``responses.jsonl`` (per-response entropy and test-time dynamics),
    ``sentences.jsonl``, ``embeddings.npz`` (with a base; sentence-embedding cache) and
    ``report.html`` (self-contained, offline).
    """
    return analyze(config).summary


def analyze(cfg: AnalyzeConfig) -> AnalysisResult:
    """`run_analysis`, returning the full `AnalysisResult`."""
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    prep = prepare(cfg)
    records = prep.inputs.records
    warnings_ = prep.warnings
    with _Progress(cfg.progress) as prog:
        with timed("scoring_s", timings):
            table, score_info = score_tokens(cfg, records, prep.scorer, prog)
        if table.num_tokens == 0:
            raise UserError(f"{cfg.outputs}: the responses contain no tokens")
        cut = cut_at_window(records, table)
        if cut:
            warnings_.append(f"{cfg.outputs}: {len(cut)} response(s) run past the scorer's context window (records "
                             f"{', '.join(str(i + 1) for i in cut[:10])}{', ...' if len(cut) > 10 else ''}): each is analysed up "
                             "to the window, the text after it is left out (its entropies would mean nothing)")
        with timed("tables_s", timings):
            words, sents, resp_rows = response_tables(cfg, records, table, prep.lexicon, prep.patterns, prog)
        prompts = np.array([r["prompt_key"] for r in records], dtype=object)
        n = table.num_responses
        with timed("pivotal_s", timings):
            piv = pivotal(cfg, words, table, prompts, prep.lexicon)
        with timed("reflection_s", timings):
            refl = reflection(cfg, sents, prompts, n, prep.patterns)
        rare_res = umap_data = None
        base_spans = []  # sentence spans of the BASE responses: split once, for rare and dynamics
        if prep.base_inputs is not None:
            base_spans = [split_sentences(rec["response"]) for rec in prep.base_inputs.records]
            rare_res, umap_data = rare(cfg, sents, prep.base_inputs, base_spans, prompts, n, prog, timings)
    dyn, base_rows = dynamics(cfg, resp_rows, prep.base_inputs, base_spans, prep.lexicon, prep.patterns, prep.scorer.model)
    if not words.pivotal.any():
        warnings_.append(NO_PIVOTAL_HINT)
    elif piv["count"] == 0:
        warnings_.append(f"{int(words.pivotal.sum())} pivotal word(s) found, but none occurs at least --min-word-count "
                         f"{cfg.min_word_count} times: no pivotal comparison")
    lang = _language_warning(records)
    if lang:
        warnings_.append(lang)
    ent_all = table.entropy.astype(np.float64)
    thr = float(np.quantile(ent_all, cfg.forking_quantile))
    summary: dict = {
        "tool": "entropykit analyze",
        "model": prep.scorer.model,
        "scorer": {**prep.scorer.to_dict(), **score_info},
        "inputs": {
            "outputs": str(cfg.outputs), "base": str(cfg.base) if cfg.base else None, "records": prep.inputs.total_lines,
            "skipped_empty_responses": prep.inputs.skipped_empty,
            "base_records": prep.base_inputs.total_lines if prep.base_inputs else None,
            "base_skipped_empty_responses": prep.base_inputs.skipped_empty if prep.base_inputs else None,
        },
        "num_responses": n,
        "num_prompts": len(set(prompts.tolist())),
        "num_tokens": table.num_tokens,
        "mean_entropy": float(ent_all.mean()),
        "entropy_unit": "nats",
        "token_entropy": describe(ent_all),
        "response_mean_entropy": describe(np.array([r["mean_entropy"] for r in resp_rows], dtype=np.float64)),
        "forking": {"quantile": cfg.forking_quantile, "threshold": thr,
                    "tokens": top_counts([normalize_token(t) for t in table.token], ent_all, thr),
                    "words": top_counts(words.word, words.entropy, thr)},
        "pivotal": {**piv, "lexicon": {k: list(v) for k, v in prep.lexicon.items()}, "lexicon_spec": cfg.lexicon},
        "reflection": refl,
        "dynamics": dyn,
        "cache": {"file": TOKENS_FILE, "reused": score_info["reused_from_cache"], "scored": score_info["scored"]},
        "warnings": warnings_,
        "config": {k: v for k, v in asdict(cfg).items() if k != "progress"},
    }
    if rare_res is not None:
        summary["rare"] = rare_res
    steps = step_dynamics(records, resp_rows, n_boot=cfg.n_boot, seed=cfg.seed)
    if steps is not None:
        summary["training_steps"] = steps
    summary["inputs"]["format"] = prep.inputs.format
    result = AnalysisResult(cfg, summary, records, table, words, sents, resp_rows, base_rows, umap_data)
    with timed("write_s", timings):
        write_outputs(result)
    summary["timings"] = {**timings, "total_s": round(time.perf_counter() - t_start, 3)}
    atomic_write_json(Path(cfg.out) / "summary.json", summary)
    return result


def write_outputs(result: AnalysisResult) -> None:
    """responses.jsonl, sentences.jsonl, report.html (summary.json is written last, by `analyze`)."""
    out = Path(result.config.out)
    atomic_write_jsonl(out / "responses.jsonl", result.responses)
    atomic_write_jsonl(out / "sentences.jsonl", result.sentences)
    files = {"summary": "summary.json", "tokens": TOKENS_FILE, "responses": "responses.jsonl", "sentences": "sentences.jsonl"}
    if result.config.report:
        from .report import build_report

        atomic_write_text(out / "report.html", build_report(result))
        files["report"] = "report.html"
    result.summary["files"] = files


def _umap_and_clusters(cfg, study, e_study, base_sents, e_base, is_rare):
    """Sample up to ``umap_max_points`` sentences (half OUTPUTS with every rare one up to a
    quarter of the budget, half BASE), project with UMAP, cluster with k-means."""
    rng = np.random.default_rng(cfg.seed)
    half = max(1, cfg.umap_max_points // 2)
    rare_idx = np.nonzero(is_rare)[0]
    rest_idx = np.nonzero(~is_rare)[0]
    if len(study) <= half:
        s_idx = np.arange(len(study))
    else:
        r_take = rng.permutation(rare_idx)[: max(1, half // 2)]
        fill = rng.permutation(rest_idx)[: half - len(r_take)]
        s_idx = np.sort(np.concatenate([r_take, fill]))
    b_idx = np.arange(len(base_sents)) if len(base_sents) <= half else np.sort(rng.permutation(len(base_sents))[:half])
    emb = np.concatenate([e_study[s_idx], e_base[b_idx]])
    xy = rare_mod.project_2d(emb, seed=cfg.seed)
    labels, cents = rare_mod.cluster(emb, cfg.n_clusters, seed=cfg.seed)
    central = rare_mod.central_members(emb, labels, cents, top=3)
    texts = [study[i]["text"] for i in s_idx] + [base_sents[i] for i in b_idx]
    is_study = np.array([True] * len(s_idx) + [False] * len(b_idx))
    rare_flag = np.concatenate([is_rare[s_idx], np.zeros(len(b_idx), dtype=bool)])
    ent = [study[i]["mean_entropy"] for i in s_idx] + [None] * len(b_idx)
    clusters = []
    for c in range(len(cents)):
        m = labels == c
        if not m.any():
            continue
        ents = [e for e, k in zip(ent, m) if k and e is not None]
        clusters.append({
            "cluster": c, "size": int(m.sum()), "outputs": int((m & is_study).sum()), "base": int((m & ~is_study).sum()),
            "rare": int((m & rare_flag).sum()), "mean_entropy_outputs": float(np.mean(ents)) if ents else None,
            "central_sentences": [texts[i] for i in central.get(c, [])],
        })
    data = {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "text": texts, "is_outputs": is_study.tolist(),
            "rare": rare_flag.tolist(), "cluster": labels.tolist(), "entropy": ent}
    return data, clusters


def _fmt(x, f="{:.3f}"):
    return "-" if x is None else f.format(x)


def _p(x):
    return "-" if x is None else (f"{x:.1e}" if x < 1e-3 else f"{x:.3f}")


def print_summary(summary: dict, console=None) -> None:
    """Scorer line, then the per-response headline table of the three comparisons."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    sc = summary["scorer"]
    how = {"records": "the model that wrote the records", "option": "--model", "default": "DEFAULT: the records name no model"}[sc["source"]]
    console.print(f"[bold]scorer: {sc['model']}[/bold] ({how}; {sc['from_records']} responses with their own entropies, "
                  f"{sc['scored']} scored, {sc['reused_from_cache']} from cache)")
    t = Table(title=f"{summary['num_responses']} responses ({summary['num_prompts']} prompts), {summary['num_tokens']} tokens, "
                    f"mean entropy {summary['mean_entropy']:.3f} nats", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("vs the rest", "responses (prompts)", "mean diff [95% CI]", "p Wilcoxon", "p t", "pooled diff (n)"):
        t.add_column(col, justify="left" if col == "vs the rest" else "right", no_wrap=col in ("vs the rest", "responses (prompts)"))
    rows = (("pivotal", "pivotal words"), ("reflection", "reflective sent."), ("rare", "rare sentences"))
    for name, label in rows:
        c = summary.get(name)
        if not c:
            continue
        pr = c["per_response"]
        ci = pr.get("ci95")
        diff = _fmt(pr.get("mean_diff"), "{:+.3f}") + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")
        t.add_row(label, f"{pr['responses']} ({pr.get('prompts', '-')})", diff, _p(pr["p_value"]), _p(pr["p_value_t"]),
                  f"{_fmt(c['diff'], '{:+.3f}')} ({c['count']})")
    t.caption = ("nats; per response: mean of (group mean - other mean) within each response that has both; "
                 "p: over responses, or over per-prompt means when prompts have several responses; "
                 "CI: cluster bootstrap over prompts and responses; pooled: descriptive only")
    console.print(t)
    for name, _ in rows:
        note = (summary.get(name) or {}).get("per_response", {}).get("note")
        if note:
            console.print(f"[yellow]{name}: {note}[/yellow]")
