"""Benchmark ``builder.quality.neardup`` on synthetic Chinese QA-like texts.

Texts are assembled deterministically from the vocabulary pools of ``bench/workload.py``
(imported, not copied): question + answer, ~225 characters median. Planted: ~5% light edits
of an earlier text (1-3 characters changed, punctuation swapped, or one sentence appended)
and ~3% exact copies of an earlier text.

Prints docs/s, wall seconds (add() + resolve(); text generation is not timed), peak RSS, index
bytes per doc, recall on the planted pairs (and on the planted pairs whose true character
n-gram Jaccard is >= the threshold, from a sample), a sample check of the unplanted
detections, and a last line of JSON.

Usage: ``python bench/neardup.py [--rows N] [--batch B] [--threads T] [--list] [--compare N]``
``--compare N`` also times, on the first N texts, the alternative designs that were measured:
datasketch-free rensa (numpy shingle hashes -> ``RMinHash.digest_matrix_from_flat_token_hashes``
-> ``RMinHashLSH.insert_matrix_and_query_duplicate_flags``) against this module.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import _build_qa_pools  # vocabulary approach reused, not copied

from builder.kernels.shingles import shingle_hashes
from builder.quality.neardup import NearDupConfig, NearDuplicates

_PUNCT_SWAP = {"，": ",", "。": ".", "？": "?", "；": ";", "：": ":"}
_EDIT_CHARS = "的了是我有不在人这中大为上个国和也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从"


def generate(n: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int, str]]]:
    """``n`` texts and the planted pairs ``(copy_index, source_index, kind)``."""
    r = random.Random(f"neardup-{seed}")
    q_open, q_mid, q_end, a_sent = _build_qa_pools(r)
    choice, choices, rand, randint, randrange = r.choice, r.choices, r.random, r.randint, r.randrange
    texts: list[str] = []
    planted: list[tuple[int, int, str]] = []
    for i in range(n):
        x = rand()
        if i and x < 0.03:
            src = randrange(i)
            texts.append(texts[src])
            planted.append((i, src, "exact"))
            continue
        if i and x < 0.08:
            src = randrange(i)
            t = texts[src]
            kind = ("chars", "punct", "append")[randrange(3)]
            if kind == "chars":
                chars = list(t)
                for _ in range(randint(1, 3)):
                    chars[randrange(len(chars))] = choice(_EDIT_CHARS)
                t = "".join(chars)
            elif kind == "punct":
                chars = list(t)
                idx = [k for k, c in enumerate(chars) if c in _PUNCT_SWAP]
                for k in r.sample(idx, min(len(idx), randint(1, 3))):
                    chars[k] = _PUNCT_SWAP[chars[k]] if rand() < 0.7 else ""
                t = "".join(chars)
            else:
                t = t + choice(a_sent)
            texts.append(t)
            planted.append((i, src, kind))
            continue
        q = choice(q_open) + "".join(choices(q_mid, k=randint(0, 6))) + choice(q_end)
        a = "".join(choices(a_sent, k=randint(3, 15)))
        texts.append(q + "\n" + a[:-1] + "。")
    return texts, planted


def jaccard(a: str, b: str, n: int) -> float:
    def sh(t: str) -> set[str]:
        t = t.lower()
        return {t[i : i + n] for i in range(len(t) - n + 1)} if len(t) >= n else {t}

    x, y = sh(a), sh(b)
    return len(x & y) / len(x | y) if x or y else 1.0


def compare(texts: list[str], cfg: NearDupConfig) -> dict:
    """Time this module vs the rensa path on the same texts (signatures + LSH)."""
    out: dict = {"docs": len(texts)}
    t0 = time.perf_counter()
    nd = NearDuplicates(cfg, threads=1)
    nd.add(texts)
    res = nd.resolve()
    nd.close()
    t1 = time.perf_counter()
    out["numpy_oph_1thread_s"] = round(t1 - t0, 3)
    out["numpy_oph_1thread_docs_per_s"] = round(len(texts) / (t1 - t0))
    out["numpy_oph_duplicates"] = int((res.duplicate_of >= 0).sum())
    t0 = time.perf_counter()
    nd = NearDuplicates(cfg, threads=2)
    for i in range(0, len(texts), 8192):
        nd.add(texts[i : i + 8192])
    nd.resolve()
    nd.close()
    t1 = time.perf_counter()
    out["numpy_oph_2threads_docs_per_s"] = round(len(texts) / (t1 - t0))
    try:
        import rensa
    except ImportError:
        out["rensa"] = "not installed"
        return out
    t0 = time.perf_counter()
    hs, offsets = shingle_hashes(texts, cfg.ngram, cfg.seed)
    t1 = time.perf_counter()
    mat = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hs, offsets, cfg.bins, cfg.seed)
    t2 = time.perf_counter()
    # rensa needs num_perm divisible by num_bands: the closest divisor of bins to our band count
    nb = min((b for b in range(1, cfg.bins + 1) if cfg.bins % b == 0), key=lambda b: (abs(b - nd.bands), b))
    lsh = rensa.RMinHashLSH(cfg.threshold, cfg.bins, nb)
    flags = lsh.insert_matrix_and_query_duplicate_flags(mat, 0)
    t3 = time.perf_counter()
    rows = mat.to_rows()
    t4 = time.perf_counter()
    out.update(
        rensa_shingle_hash_s=round(t1 - t0, 3),
        rensa_digest_s=round(t2 - t1, 3),
        rensa_lsh_flags_s=round(t3 - t2, 3),
        rensa_bands=nb,
        rensa_flagged=int(sum(flags)),
        rensa_to_rows_s=round(t4 - t3, 3),
        rensa_docs_per_s_without_to_rows=round(len(texts) / (t3 - t0)),
        rensa_docs_per_s_with_to_rows=round(len(texts) / (t4 - t0)),
    )
    del rows
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_300_000)
    ap.add_argument("--batch", type=int, default=8192, help="texts per add() call")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--list", action="store_true", help="pass list[str] batches instead of pa.Array")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare", type=int, default=0, metavar="N", help="also compare with rensa on N texts")
    ap.add_argument("--sample", type=int, default=3000, help="pairs sampled for true-Jaccard checks")
    args = ap.parse_args(argv)
    cfg = NearDupConfig()

    tg = time.perf_counter()
    texts, planted = generate(args.rows, args.seed)
    if args.list:
        batches = [texts[i : i + args.batch] for i in range(0, len(texts), args.batch)]
    else:
        batches = [pa.array(texts[i : i + args.batch], pa.string()) for i in range(0, len(texts), args.batch)]
    chars = sum(map(len, texts))
    print(f"generated {len(texts):,} texts ({chars:,} chars, {len(planted):,} planted) in {time.perf_counter() - tg:.1f} s")

    if args.compare:
        print("compare:", json.dumps(compare(texts[: args.compare], cfg)))

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    nd = NearDuplicates(cfg, threads=args.threads)
    for b in batches:
        nd.add(b)
    t1 = time.perf_counter()
    res = nd.resolve()
    t2 = time.perf_counter()
    nd.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall = t2 - t0

    root = np.where(res.duplicate_of >= 0, res.duplicate_of, np.arange(len(texts)))
    pl = np.array([(i, s) for i, s, _ in planted], np.int64).reshape(-1, 2)
    kinds = np.array([k for _, _, k in planted])
    hit = root[pl[:, 0]] == root[pl[:, 1]]
    recall = {k: round(float(hit[kinds == k].mean()), 4) for k in ("exact", "chars", "punct", "append")}
    near = kinds != "exact"
    recall["near_all"] = round(float(hit[near].mean()), 4)

    rng = np.random.default_rng(args.seed)
    near_idx = np.flatnonzero(near)
    samp = rng.choice(near_idx, min(args.sample, near_idx.size), replace=False)
    js = np.array([jaccard(texts[pl[k, 0]], texts[pl[k, 1]], cfg.ngram) for k in samp])
    above = js >= cfg.threshold
    recall["near_true_j_ge_threshold_sample"] = round(float(hit[samp][above].mean()), 4) if above.any() else None
    recall["sample_share_true_j_ge_threshold"] = round(float(above.mean()), 4)

    planted_set = set(pl[:, 0].tolist())
    dups = np.flatnonzero(res.duplicate_of >= 0)
    unplanted = np.array([d for d in dups.tolist() if d not in planted_set], np.int64)
    check = {"unplanted_detections": int(unplanted.size)}
    if unplanted.size:
        us = rng.choice(unplanted, min(args.sample, unplanted.size), replace=False)
        uj = np.array([jaccard(texts[d], texts[res.duplicate_of[d]], cfg.ngram) for d in us])
        check.update(unplanted_sample=int(us.size), unplanted_true_j_min=round(float(uj.min()), 3),
                     unplanted_true_j_median=round(float(np.median(uj)), 3))
    # direct pairs (doc, its kept doc) of the planted near-duplicates that were found
    found = samp[hit[samp]]
    fj = np.array([jaccard(texts[pl[k, 0]], texts[res.duplicate_of[pl[k, 0]]], cfg.ngram) for k in found])

    summary = res.clusters_summary(5)
    print(f"config: {cfg}  bands x rows = {res.bands} x {res.rows}")
    print(f"docs/s: {len(texts) / wall:,.0f}   wall: {wall:.2f} s  (add {t1 - t0:.2f} s + resolve {t2 - t1:.2f} s)")
    print(f"peak RSS: {rss / 1024:,.0f} MB (before run {rss0 / 1024:,.0f} MB)   index bytes/doc: {res.index_bytes_per_doc:.0f}")
    print(f"candidate pairs: {res.candidate_pairs:,}  verified: {res.verified_pairs:,}  "
          f"clusters: {summary['clusters']:,}  duplicates: {summary['duplicates']:,}  largest: {summary['largest']}")
    print(f"recall on planted pairs: {recall}")
    print(f"unplanted detections: {check}")
    if fj.size:
        print(f"found planted near-dups vs their kept doc: true Jaccard min {fj.min():.3f}, median {np.median(fj):.3f}")
    print(json.dumps({
        "rows": len(texts), "chars": chars, "wall_s": round(wall, 3), "add_s": round(t1 - t0, 3),
        "resolve_s": round(t2 - t1, 3), "docs_per_s": round(len(texts) / wall),
        "peak_rss_mb": round(rss / 1024, 1), "index_bytes_per_doc": res.index_bytes_per_doc,
        "bands": res.bands, "rows_per_band": res.rows, "threads": args.threads,
        "input": "list" if args.list else "arrow", "batch": args.batch,
        "candidate_pairs": res.candidate_pairs, "verified_pairs": res.verified_pairs,
        "clusters": summary["clusters"], "duplicates": summary["duplicates"],
        "planted": len(planted), "recall": recall, **check,
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
