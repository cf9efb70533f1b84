"""Hybrid retrieval: dense + BM25 in Qdrant, fused, grouped per paper, and the relevance verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.core.dates import label_order, parse_feed_date
from assistant.core.errors import InvalidQuery
from assistant.core.models import Hit
from assistant.core.settings import RetrievalSettings
from assistant.index.base import HybridQuery, HybridResult, PaperIndex, SearchFilter, SparseVec
from assistant.index.embedder import Embedder
from assistant.index.sparse import SparseEncoder


@dataclass
class Retrieval:
    """Papers found for a query (fused order) and whether the evidence is strong enough to answer."""

    hits: list[Hit]
    relevant: bool
    best_dense: float
    coverage: float
    missing: list[str] = field(default_factory=list)  # names the question relies on that no found paper has
    unmentioned: list[str] = field(default_factory=list)  # names of an answered question no found paper mentions
    query: str = ""  # the query searched with: the question without the filter words read from it
    searched: str = ""  # the text the search and the rerank read (the query, its collection words left out)
    filters: list[str] = field(default_factory=list)  # the filter applied, in words ("feed Mar 13", "with code")
    filters_read: list[str] = field(default_factory=list)  # the part of it the question's own words stated
    named: bool = False  # relevant only because a name in the question points at one found paper
    listing: bool = False  # the question asks for every paper that applies ("which papers ...", a stated filter)
    newest: bool = False  # the question asks for the newest papers on its topic: listed most recent first
    by_filter: bool = False  # the question is only filters or a kind of paper: each paper passing them answers it
    mention: str = ""  # the name a listing asks to be said ("Which papers mention ImageNet?"): each hit says it
    more: bool = False  # a question of only filters: more papers pass them than the hits list
    kind_unmet: str = ""  # the kind of paper asked for ("surveys only") when no found paper declares it
    shown: set[str] = field(default_factory=set)  # a follow-up narrowing the previous answer: the papers it stated

    @property
    def those(self) -> int:
        """How many papers the previous answer stated (0: not a follow-up narrowing it)."""
        return len(self.shown)


def retrieve_hits(query: str, *, index: PaperIndex, embedder: Embedder, sparse: SparseEncoder,
                  settings: RetrievalSettings,
                  search_filter: SearchFilter | None = None, weights: tuple[float, float] | None = None) -> Retrieval:
    """Fused per-paper hits for the query (as many as the candidates allow) plus the relevance verdict."""
    dense_vec = embedder.embed([query])[0]
    query_sparse = sparse.search_query(query)
    result = index.hybrid_query(HybridQuery(
        dense=dense_vec, sparse=SparseVec(list(query_sparse.indices), list(query_sparse.values)),
        limit=settings.candidates, candidates=settings.candidates,
        weights=weights or (settings.dense_weight, settings.sparse_weight), rrf_k=settings.rrf_k,
        filter=search_filter or SearchFilter()))
    if settings.mode != "hybrid":
        ranked = result.dense if settings.mode == "dense" else result.sparse
        result = HybridResult(fused=ranked, dense=result.dense, sparse=result.sparse)
    hits = group_by_paper(result)
    coverage = term_coverage(sparse.embed_query(query).indices, hits[0], sparse) if hits else 0.0
    best_dense = max((h.dense_score or 0.0 for h in hits), default=0.0)
    relevant = bool(hits) and (best_dense >= settings.min_dense or coverage >= settings.min_sparse_coverage)
    return Retrieval(hits, relevant, best_dense, coverage)


def search_filter_from(since: str | None = None, until: str | None = None, has_code: bool = False) -> SearchFilter:
    """A filter from user-typed feed dates ('Mar 13', '2024-03-13'); a bad date is an InvalidQuery."""
    days = []
    for name, value in (("since", since), ("until", until)):
        parsed = parse_feed_date(value) if value else None
        if value and parsed is None:
            raise InvalidQuery(f"{name} date {value!r} is not a date (try 'Mar 13' or 2024-03-13)")
        days.append(parsed[1] if parsed else None)
    return SearchFilter(since_day=days[0], until_day=days[1], has_code=has_code)


def group_by_paper(result: HybridResult) -> list[Hit]:
    """One hit per paper in fused order; a paper keeps its best chunk and best per-source scores."""
    best_dense = _best_per_paper(result.dense)
    best_sparse = _best_per_paper(result.sparse)
    hits: dict[str, Hit] = {}
    for chunk in result.fused:
        payload = chunk.payload
        paper_id = payload["paper_id"]
        if paper_id in hits:
            continue
        hits[paper_id] = Hit(
            paper_id=paper_id, title=payload["title"], score=chunk.score, fused_score=chunk.score,
            snippet=payload["text"], feeds=sorted(payload.get("feeds") or [], key=label_order), url=payload.get("url"),
            code_url=payload.get("code_url"), dense_score=best_dense.get(paper_id),
            sparse_score=best_sparse.get(paper_id))
    # Equal fused scores are common in RRF (same ranks in both lists); break ties by id so runs repeat exactly.
    return sorted(hits.values(), key=lambda h: (-h.score, h.paper_id))


def term_coverage(query_terms, hit: Hit, sparse: SparseEncoder) -> float:
    """Share of the query's BM25 terms (stemmed, stopwords removed) found in the paper's best chunk."""
    terms = set(query_terms)
    if not terms:
        return 0.0
    doc_terms = set(sparse.embed_document(f"{hit.title}\n{hit.snippet}").indices)
    return len(terms & doc_terms) / len(terms)


def _best_per_paper(chunks) -> dict[str, float]:
    best: dict[str, float] = {}
    for chunk in chunks:
        paper_id = chunk.payload["paper_id"]
        best[paper_id] = max(best.get(paper_id, float("-inf")), chunk.score)
    return best
