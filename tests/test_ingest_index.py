"""Ingesting the seed feeds into the real embedded index: counts, idempotence, updates without orphans."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import FEEDS, SEED_PAPERS

from assistant.core.models import Paper
from ingest import iter_records, iter_source_files
from ingest.chunking import chunk_paper

# Distinctive words that occur nowhere in the seed corpus, so a search for them can only find the edit.
NEW_ABSTRACT = ("We catalogue narwhal migrations beneath Arctic sea ice with a quasiturbine sonar array. "
                "The zorblax estimator reconstructs each pod's route from sparse echoes and beats "
                "satellite tagging by a wide margin on three winters of recordings.")


def test_seed_ingest_stores_every_paper_once_with_all_its_chunks(seed):
    report = seed.report
    assert report.errors == []
    assert (report.papers_seen, report.papers_new, report.papers_updated, report.papers_unchanged) == (
        SEED_PAPERS, SEED_PAPERS, 0, 0)
    assert report.chunks_written > SEED_PAPERS
    assert seed.assistant.index.count() == report.chunks_written
    assert len(seed.assistant.index.paper_hashes()) == SEED_PAPERS


def test_reingesting_the_same_feeds_changes_nothing(seed):
    index = seed.assistant.index
    before = index.count()
    report = seed.assistant.ingest([FEEDS])
    assert report.errors == []
    assert (report.papers_new, report.papers_updated, report.papers_unchanged) == (0, 0, SEED_PAPERS)
    assert report.chunks_written == 0
    assert index.count() == before


def test_paper_seen_in_several_feeds_carries_every_feed_label(seed, seed_papers):
    labels_in_files: dict[str, set[str]] = {}
    for path in iter_source_files([FEEDS]):
        for record in iter_records(path):
            if isinstance(record, Paper):
                labels_in_files.setdefault(record.paper_id, set()).update(s.label for s in record.sightings)
    paper_id = max(sorted(labels_in_files), key=lambda pid: len(labels_in_files[pid]))
    expected = labels_in_files[paper_id]
    assert len(expected) >= 3, "the seed feeds repeat papers across at least three dates"

    chunks = seed.assistant.index.paper_chunks(paper_id)
    assert chunks and all(set(c["feeds"]) == expected for c in chunks)
    title = seed_papers[paper_id].title
    hit = next(h for h in seed.assistant.search(title, k=5) if h.paper_id == paper_id)
    assert set(hit.feeds) == expected


def _single_feed_paper_with_chunks(seed, folder: Path) -> tuple[Paper, Path, int]:
    """A paper that occurs once, in one feed file, whose abstract spans several chunks."""
    occurrences: dict[str, list[tuple[Path, Paper]]] = {}
    for path in sorted(folder.glob("*.txt")):
        for record in iter_records(path):
            if isinstance(record, Paper):
                occurrences.setdefault(record.paper_id, []).append((path, record))
    for paper_id, seen in occurrences.items():
        if len(seen) != 1:
            continue
        path, paper = seen[0]
        lines = path.read_text(encoding="utf-8").splitlines()
        if lines.count(paper.title) != 1:  # the raw title line must be unambiguous to edit its abstract
            continue
        n_chunks = len(seed.assistant.index.paper_chunks(paper_id))
        if n_chunks >= 2:
            return paper, path, n_chunks
    raise AssertionError("no single-feed multi-chunk paper in the seeds")


def _replace_abstract(path: Path, title: str, abstract: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    at = lines.index(title) + 1
    while not lines[at].strip():
        at += 1
    lines[at] = abstract
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_edited_abstract_replaces_that_paper_only_and_leaves_no_orphan_chunks(seed, tmp_path):
    bot, index = seed.assistant, seed.assistant.index
    copy = tmp_path / "feeds"
    shutil.copytree(FEEDS, copy)
    for path in copy.iterdir():
        path.chmod(0o644)  # the shipped seeds are read-only
    paper, path, old_chunks = _single_feed_paper_with_chunks(seed, copy)
    old_text = " ".join(c["text"] for c in index.paper_chunks(paper.paper_id))
    total_before = index.count()
    _replace_abstract(copy / path.name, paper.title, NEW_ABSTRACT)

    try:
        report = bot.ingest([copy])
        assert report.errors == []
        assert (report.papers_new, report.papers_updated, report.papers_unchanged) == (0, 1, SEED_PAPERS - 1)

        hits = bot.search("narwhal migrations quasiturbine sonar zorblax", k=3)
        assert hits[0].paper_id == paper.paper_id
        chunks = index.paper_chunks(paper.paper_id)
        new_text = " ".join(c["text"] for c in chunks)
        assert "narwhal" in new_text and "zorblax" in new_text
        assert old_text[:80] not in new_text
        edited = paper.model_copy(update={"abstract": NEW_ABSTRACT})
        expected_chunks = len(chunk_paper(edited, bot.settings.ingest))
        assert expected_chunks < old_chunks, "the edit must shrink the paper so orphans would show"
        assert len(chunks) == expected_chunks
        assert [c["chunk_index"] for c in chunks] == list(range(expected_chunks))
        assert index.count() == total_before - old_chunks + expected_chunks
        old_sentence = old_text.split(". ")[0]
        assert all(h.paper_id != paper.paper_id or "narwhal" in h.snippet for h in bot.search(old_sentence, k=10))
    finally:
        restored = bot.ingest([FEEDS])
    assert restored.papers_updated == 1
    assert index.count() == total_before
    assert " ".join(c["text"] for c in index.paper_chunks(paper.paper_id)) == old_text


# --- one paper across sources: a feed dump (title only) and an arXiv export of the same paper ----------

FEED_DUMP = """Daily Papers
Mar 13

{title}

{abstract}
"""


def _fresh_engine(tmp_path, embedder, sparse):
    from conftest import make_settings

    from assistant.engine import Assistant

    return Assistant(make_settings(tmp_path / "data"), embedder=embedder, sparse=sparse, chat_model=None,
                     create_index=True)


def _sources(tmp_path, paper: Paper) -> tuple[Path, Path]:
    from conftest import write_jsonl

    dump = tmp_path / "feed.txt"
    dump.write_text(FEED_DUMP.format(title=paper.title, abstract=paper.abstract), encoding="utf-8")
    export = write_jsonl(tmp_path / "arxiv.jsonl", [{"id": "2210.17323", "title": paper.title.upper(),
                                                     "abstract": paper.abstract, "authors": "E. Frantar"}])
    return dump, export


def _stored(engine) -> dict[str, dict]:
    return {pid: engine.index.paper_chunks(pid)[0]["paper"] for pid in engine.index.paper_hashes()}


def test_a_title_only_record_and_an_arxiv_record_become_one_paper_in_either_order(tmp_path, embedder, sparse,
                                                                                   seed_papers):
    from conftest import GPTQ_TITLE, paper_by_title

    gptq = paper_by_title(seed_papers, GPTQ_TITLE)
    for order in ("feed first", "arxiv first", "same run"):
        folder = tmp_path / order.replace(" ", "-")
        folder.mkdir()
        dump, export = _sources(folder, gptq)
        engine = _fresh_engine(folder, embedder, sparse)
        try:
            runs = {"feed first": [[dump], [export]], "arxiv first": [[export], [dump]],
                    "same run": [[dump, export]]}[order]
            reports = [engine.ingest(paths) for paths in runs]
            stored = _stored(engine)
            assert list(stored) == ["arxiv:2210.17323"], order
            paper = stored["arxiv:2210.17323"]
            assert {s["feed"] for s in paper["sightings"]} == {"feed", "arxiv"}, order
            assert paper["authors"] == ["E. Frantar"], order
            assert sum(r.papers_new for r in reports) == 1, order
            # No chunk of the title-id copy is left behind.
            assert engine.index.count() == len(engine.index.paper_chunks("arxiv:2210.17323")), order
        finally:
            engine.close()


def test_two_arxiv_papers_with_one_title_stay_two(tmp_path, embedder, sparse):
    from conftest import write_jsonl

    records = [{"id": f"2401.0000{n}", "title": "Attention Is All You Need",
                "abstract": f"Version {n} of a paper that shares its title with another one."} for n in (1, 2)]
    engine = _fresh_engine(tmp_path, embedder, sparse)
    try:
        engine.ingest([write_jsonl(tmp_path / "one.jsonl", records[:1])])
        engine.ingest([write_jsonl(tmp_path / "two.jsonl", records[1:])])
        assert sorted(engine.index.paper_hashes()) == ["arxiv:2401.00001", "arxiv:2401.00002"]
    finally:
        engine.close()


def test_one_bad_file_never_loses_the_valid_records_of_the_same_run(tmp_path, embedder, sparse):
    import os

    from conftest import write_jsonl

    sources = tmp_path / "sources"
    sources.mkdir()
    write_jsonl(sources / "good.jsonl", [{"id": "2401.00003", "title": "A Valid Paper",
                                          "abstract": "Its abstract survives the bad files beside it."}])
    (sources / "nested.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (sources / "dup.json").write_text('{"papers": [], "papers": []}', encoding="utf-8")
    os.mkfifo(sources / "f.jsonl")
    engine = _fresh_engine(tmp_path, embedder, sparse)
    try:
        report = engine.ingest([sources])
        assert list(engine.index.paper_hashes()) == ["arxiv:2401.00003"]
        assert report.papers_new == 1
        assert sorted(e.split(":")[0].rsplit("/", 1)[1] for e in report.errors) == ["dup.json", "f.jsonl",
                                                                                    "nested.json"]
    finally:
        engine.close()


def test_an_acronym_and_its_plural_are_one_bm25_term(sparse):
    """'LLM inference' matched no abstract that says 'LLMs' (most do): the stemmer leaves acronym plurals alone."""
    from qdrant_edge import Bm25

    def terms(embedding) -> set[int]:
        return set(embedding.indices)

    abstract = "Keyformer cuts the KV cache of LLMs and ViTs during generative inference."
    assert terms(sparse.embed_query("LLM inference with a ViT")) <= terms(sparse.embed_document(abstract))
    assert terms(sparse.embed_query("ResNets")) == terms(sparse.embed_query("ResNet"))
    assert terms(sparse.embed_query("Transformers")) == terms(sparse.embed_query("transformer"))  # the stemmer's own
    # An index ingested before this stores "LLMs" as written: the search asks for both forms.
    stored_before = terms(Bm25().embed_document(abstract))
    assert terms(Bm25().embed_query("LLMs")) <= stored_before
    assert terms(Bm25().embed_query("LLMs")) <= terms(sparse.search_query("LLM inference"))
    assert terms(sparse.embed_query("LLM inference")) <= terms(sparse.search_query("LLM inference"))
