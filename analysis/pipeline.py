"""`entropykit analyze` end to end: read records, score tokens (cached), run the analyses,
write summary.json / responses.jsonl / sentences.jsonl / tokens.parquet / report.html.

`run_analysis(AnalyzeConfig(...))` is what the CLI calls; tests call it directly.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from entropykit.errors import UserError
from entropykit.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, iter_jsonl
from entropykit.response_metrics import (
    DEFAULT_PIVOTAL_LEXICON,
    DEFAULT_REFLECTIVE_PATTERNS,
    aggregate_metrics,
    load_lexicon_file,
    load_patterns_file,
    merge_lexicons,
    response_metrics,
    split_sentences,
)

from . import rare as rare_mod
from .behaviors import normalize_token, pivotal_occurrences, sentence_rows, top_counts, word_first_entropies
from .stats import compare_groups, describe
from .tokens import TOKENS_FILE, TokenTable, cache_key, read_token_table, score_with_cache, write_token_table

EMBEDDINGS_FILE = "embeddings.npz"


@dataclass
class AnalyzeConfig:
    """Options of `entropykit analyze` (defaults follow the paper where it gives one)."""

    outputs: str  # JSONL with "prompt" and "response" (optional "id", "source")
    out: str  # output folder
    base: str | None = None  # reference model's JSONL ("response" needed) -> rare behaviors
    model: str = "smollm2-135m"  # scorer spec (entropykit.models.load_model)
    embedder: str = rare_mod.DEFAULT_EMBEDDER  # sentence-transformers spec
    pivotal_words: str | None = None  # file of extra pivotal words (merged with the defaults)
    reflective_patterns: str | None = None  # file of extra reflective regexes
    pivotal_entropy: str = "first"  # a word's entropy: "first" token (default) or "mean" of its tokens
    rare_fraction: float = 0.1  # paper: top 10% by kNN distance are rare
    knn_k: int = 5
    n_clusters: int = 8
    umap_max_points: int = 4000  # UMAP/cluster sample size (all sentences get a rarity score)
    forking_quantile: float = 0.8  # "high-entropy" tokens: entropy >= this quantile (top 20%)
    n_boot: int = 2000  # bootstrap replicates for the 95% CIs
    seed: int = 0
    repetition_n: int = 4  # n of the seq-rep-n repetition rate
    chat: bool | None = None  # apply the tokenizer's chat template to prompts (None: if it has one)
    max_batch_tokens: int = 8192  # scorer batch size in tokens (padded)
    chunk_records: int = 128  # records scored per scorer call (bounds memory)
    embed_batch_size: int = 64
    heatmap_responses: int = 50  # responses shown in the report heatmap
    heatmap_width: int = 32  # tokens per heatmap row
    limit: int | None = None  # analyze only the first N usable records
    device: str | None = None
    progress: bool = False  # rich progress bars on stderr
    report: bool = True  # write report.html

    def validate(self) -> None:
        if self.pivotal_entropy not in ("first", "mean"):
            raise UserError(f"--pivotal-entropy must be 'first' or 'mean', not {self.pivotal_entropy!r}")
        if not 0.0 < self.rare_fraction <= 1.0:
            raise UserError(f"--rare-fraction must be in (0, 1], got {self.rare_fraction}")
        if self.knn_k < 1:
            raise UserError(f"--k must be >= 1, got {self.knn_k}")
        if self.n_clusters < 1:
            raise UserError(f"--clusters must be >= 1, got {self.n_clusters}")
        if not 0.0 < self.forking_quantile < 1.0:
            raise UserError(f"--forking-quantile must be in (0, 1), got {self.forking_quantile}")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be >= 1, got {self.limit}")
        if self.repetition_n < 1:
            raise UserError(f"--repetition-n must be >= 1, got {self.repetition_n}")
        if self.n_boot < 0:
            raise UserError(f"--n-boot must be >= 0, got {self.n_boot}")


@dataclass
class Inputs:
    records: list[dict]
    skipped_empty: int = 0
    total_lines: int = 0


def load_records(path: str, *, base: bool = False, limit: int | None = None) -> Inputs:
    """Stream a JSONL file into ``{"prompt", "response", "id", "source"}`` dicts.

    Malformed files / lines, missing fields and non-string values raise UserError (exit 2);
    records whose response is empty or whitespace-only are skipped and counted. A file with no
    usable record is a UserError.
    """
    required = ("response",) if base else ("prompt", "response")
    recs: list[dict] = []
    skipped = 0
    n = 0
    for rec in iter_jsonl(path, required=required):
        n += 1
        resp = rec["response"]
        prompt = rec.get("prompt", "")
        if not isinstance(resp, str):
            raise UserError(f"{path}: record {n}: 'response' must be a string, got {type(resp).__name__}")
        if prompt is None and base:
            prompt = ""
        if not isinstance(prompt, str):
            raise UserError(f"{path}: record {n}: 'prompt' must be a string, got {type(prompt).__name__}")
        if not resp.strip():
            skipped += 1
            continue
        src = rec.get("source")
        recs.append(
            {
                "prompt": prompt,
                "response": resp,
                "id": rec.get("id", n - 1),
                "source": str(src) if src is not None else ("base" if base else "outputs"),
                "num_tokens": rec.get("num_tokens") if isinstance(rec.get("num_tokens"), int) else None,
            }
        )
        if limit is not None and len(recs) >= limit:
            break
    if n == 0:
        raise UserError(f"{path}: empty file, no records")
    if not recs:
        raise UserError(f"{path}: all {n} records have an empty response")
    return Inputs(recs, skipped, n)


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


def _json_float(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def run_analysis(config: AnalyzeConfig) -> dict:
    """Run every analysis and write the outputs into ``config.out``; returns the summary dict.

    Files: ``summary.json`` (see README/--help), ``tokens.parquet`` (token table and cache),
    ``responses.jsonl`` (per-response entropy and test-time dynamics), ``sentences.jsonl``
    (per-sentence entropy, reflective flag, rarity), ``embeddings.npz`` (with a base; sentence
    embedding cache), ``report.html`` (self-contained, offline).
    """
    cfg = config
    cfg.validate()
    t_start = time.time()
    timings: dict[str, float] = {}
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")

    lexicon = dict(DEFAULT_PIVOTAL_LEXICON)
    if cfg.pivotal_words:
        lexicon = merge_lexicons(lexicon, load_lexicon_file(cfg.pivotal_words))
    patterns = tuple(DEFAULT_REFLECTIVE_PATTERNS)
    if cfg.reflective_patterns:
        patterns = patterns + load_patterns_file(cfg.reflective_patterns)

    inputs = load_records(cfg.outputs, limit=cfg.limit)
    base_inputs = load_records(cfg.base, base=True) if cfg.base else None
    records = inputs.records
    warnings_: list[str] = []
    if inputs.skipped_empty:
        warnings_.append(f"{cfg.outputs}: skipped {inputs.skipped_empty} record(s) with an empty response")
    if base_inputs and base_inputs.skipped_empty:
        warnings_.append(f"{cfg.base}: skipped {base_inputs.skipped_empty} record(s) with an empty response")

    try:  # only once the inputs are known to be usable
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: cannot create folder ({e.strerror})") from None

    with _Progress(cfg.progress) as prog:
        # ---- 1. token entropies (cached by model + text) -----------------------------------
        t0 = time.time()
        keys = [cache_key(cfg.model, r["prompt"], r["response"], cfg.chat) for r in records]
        cached = read_token_table(out / TOKENS_FILE)
        cache_table = None
        if cached is not None and cached[1].get("model") == cfg.model:
            cache_table = cached[0]
        lm_box: dict = {}

        def get_lm():
            if "lm" not in lm_box:
                from entropykit.models import load_model

                lm_box["lm"] = load_model(cfg.model, device=cfg.device)
            return lm_box["lm"]

        advance = prog.task("scoring", len(records))

        def score_fn(recs: Sequence[dict]) -> TokenTable:
            from entropykit.scoring import score_responses

            scored = score_responses(get_lm(), list(recs), chat=cfg.chat, max_batch_tokens=cfg.max_batch_tokens, progress=advance)
            return TokenTable.from_lists(
                [s.token_ids for s in scored], [s.tokens for s in scored], [s.offsets for s in scored],
                [s.logprobs for s in scored], [s.entropies for s in scored],
            )

        table, reused = score_with_cache(records, keys, score_fn, cache_table, chunk_records=cfg.chunk_records, progress=advance)
        same = cache_table is not None and list(cache_table.keys) == keys
        del cached, cache_table
        if not same:  # the file always holds exactly this run's responses, in input order
            write_token_table(out / TOKENS_FILE, table, {"model": cfg.model, "chat": cfg.chat})
        timings["scoring_s"] = time.time() - t0
        if table.num_tokens == 0:
            raise UserError(f"{cfg.outputs}: the responses contain no tokens")

        # ---- 2. per-response tables ----------------------------------------------------------
        t0 = time.time()
        advance = prog.task("sentences", len(records))
        in_pivotal = np.zeros(table.num_tokens, dtype=bool)
        piv_rows: list[dict] = []
        sent_rows: list[dict] = []
        resp_rows: list[dict] = []
        word_keys: list[str] = []
        word_vals: list[np.ndarray] = []
        for r, rec in enumerate(records):
            rows = table.rows(r)
            text = rec["response"]
            off, ent = table.offsets[rows], table.entropy[rows]
            pr, mask = pivotal_occurrences(text, off, ent, lexicon)
            in_pivotal[rows] = mask
            for row in pr:
                row["response"] = r
            piv_rows.extend(pr)
            spans = split_sentences(text)
            srows = sentence_rows(text, spans, off, ent, patterns)
            for j, row in enumerate(srows):
                row["response"] = r
                row["sentence"] = j
                row["source"] = rec["source"]
            sent_rows.extend(srows)
            wk, wv = word_first_entropies(text, off, ent)
            word_keys.extend(wk)
            word_vals.append(wv)
            m = response_metrics(text, rows.stop - rows.start, lexicon=lexicon, reflective=patterns, n=cfg.repetition_n, sentences=spans)
            resp_rows.append(
                {
                    "index": r,
                    "id": rec["id"],
                    "source": rec["source"],
                    "key": keys[r],
                    "mean_entropy": float(np.mean(ent, dtype=np.float64)) if len(ent) else None,
                    "max_entropy": float(np.max(ent)) if len(ent) else None,
                    **m,
                }
            )
            advance(1)
        timings["tables_s"] = time.time() - t0

        # ---- 3. token entropy and forking tokens ---------------------------------------------
        ent_all = table.entropy.astype(np.float64)
        thr = float(np.quantile(ent_all, cfg.forking_quantile))
        tok_keys = [normalize_token(t) for t in table.token]
        forking_tokens = top_counts(tok_keys, ent_all, thr)
        wv_all = np.concatenate(word_vals) if word_vals else np.zeros(0)
        forking_words = top_counts(word_keys, wv_all, thr)
        del tok_keys

        # ---- 4. pivotal words ----------------------------------------------------------------
        t0 = time.time()
        ecol = "entropy_first" if cfg.pivotal_entropy == "first" else "entropy_mean"
        other_tok = ent_all[~in_pivotal]
        piv_vals = np.array([row[ecol] for row in piv_rows], dtype=np.float64)
        pivotal = compare_groups(piv_vals, other_tok, n_boot=cfg.n_boot, seed=cfg.seed).to_dict()
        pivotal["entropy_of_word"] = "first_token" if cfg.pivotal_entropy == "first" else "mean_of_tokens"
        pivotal["other"] = "all tokens that are not part of a pivotal word"
        cats = {}
        for cat in lexicon:
            vals = np.array([row[ecol] for row in piv_rows if row["category"] == cat], dtype=np.float64)
            cats[cat] = compare_groups(vals, other_tok, n_boot=cfg.n_boot, seed=cfg.seed).to_dict()
        pivotal["categories"] = cats
        per_word: dict[str, list] = {}
        for row in piv_rows:
            per_word.setdefault(row["word"], []).append(row)
        words_tab = []
        for w, rows_ in per_word.items():
            v_first = np.array([x["entropy_first"] for x in rows_])
            v_mean = np.array([x["entropy_mean"] for x in rows_])
            c = compare_groups(v_first if ecol == "entropy_first" else v_mean, other_tok, n_boot=0, mannwhitney=False)
            words_tab.append(
                {
                    "word": w,
                    "category": rows_[0]["category"],
                    "count": len(rows_),
                    "mean_entropy_first": float(v_first.mean()),
                    "mean_entropy_mean": float(v_mean.mean()),
                    "mean_num_tokens": float(np.mean([x["num_tokens"] for x in rows_])),
                    "diff_vs_other": _json_float(c.diff),
                    "p_value": c.p_value,
                    "effect_size": c.effect_size,
                }
            )
        words_tab.sort(key=lambda x: (-x["count"], x["word"]))
        pivotal["words"] = words_tab
        timings["pivotal_s"] = time.time() - t0

        # ---- 5. reflective sentences ---------------------------------------------------------
        with_tokens = [s for s in sent_rows if s["mean_entropy"] is not None]
        refl = np.array([s["mean_entropy"] for s in with_tokens if s["reflective"]], dtype=np.float64)
        nonrefl = np.array([s["mean_entropy"] for s in with_tokens if not s["reflective"]], dtype=np.float64)
        reflection = compare_groups(refl, nonrefl, n_boot=cfg.n_boot, seed=cfg.seed).to_dict()
        reflection["num_sentences"] = len(with_tokens)
        reflection["other"] = "all other sentences (mean token entropy per sentence)"
        reflection["examples"] = [
            {"text": s["text"], "mean_entropy": s["mean_entropy"], "response": s["response"]}
            for s in sorted((s for s in with_tokens if s["reflective"]), key=lambda s: -s["mean_entropy"])[:10]
        ]

        # ---- 6. rare behaviors (needs --base) ------------------------------------------------
        rare = None
        umap_data = None
        base_resp_rows: list[dict] = []
        if base_inputs is not None:
            t0 = time.time()
            base_sents: list[str] = []
            for rec in base_inputs.records:
                spans = split_sentences(rec["response"])
                base_sents.extend(rec["response"][s:e] for s, e in spans)
                ntok = rec["num_tokens"]
                if ntok is None:  # length in the scorer's tokens, like OUTPUTS
                    tok = getattr(get_lm(), "tokenizer", None)
                    if tok is not None:
                        ntok = len(tok(rec["response"], add_special_tokens=False)["input_ids"])
                m = response_metrics(rec["response"], ntok, lexicon=lexicon, reflective=patterns, n=cfg.repetition_n, sentences=spans)
                base_resp_rows.append({"id": rec["id"], "source": rec["source"], **m})
            study = with_tokens
            if not base_sents:
                raise UserError(f"{cfg.base}: no sentences found in the responses")
            n_texts = len({s["text"] for s in study} | set(base_sents))
            adv = prog.task("embedding", n_texts)
            all_texts = [s["text"] for s in study] + base_sents
            emb, emb_reused = rare_mod.embed_with_cache(
                lambda: rare_mod.load_embedder(cfg.embedder), all_texts, out / EMBEDDINGS_FILE, cfg.embedder, batch_size=cfg.embed_batch_size, progress=adv)
            e_study, e_base = emb[: len(study)], emb[len(study) :]
            timings["embedding_s"] = time.time() - t0
            t0 = time.time()
            prog.note("nearest neighbours ...")
            rarity = rare_mod.knn_rarity(e_study, e_base, k=cfg.knn_k)
            is_rare = rare_mod.top_fraction_mask(rarity, cfg.rare_fraction)
            for s, d, f in zip(study, rarity, is_rare):
                s["rarity"] = float(d)
                s["rare"] = bool(f)
            ent_s = np.array([s["mean_entropy"] for s in study], dtype=np.float64)
            rare = compare_groups(ent_s[is_rare], ent_s[~is_rare], n_boot=cfg.n_boot, seed=cfg.seed).to_dict()
            rare.update(
                {
                    "k": int(min(cfg.knn_k, len(e_base))),
                    "fraction": cfg.rare_fraction,
                    "num_sentences": len(study),
                    "num_base_sentences": len(base_sents),
                    "distance": "mean cosine distance (1 - cos) to the k nearest base sentences",
                    "threshold_distance": float(rarity[is_rare].min()) if is_rare.any() else None,
                    "other": "all other (non-rare) sentences of OUTPUTS",
                    "embedder": cfg.embedder,
                    "embedding_cache": {"file": EMBEDDINGS_FILE, "reused": emb_reused, "unique_sentences": n_texts},
                    "examples": [
                        {"text": study[i]["text"], "rarity": float(rarity[i]), "mean_entropy": study[i]["mean_entropy"]}
                        for i in np.argsort(-rarity, kind="stable")[:10]
                    ],
                }
            )
            timings["knn_s"] = time.time() - t0
            t0 = time.time()
            prog.note("UMAP projection and clusters ...")
            umap_data, clusters = _umap_and_clusters(cfg, study, e_study, base_sents, e_base, is_rare)
            rare["clusters"] = clusters
            rare["umap_points"] = len(umap_data["x"])
            timings["umap_s"] = time.time() - t0
            del emb, e_study, e_base

    # ---- 7. dynamics, summary, files ---------------------------------------------------------
    by_source: dict[str, list] = {}
    for row in resp_rows + base_resp_rows:
        by_source.setdefault(row["source"], []).append(row)
    dynamics = {
        "repetition_n": cfg.repetition_n,
        "repetition_rate": f"seq-rep-{cfg.repetition_n}: 1 - unique word {cfg.repetition_n}-grams / all word {cfg.repetition_n}-grams",
        "by_source": {src: aggregate_metrics(rows) for src, rows in by_source.items()},
    }
    resp_means = np.array([r["mean_entropy"] for r in resp_rows], dtype=np.float64)
    summary: dict = {
        "tool": "entropykit analyze",
        "model": cfg.model,
        "inputs": {
            "outputs": str(cfg.outputs),
            "base": str(cfg.base) if cfg.base else None,
            "records": inputs.total_lines,
            "skipped_empty_responses": inputs.skipped_empty,
            "base_records": base_inputs.total_lines if base_inputs else None,
            "base_skipped_empty_responses": base_inputs.skipped_empty if base_inputs else None,
        },
        "num_responses": table.num_responses,
        "num_tokens": table.num_tokens,
        "mean_entropy": float(ent_all.mean()),
        "entropy_unit": "nats",
        "token_entropy": describe(ent_all),
        "response_mean_entropy": describe(resp_means),
        "forking": {
            "quantile": cfg.forking_quantile,
            "threshold": thr,
            "tokens": forking_tokens,
            "words": forking_words,
        },
        "pivotal": pivotal,
        "reflection": reflection,
        "dynamics": dynamics,
        "cache": {"file": TOKENS_FILE, "reused": reused, "scored": len(records) - reused},
        "warnings": warnings_,
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("progress",)},
    }
    if rare is not None:
        summary["rare"] = rare
    summary["reflection"]["patterns"] = list(patterns)
    summary["pivotal"]["lexicon"] = {k: list(v) for k, v in lexicon.items()}

    t0 = time.time()
    atomic_write_jsonl(out / "responses.jsonl", resp_rows)
    atomic_write_jsonl(out / "sentences.jsonl", sent_rows)
    files = {"summary": "summary.json", "tokens": TOKENS_FILE, "responses": "responses.jsonl", "sentences": "sentences.jsonl"}
    if cfg.report:
        from .report import build_report

        html = build_report(summary, records, table, piv_rows, resp_rows, base_resp_rows, umap_data, cfg)
        atomic_write_text(out / "report.html", html)
        files["report"] = "report.html"
    timings["write_s"] = time.time() - t0
    timings["total_s"] = time.time() - t_start
    summary["files"] = files
    summary["timings"] = {k: round(v, 3) for k, v in timings.items()}
    atomic_write_json(out / "summary.json", summary)
    return summary


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
        clusters.append(
            {
                "cluster": c,
                "size": int(m.sum()),
                "outputs": int((m & is_study).sum()),
                "base": int((m & ~is_study).sum()),
                "rare": int((m & rare_flag).sum()),
                "mean_entropy_outputs": float(np.mean(ents)) if ents else None,
                "central_sentences": [texts[i] for i in central.get(c, [])],
            }
        )
    data = {
        "x": xy[:, 0].tolist(),
        "y": xy[:, 1].tolist(),
        "text": texts,
        "is_outputs": is_study.tolist(),
        "rare": rare_flag.tolist(),
        "cluster": labels.tolist(),
        "entropy": ent,
    }
    return data, clusters


def print_summary(summary: dict, console=None) -> None:
    """Compact rich table of the three comparisons (and where the files are)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()

    def f(x, fmt="{:.3f}"):
        return "-" if x is None else fmt.format(x)

    from rich import box

    t = Table(title=f"{summary['num_responses']} responses, {summary['num_tokens']} tokens, "
                    f"mean entropy {summary['mean_entropy']:.3f} nats", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("vs other", "n", "mean H", "other H", "diff [95% CI]", "p", "d"):
        t.add_column(col, justify="left" if col == "vs other" else "right", no_wrap=True)
    for name, label in (("pivotal", "pivotal"), ("reflection", "reflective"), ("rare", "rare")):
        c = summary.get(name)
        if not c:
            continue
        ci = c.get("ci95")
        diff = f(c.get("diff"), "{:+.3f}") + (f" [{ci[0]:+.2f},{ci[1]:+.2f}]" if ci else "")
        t.add_row(label, str(c["count"]), f(c["mean_entropy"]), f(c["other_mean_entropy"]), diff,
                  f(c["p_value"], "{:.2g}"), f(c["effect_size"], "{:+.2f}"))
    t.caption = "nats; p: Welch t-test; d: Cohen's d; CI: bootstrap"
    console.print(t)
