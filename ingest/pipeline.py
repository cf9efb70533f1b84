"""Ingest sources into the index: parse, deduplicate, skip unchanged papers, embed, upsert."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from assistant.core.errors import IngestError
from assistant.core.models import IngestReport, Paper
from assistant.core.settings import IngestSettings
from assistant.core.text import normalise_title
from assistant.index.base import READER_FIELD, IndexPoint, PaperIndex, SparseVec, batched, encode_vector, point_id
from assistant.index.embedder import Embedder
from assistant.index.reader import PaperReader
from assistant.index.sparse import SparseEncoder
from ingest.chunking import chunk_paper
from ingest.dedup import dedupe, is_title_id, merge_paper
from ingest.parsers import iter_records, iter_source_files

# Records are deduplicated and written per window, so a 2 GB file never sits in memory whole.
WINDOW = 2048
Progress = Callable[[str, int], None]


def ingest_paths(paths: Iterable[Path], index: PaperIndex, embedder: Embedder, sparse: SparseEncoder,
                 settings: IngestSettings, progress: Progress | None = None,
                 reader: PaperReader | None = None) -> IngestReport:
    """Ingest files/folders; bad records are reported in `errors` and never stop the valid ones.

    One paper is stored once whatever the sources: records are merged within a window (`dedupe`), and
    with what the index already holds, by id or, for a title-only record and an arXiv record of the
    same title, by title (the arXiv id wins and the title-id copy is removed). With a ``reader``, every
    paper written gets its reader vector, and stored papers that lack one (an index from before the
    reader) get it added in place.
    """
    report = IngestReport()
    stored = index.paper_hashes()
    by_title = _title_index(index.paper_titles())
    counted: set[str] = set()  # a paper met again in a later window is still one paper of this run
    for window in batched(_records(paths, report), WINDOW):
        todo: list[tuple[Paper, str | None]] = []
        for record in dedupe(window).values():
            paper, replaces = _with_stored(record, index, stored, by_title)
            first_time = paper.paper_id not in counted and replaces not in counted
            counted.add(paper.paper_id)
            unchanged = stored.get(paper.paper_id) == paper.content_hash
            if first_time:
                report.papers_seen += 1
                if unchanged:
                    report.papers_unchanged += 1
                elif paper.paper_id in stored or replaces:
                    report.papers_updated += 1
                else:
                    report.papers_new += 1
            if not unchanged:
                todo.append((paper, replaces))
        for batch in _batches_by_chunks(todo, settings):
            report.chunks_written += _write_batch(batch, index, embedder, sparse, settings.sparse_scope, reader)
            for paper, _chunks, replaces in batch:
                stored[paper.paper_id] = paper.content_hash
                by_title.setdefault(normalise_title(paper.title), set()).add(paper.paper_id)
                if replaces:
                    stored.pop(replaces, None)
                    by_title.get(normalise_title(paper.title), set()).discard(replaces)
            if progress:
                progress("papers", len(batch))
    if reader is not None:
        report.vectors_added = _add_missing_vectors(index, reader, progress)
    return report


def _add_missing_vectors(index: PaperIndex, reader: PaperReader, progress: Progress | None) -> int:
    """Give every stored paper without a reader vector its vector; each is one write, so a killed run
    leaves the rest for the next one."""
    added = 0
    for ids in batched(index.papers_without_vectors(), 16):
        papers = [p for p in (_stored_paper(index, paper_id) for paper_id in ids) if p is not None]
        for paper, vector in zip(papers, reader.embed_papers(papers), strict=True):
            index.set_paper_vector(paper.paper_id, vector)
        added += len(papers)
        if progress:
            progress("paper vectors", len(papers))
    return added


def _title_index(titles: dict[str, str]) -> dict[str, set[str]]:
    """Normalised title -> ids of the stored papers with that title."""
    index: dict[str, set[str]] = {}
    for paper_id, title in titles.items():
        index.setdefault(normalise_title(title), set()).add(paper_id)
    return index


def _with_stored(paper: Paper, index: PaperIndex, stored: dict[str, str],
                 by_title: dict[str, set[str]]) -> tuple[Paper, str | None]:
    """The record merged with the stored copy of the same paper, and the id of a title-id copy it replaces.

    Same id: merge. Otherwise the same normalised title joins a title-only (``t:``) paper and an arXiv one,
    as `dedupe` does within a window; two different arXiv ids stay two papers.
    """
    if paper.paper_id in stored:
        return merge_paper(_stored_paper(index, paper.paper_id) or paper, paper), None
    for other_id in sorted(by_title.get(normalise_title(paper.title), ())):
        if other_id not in stored or not (is_title_id(other_id) or is_title_id(paper.paper_id)):
            continue
        merged = merge_paper(_stored_paper(index, other_id) or paper, paper)
        return merged, other_id if merged.paper_id != other_id else None
    return paper, None


def _records(paths: Iterable[Path], report: IngestReport) -> Iterator[Paper]:
    files: list[Path] = []
    for given in paths:  # a missing path is reported without losing the others
        try:
            files.extend(iter_source_files([Path(given)]))
        except IngestError as exc:
            report.errors.append(str(exc))
    for path in files:
        for record in iter_records(path):
            if isinstance(record, IngestError):
                report.errors.append(str(record))
            else:
                yield record


def _stored_paper(index: PaperIndex, paper_id: str) -> Paper | None:
    chunks = index.paper_chunks(paper_id)
    record = chunks[0].get("paper") if chunks else None
    return Paper.model_validate(record) if record else None


def _batches_by_chunks(papers: list[tuple[Paper, str | None]], settings: IngestSettings):
    """Group papers so that one embedding batch holds all chunks of each of its papers."""
    batch, size = [], 0
    for paper, replaces in papers:
        chunks = chunk_paper(paper, settings)
        batch.append((paper, chunks, replaces))
        size += len(chunks)
        if size >= settings.batch_size:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _write_batch(batch, index: PaperIndex, embedder: Embedder, sparse: SparseEncoder, sparse_scope: str,
                 reader: PaperReader | None = None) -> int:
    """Embed first, then replace each paper's points, so a failure never leaves a paper half-deleted.

    A title-id copy that an arXiv record replaces is deleted last, once the merged paper is stored.
    """
    texts = [c.embed_text for _, chunks, _ in batch for c in chunks]
    dense = embedder.embed(texts)
    read = reader.embed_papers([paper for paper, _, _ in batch]) if reader is not None else None
    points, row = [], 0
    for n, (paper, chunks, _) in enumerate(batch):
        # Paper scope: BM25 sees the whole abstract, so terms split across chunks still add up.
        paper_vec = sparse.embed_document(f"{paper.title}\n{paper.abstract}") if sparse_scope == "paper" else None
        for chunk in chunks:
            vec = paper_vec if paper_vec is not None else sparse.embed_document(chunk.embed_text)
            payload = chunk_payload(paper, chunk.index, chunk.text, len(chunks))
            if read is not None and chunk.index == 0:
                payload[READER_FIELD] = encode_vector(read[n])
            points.append(IndexPoint(point_id(paper.paper_id, chunk.index), dense[row],
                                     SparseVec(list(vec.indices), list(vec.values)), payload))
            row += 1
    for paper, _, _ in batch:
        index.delete_paper(paper.paper_id)
    index.upsert(points)
    for _, _, replaces in batch:
        if replaces:
            index.delete_paper(replaces)
    return len(points)


def chunk_payload(paper: Paper, index: int, text: str, n_chunks: int) -> dict:
    """Payload of one point; chunk 0 also carries the whole paper record (for merges and lookups)."""
    payload = {
        "paper_id": paper.paper_id, "chunk_index": index, "n_chunks": n_chunks, "title": paper.title,
        "text": text, "feeds": paper.feeds, "feed_days": sorted({s.day for s in paper.sightings if s.day}),
        "has_code": bool(paper.code_url), "code_url": paper.code_url, "url": paper.url,
        "content_hash": paper.content_hash,
    }
    if index == 0:
        payload["paper"] = paper.model_dump(mode="json", exclude={"feeds"})
    return payload
