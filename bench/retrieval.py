"""Benchmark: embeval's retrieval metrics against pytrec_eval, sentence-transformers'
InformationRetrievalEvaluator and scikit-learn, on the same precomputed vectors, in one process;
then the peak memory of auc_global over a 1,000,000 × 384 corpus with 1,000 queries.

    PYTHONPATH=. python bench/retrieval.py            # a few minutes on 2 cores
    PYTHONPATH=. python bench/retrieval.py --no-big   # skip the 1M-corpus run

What is timed (best of --repeat runs, wall clock):

1. metrics from a fixed top-100 ranking (no search): embeval ``ranked_gains`` + ``ranking_metrics``
   for ndcg/map/recall/precision/mrr at k = 1, 3, 5, 10, 100, against pytrec_eval's
   ``RelevanceEvaluator(...).evaluate(run)`` for ndcg_cut/map_cut/recall/P at the same k plus
   recip_rank (building pytrec_eval's dict-of-dicts run from the ranking is timed separately).
2. vectors -> metrics: ``evaluate_retrieval(auc=False, separation=False)`` (FAISS flat search +
   metrics) against ``InformationRetrievalEvaluator.compute_all_metrics`` given the corpus
   embeddings as a tensor and a stand-in model whose ``encode_query`` returns the precomputed
   query tensor (so ST times its own scoring, top-k and metric code, and no encoding).
3. all-pairs AUC: ``auc_global_query`` against ``roc_auc_score`` on the pooled score matrix
   (which sklearn needs whole, m × n values).
4. 1M × 384 corpus, 1,000 queries: ``auc_global_query`` time and peak traced memory (tracemalloc
   sees NumPy's buffers, not BLAS's internal workspace), against the 4 GB the m × n float32
   score matrix would take.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc

import numpy as np

from embeval.diagnostics import retrieval as rt
from embeval.diagnostics.space import l2_normalize
from embeval.index.search import build_index

KS = (1, 3, 5, 10, 100)


def best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def make_data(n_docs, n_queries, d, seed):
    """Queries pulled towards 1-3 relevant documents each (SciFact has 1.13 per query) by a random
    amount, so that rankings are imperfect (nDCG@10 ≈ 0.6 at SciFact size); unit rows."""
    rng = np.random.default_rng(seed)
    corpus = rng.standard_normal((n_docs, d), dtype=np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries = l2_normalize(rng.standard_normal((n_queries, d), dtype=np.float32))
    qids = [f"q{i}" for i in range(n_queries)]
    dids = [f"d{j}" for j in range(n_docs)]
    qrels = {}
    for i in range(n_queries):
        docs = rng.choice(n_docs, size=rng.choice([1, 1, 1, 1, 1, 1, 2, 3]), replace=False)
        qrels[qids[i]] = {dids[j]: 1 for j in docs}
        queries[i] = l2_normalize((queries[i] + rng.uniform(0.1, 0.35) * corpus[docs].sum(0))[None])[0]
    return queries, corpus, qrels, qids, dids


def row(name, ours, ref, ref_name):
    print(f"  {name:<44} embeval {ours * 1e3:9.1f} ms   {ref_name} {ref * 1e3:9.1f} ms   "
          f"ratio {ref / ours:6.1f}x")


def bench_metrics(queries, corpus, qrels, qids, dids, repeat):
    import pytrec_eval

    aligned = rt.align_qrels(qrels, qids, dids)
    q = queries[aligned.query_rows]
    _, idx = build_index("flat", corpus).search(q, 100)

    def ours():
        gains = rt.ranked_gains(aligned, idx)
        ideal = rt.ideal_gains(aligned, 100)
        return {k: rt.ranking_metrics(gains, aligned.n_rel, ideal, k) for k in KS}

    t_ours, res = best(ours, repeat)

    def make_run():
        return {qid: {dids[j]: float(100 - r) for r, j in enumerate(row)} for qid, row in zip(aligned.query_ids, idx)}

    t_run, run = best(make_run, repeat)
    cut = ",".join(map(str, KS))
    measures = {f"ndcg_cut.{cut}", f"map_cut.{cut}", f"recall.{cut}", f"P.{cut}", "recip_rank"}

    def ref():
        return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)

    t_ref, ev = best(ref, repeat)
    agree = max(abs(float(np.mean([ev[q][f"ndcg_cut_{k}"] for q in aligned.query_ids])) - float(res[k]["ndcg"].mean()))
                for k in KS)
    row("metrics from a top-100 ranking", t_ours, t_ref, "pytrec_eval")
    print(f"  {'(building pytrec_eval run dict, extra)':<44} {t_run * 1e3:9.1f} ms;  "
          f"max |Δ mean ndcg@k| = {agree:.1e}")


class _Precomputed:
    """Stands in for a SentenceTransformer: 'encoding' a query id returns its stored vector."""

    similarity_fn_name = "cosine"

    def __init__(self, vectors_by_id):
        import torch

        self._v = {k: torch.from_numpy(v) for k, v in vectors_by_id.items()}

    def encode_query(self, sentences, **kw):
        import torch

        return torch.stack([self._v[s] for s in sentences])

    encode_document = encode_query


def bench_end_to_end(queries, corpus, qrels, qids, dids, repeat):
    import torch
    from sentence_transformers.util import cos_sim

    try:
        from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    except ImportError:  # older layout
        from sentence_transformers.evaluation import InformationRetrievalEvaluator

    rel = {q: {d for d, g in docs.items() if g > 0} for q, docs in qrels.items()}
    ev = InformationRetrievalEvaluator(
        queries={q: q for q in qids}, corpus={d: d for d in dids}, relevant_docs=rel,
        mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[1, 10], precision_recall_at_k=[1, 10, 100],
        map_at_k=[100], score_functions={"cosine": cos_sim}, write_csv=False,
    )
    model = _Precomputed(dict(zip(qids, queries)))
    corpus_t = torch.from_numpy(corpus)
    t_st, st_scores = best(lambda: ev.compute_all_metrics(model, corpus_embeddings=corpus_t), repeat)

    def ours():
        return rt.evaluate_retrieval(queries, corpus, qrels, qids, dids, ks=(1, 10, 100), auc=False,
                                     separation=False)

    t_ours, (res, _) = best(ours, repeat)
    v = {r.metric: r.value for r in res}
    row("vectors -> ranking metrics (search + metrics)", t_ours, t_st, "ST IR evaluator")
    print(f"  {'':<44} ndcg@10 embeval {v['ndcg@10']:.6f}  ST {st_scores['cosine']['ndcg@k'][10]:.6f};  "
          f"recall@100 {v['recall@100']:.6f} vs {st_scores['cosine']['recall@k'][100]:.6f}")
    import faiss

    flat = faiss.IndexFlatIP(corpus.shape[1])
    flat.add(corpus)
    aligned = rt.align_qrels(qrels, qids, dids)
    q = queries[aligned.query_rows]
    t_bare, _ = best(lambda: flat.search(q, 100), repeat)
    ours_index = build_index("flat", corpus)
    t_idx, _ = best(lambda: ours_index.search(q, 100), repeat)
    row("top-100 exact search alone", t_idx, t_bare, "bare FAISS IndexFlatIP")
    t_all, _ = best(lambda: rt.evaluate_retrieval(queries, corpus, qrels, qids, dids, ks=(1, 10, 100)), repeat)
    print(f"  {'  + auc_global/auc_query/separation':<44} embeval {t_all * 1e3:9.1f} ms (whole corpus, every pair)")


def bench_auc(queries, corpus, qrels, qids, dids, repeat):
    from sklearn.metrics import roc_auc_score

    aligned = rt.align_qrels(qrels, qids, dids)
    q, pos = queries[aligned.query_rows], aligned.positives()
    t_ours, st = best(lambda: rt.auc_global_query(q, corpus, pos), repeat)

    def ref():
        s = q @ corpus.T
        lab = np.zeros(s.shape, dtype=bool)
        for i, p in enumerate(pos):
            lab[i, p] = True
        return roc_auc_score(lab.ravel(), s.ravel())

    t_ref, auc_ref = best(ref, repeat)
    row(f"auc_global+auc_query ({len(q)}×{len(corpus)} pairs)", t_ours, t_ref, "sklearn (global only)")
    print(f"  {'':<44} auc_global embeval {st.levels.auc():.9f} ({st.levels.method})  sklearn {auc_ref:.9f}")


def bench_big(n_docs, n_queries, d, seed):
    print(f"\n4. auc_global over {n_docs:,} × {d} corpus, {n_queries:,} queries "
          f"({n_docs * n_queries:,} pairs)")
    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    corpus = np.empty((n_docs, d), dtype=np.float32)
    step = 100_000
    for s in range(0, n_docs, step):
        block = rng.standard_normal((min(step, n_docs - s), d), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        corpus[s:s + len(block)] = block
    queries = l2_normalize(rng.standard_normal((n_queries, d), dtype=np.float32))
    positives = [np.sort(rng.choice(n_docs, size=rng.integers(1, 4), replace=False)) for _ in range(n_queries)]
    for i, p in enumerate(positives):
        queries[i] = l2_normalize((queries[i] + rng.uniform(0.1, 0.35) * corpus[p].sum(0))[None])[0]
    print(f"  data generated in {time.perf_counter() - t:.1f} s; inputs hold "
          f"{(corpus.nbytes + queries.nbytes) / 2**20:,.0f} MiB")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t = time.perf_counter()
    st = rt.auc_global_query(queries, corpus, positives)
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    full = n_docs * n_queries * 4
    lv = st.levels
    print(f"  time {elapsed:.1f} s  ({elapsed / (n_docs * n_queries) * 1e9:.1f} ns per pair)")
    print(f"  peak traced memory {peak:,} bytes ({peak / 2**20:,.0f} MiB) vs {full:,} bytes "
          f"({full / 2**30:.1f} GiB) for the full m×n float32 score matrix: {full / peak:.1f}x less")
    print(f"  process max RSS {rss_before / 2**20:,.0f} MiB before, {rss_after / 2**20:,.0f} MiB after "
          f"(inputs included)")
    print(f"  auc_global {lv.auc():.6f} ({lv.method}, bin width {lv.bin_width:.3g}, max error "
          f"{lv.max_error():.2e}); auc_query {np.nanmean(st.per_query):.6f}; "
          f"{lv.n_pos} positives, {lv.n_neg:,} negatives")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-big", action="store_true", help="skip the 1M-document memory run")
    ap.add_argument("--big-docs", type=int, default=1_000_000)
    ap.add_argument("--big-queries", type=int, default=1_000)
    args = ap.parse_args()
    import faiss

    print(f"numpy {np.__version__}, faiss {faiss.__version__}, threads {faiss.omp_get_max_threads()}")
    for n_docs, n_queries in ((5183, 300), (50_000, 1000)):
        data = make_data(n_docs, n_queries, 384, seed=0)
        print(f"\n== {n_queries} queries × {n_docs} docs × 384 (SciFact is 300 × 5183) ==")
        print("1. metric computation")
        bench_metrics(*data, repeat=args.repeat)
        print("2. end to end on precomputed vectors")
        bench_end_to_end(*data, repeat=args.repeat)
        if n_docs * n_queries <= 5_000_000:
            print("3. all-pairs AUC")
            bench_auc(*data, repeat=args.repeat)
        del data
    if not args.no_big:
        bench_big(args.big_docs, args.big_queries, 384, seed=1)


if __name__ == "__main__":
    main()
