"""Split a paper into token-bounded chunks whose embedded text carries the title."""

from __future__ import annotations

import math
import re
from functools import lru_cache

from assistant.core.models import Chunk, Paper
from assistant.core.offline import tiktoken_encoding
from assistant.core.settings import IngestSettings

_SENTENCE_END = re.compile(r"(?<=[.!?]\s)(?=[A-Z0-9])")


@lru_cache(maxsize=64)
def _splitter(chunk_tokens: int, overlap: int, encoding: str):
    from llama_index.core.node_parser import SentenceSplitter

    # A regex sentence splitter instead of NLTK punkt: punkt needs data files that NLTK refuses to
    # open when a package installer hard-links them, and abstracts split cleanly on ". ".
    return SentenceSplitter(chunk_size=chunk_tokens, chunk_overlap=overlap,
                            tokenizer=tiktoken_encoding(encoding).encode,
                            chunking_tokenizer_fn=split_sentences)


def split_sentences(text: str) -> list[str]:
    """Sentences, each keeping its trailing whitespace so that joining them restores the text."""
    return [piece for piece in _SENTENCE_END.split(text) if piece]


def chunk_paper(paper: Paper, settings: IngestSettings) -> list[Chunk]:
    """Sentence-aware chunks of the abstract, each prefixed by the title for embedding."""
    total = len(tiktoken_encoding(settings.tokenizer).encode(paper.abstract))
    # Balanced sizes: a 290-token abstract becomes two ~150-token halves, not 200 + a 90-token scrap.
    parts = max(1, math.ceil(total / settings.chunk_tokens))
    size = min(settings.chunk_tokens, math.ceil(total / parts) + settings.chunk_overlap)
    splitter = _splitter(size, min(settings.chunk_overlap, size // 4), settings.tokenizer)
    pieces = splitter.split_text(paper.abstract) or [paper.abstract]
    return [Chunk(paper_id=paper.paper_id, index=i, text=text, embed_text=f"{paper.title}\n{text}")
            for i, text in enumerate(pieces)]
