"""Parsing every source format into Papers, the errors a user sees for bad input, and de-duplication."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pytest

from assistant.core.errors import IngestError
from assistant.core.models import FeedSighting, Paper
from ingest import dedupe, iter_records, iter_source_files, merge_paper, paper_id_for

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

FEED_HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
ABSTRACT = "We study a thing. " * 20  # dump abstracts are long paragraphs (> 300 characters)


def parse(path: Path) -> tuple[list[Paper], list[IngestError]]:
    items = list(iter_records(path))
    assert all(isinstance(item, Paper | IngestError) for item in items)
    return [i for i in items if isinstance(i, Paper)], [i for i in items if isinstance(i, IngestError)]


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def only_error(errors: list[IngestError]) -> IngestError:
    assert len(errors) == 1, [str(e) for e in errors]
    assert "\n" not in str(errors[0])
    return errors[0]


# --- the real Daily Papers dumps ------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_records() -> list[Paper]:
    records = [item for path in iter_source_files([FEEDS]) for item in iter_records(path)]
    assert not [str(item) for item in records if isinstance(item, IngestError)]
    return records


def test_the_five_seed_dumps_give_412_entries_and_301_papers(seed_records):
    assert len(seed_records) == 412
    assert len(dedupe(seed_records)) == 301


def test_a_paper_in_every_feed_keeps_all_five_sightings_with_their_dates(seed_records):
    papers = dedupe(seed_records)
    matformer = papers[paper_id_for("MatFormer: Nested Transformer for Elastic Inference")]
    assert matformer.feeds == ["Mar 13", "Mar 11", "Aug 20", "Mar 14", "Mar 17"]
    assert matformer.sightings[0] == FeedSighting(feed="000_94943ae6ff81ca0e", date="Mar 13", day=313)
    assert sum(len(p.sightings) for p in papers.values()) == 412


def test_seed_text_is_clean_and_code_links_are_found(seed_records):
    papers = dedupe(seed_records)
    pixart = papers[paper_id_for("PIXART-δ: Fast and Controllable Image Generation with Latent Consistency Models")]
    assert "PIXART-δ significantly accelerates" in pixart.abstract
    assert not any("\\" in p.abstract or "\\" in p.title for p in papers.values())
    gptq = papers[paper_id_for("GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers")]
    assert gptq.code_url == "https://github.com/IST-DASLab/gptq"
    assert gptq.abstract.endswith("The implementation is available at https://github.com/IST-DASLab/gptq.")
    assert sum(1 for p in papers.values() if p.code_url) == 80


# --- feed dumps: odd shapes -----------------------------------------------------------------


def test_feed_without_date_line_gives_sightings_without_date(tmp_path):
    path = write(tmp_path / "nodate.txt", FEED_HEADER + f"First Paper\n\n{ABSTRACT}\n\nSecond Paper\n\n{ABSTRACT}\n")
    papers, errors = parse(path)
    assert errors == []
    assert [p.title for p in papers] == ["First Paper", "Second Paper"]
    assert papers[0].sightings == [FeedSighting(feed="nodate", date=None, day=None)]


def test_title_without_abstract_at_the_end_is_reported_and_earlier_entries_kept(tmp_path):
    path = write(tmp_path / "cut.txt", FEED_HEADER + f"Mar 13\n\nWhole Paper\n\n{ABSTRACT}\n\nCut Off Paper\n")
    papers, errors = parse(path)
    assert [p.title for p in papers] == ["Whole Paper"]
    assert str(only_error(errors)) == f"{path}:15: title 'Cut Off Paper' has no abstract (the file ends)"


def test_a_lost_abstract_mid_file_does_not_shift_the_following_entries(tmp_path):
    path = write(tmp_path / "gap.txt", FEED_HEADER + f"Mar 13\n\nOrphan Title\n\nNext Paper\n\n{ABSTRACT}\n"
                 f"\nLast Paper\n\nShort abstract.\n")
    papers, errors = parse(path)
    assert [(p.title, p.abstract[:8]) for p in papers] == [("Next Paper", "We study"), ("Last Paper", "Short ab")]
    assert only_error(errors).line == 11


def test_an_abstract_without_a_title_is_reported_and_skipped(tmp_path):
    path = write(tmp_path / "notitle.txt", FEED_HEADER + f"Mar 13\n\n{ABSTRACT}\n\nGood Paper\n\n{ABSTRACT}\n")
    papers, errors = parse(path)
    assert [p.title for p in papers] == ["Good Paper"]
    assert "abstract without a title" in str(only_error(errors))


def test_gzipped_feed_reads_like_the_plain_one_and_keeps_the_stem_as_feed(tmp_path):
    feed = FEED_HEADER + f"Aug 20\n\nA Paper\n\n{ABSTRACT}\n"
    path = write(tmp_path / "daily.txt.gz", gzip.compress(feed.encode()))
    papers, errors = parse(path)
    assert errors == []
    assert papers[0].sightings == [FeedSighting(feed="daily", date="Aug 20", day=820)]


# --- JSON Lines, JSON, arXiv snapshot, CSV -------------------------------------------------


def test_jsonl_records_map_every_optional_field(tmp_path):
    record = {"title": "Pointer  Networks", "summary": "We introduce a new neural architecture. Code: "
              "https://github.com/x/ptr-nets.", "arxiv_id": "1506.03134v2", "authors": "Oriol Vinyals, "
              "Meire Fortunato and Navdeep Jaitly", "date": "2015-06-09", "categories": ["stat.ML", "cs.LG"]}
    papers, errors = parse(write(tmp_path / "mine.jsonl", json.dumps(record) + "\n"))
    assert errors == []
    paper = papers[0]
    assert paper.paper_id == "arxiv:1506.03134"
    assert paper.url == "https://arxiv.org/abs/1506.03134"
    assert paper.title == "Pointer Networks"
    assert paper.abstract.endswith("https://github.com/x/ptr-nets.")
    assert paper.code_url == "https://github.com/x/ptr-nets"
    assert paper.authors == ["Oriol Vinyals", "Meire Fortunato", "Navdeep Jaitly"]
    assert paper.categories == ["stat.ML", "cs.LG"]
    assert paper.published == "2015-06-09"
    assert paper.sightings == [FeedSighting(feed="mine", date="2015-06-09", day=20150609)]


def test_bad_jsonl_lines_are_reported_one_each_and_good_lines_kept(tmp_path):
    good = json.dumps({"title": "Good", "abstract": "Fine."})
    lines = [good.encode(), b"{not json", json.dumps({"title": "No Abstract"}).encode(), b"[1, 2]",
             b'{"title": "Bad \xff bytes", "abstract": "x"}', b"", json.dumps({"title": 7, "abstract": "x"}).encode(),
             good.replace("Good", "Also Good").encode()]
    path = write(tmp_path / "mixed.jsonl", b"\n".join(lines) + b"\n")
    papers, errors = parse(path)
    assert [p.title for p in papers] == ["Good", "Also Good"]
    assert [str(e) for e in errors] == [
        f"{path}:2: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{path}:3: record has no 'abstract'",
        f"{path}:4: expected a JSON object, found a list",
        f"{path}:5: invalid UTF-8 (byte 0xff at column 16); record skipped",
        f"{path}:7: 'title' must be text, found a number",
    ]


@pytest.mark.parametrize("wrap", [lambda records: records, lambda records: {"source": "x", "papers": records}])
def test_json_list_or_papers_object_reports_bad_records_by_line(tmp_path, wrap):
    records = [{"title": "One", "abstract": "First."}, {"title": "Two"}, {"title": "Three", "abstract": "Third."}]
    path = write(tmp_path / "papers.json", json.dumps(wrap(records), indent=2))
    papers, errors = parse(path)
    assert [p.title for p in papers] == ["One", "Three"]
    error = only_error(errors)
    assert error.reason == "record has no 'abstract'"
    assert path.read_text().splitlines()[error.line - 1].strip() == "{"
    assert '"Two"' in path.read_text().splitlines()[error.line]


def test_broken_json_document_is_one_error_with_its_line(tmp_path):
    path = write(tmp_path / "broken.json", '[\n  {"title": "A", "abstract": "B"},\n  {"title": \n]\n')
    _, errors = parse(path)
    assert only_error(errors).line == 4
    assert "not valid JSON" in errors[0].reason


def test_json_lines_saved_as_json_are_still_read(tmp_path):
    lines = [json.dumps({"title": t, "abstract": "Text."}) for t in ("A", "B")]
    papers, errors = parse(write(tmp_path / "export.json", "\n".join(lines)))
    assert errors == [] and [p.title for p in papers] == ["A", "B"]


def test_arxiv_snapshot_records_are_recognised_and_cleaned():
    papers, errors = parse(FIXTURES / "arxiv_snapshot_sample.jsonl")
    assert errors == []
    diphoton, gptq, sample = papers
    assert diphoton.paper_id == "arxiv:0704.0001"
    assert diphoton.url == "https://arxiv.org/abs/0704.0001"
    assert diphoton.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    assert diphoton.abstract.startswith("A fully differential calculation in perturbative quantum chromodynamics is "
                                        "presented")
    assert diphoton.authors[0] == "C. Balázs"
    assert diphoton.published == "2007-04-02"  # v1, not the later update_date
    assert diphoton.sightings == [FeedSighting(feed="arxiv_snapshot_sample", date="2008-11-13", day=20081113)]
    assert gptq.code_url == "https://github.com/IST-DASLab/gptq"
    assert sample.title == "Sample record: Linear attention in O(n) with a δ-kernel"
    assert "by 2.1% on five benchmarks (GLUE, SuperGLUE, e.g. RTE). Nyström features" in sample.abstract
    assert sample.categories == ["cs.LG", "cs.CL", "stat.ML"]
    assert sample.code_url == "https://gitlab.com/example/linear-attention"  # from the 'comments' field


def test_csv_with_any_header_case_and_a_multiline_cell(tmp_path):
    path = write(tmp_path / "sheet.csv", 'Title,SUMMARY,Authors,URL\n"A, Paper","Line one\nline two.","A; B",'
                 "https://arxiv.org/abs/2401.00001\nSecond,Abstract two.,,\n")
    papers, errors = parse(path)
    assert errors == []
    assert [(p.title, p.abstract) for p in papers] == [("A, Paper", "Line one line two."), ("Second", "Abstract two.")]
    assert papers[0].paper_id == "arxiv:2401.00001" and papers[0].authors == ["A", "B"]


def test_csv_without_title_column_is_one_error_at_line_1(tmp_path):
    path = write(tmp_path / "notitle.csv", "name,abstract\nA,B\nC,D\n")
    papers, errors = parse(path)
    assert papers == []
    assert str(only_error(errors)) == f"{path}:1: CSV header has no 'title' column (columns: name, abstract)"


def test_csv_row_with_invalid_utf8_is_reported_and_other_rows_kept(tmp_path):
    path = write(tmp_path / "latin.csv", b"title,abstract\nGood,Fine.\nCaf\xe9,Bad bytes.\nAlso Good,Fine.\n")
    papers, errors = parse(path)
    assert [p.title for p in papers] == ["Good", "Also Good"]
    assert only_error(errors).line == 3 and "invalid UTF-8" in errors[0].reason


def test_invalid_utf8_in_a_feed_dump_skips_only_that_entry(tmp_path):
    content = (FEED_HEADER + f"Mar 13\n\nCaf\xe9 Paper\n\n{ABSTRACT}\n\nGood Paper\n\n{ABSTRACT}\n").encode("latin-1")
    papers, errors = parse(write(tmp_path / "latin.txt", content))
    assert [p.title for p in papers] == ["Good Paper"]
    assert only_error(errors).line == 11


# --- whole-file problems --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("image.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "not a UTF-8 text file"),
        ("utf16.txt", "Mar 13\n\nTitle\n".encode("utf-16"), "not a UTF-8 text file"),
        ("empty.jsonl", b"", "no records"),
        ("blank.txt", b"\n\n  \n", "no records"),
        ("paper.pdf", b"%PDF-1.4", "unsupported file type '.pdf'"),
        ("fake.jsonl.gz", b"not gzip at all", "not a valid gzip file"),
    ],
)
def test_unreadable_files_give_exactly_one_error_naming_the_file(tmp_path, name, content, reason):
    path = write(tmp_path / name, content)
    papers, errors = parse(path)
    assert papers == []
    error = only_error(errors)
    assert str(error).startswith(f"{path}: ") and reason in error.reason


def test_truncated_gzip_keeps_the_records_read_before_the_cut(tmp_path):
    lines = "".join(json.dumps({"title": f"P{i}", "abstract": "x " * 50}) + "\n" for i in range(2000))
    data = gzip.compress(lines.encode())
    papers, errors = parse(write(tmp_path / "cut.jsonl.gz", data[: len(data) // 2]))
    assert 0 < len(papers) < 2000
    assert "truncated or corrupt" in only_error(errors).reason


# --- finding files --------------------------------------------------------------------------


def test_folders_expand_recursively_in_sorted_order_to_supported_files(tmp_path):
    for name in ("b/2.csv", "b/1.jsonl.gz", "a.txt", "notes.md", ".hidden/x.txt", "c/.cache.json", "d.NDJSON"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    explicit = tmp_path / "notes.md"
    found = list(iter_source_files([tmp_path, explicit, tmp_path / "a.txt"]))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.txt", "d.NDJSON", "b/1.jsonl.gz", "b/2.csv",
                                                                     "notes.md"]


def test_a_missing_path_raises_before_any_file_is_yielded(tmp_path):
    files = iter_source_files([FEEDS, tmp_path / "typo"])
    with pytest.raises(IngestError, match="typo: no such file or folder"):
        next(files)


# --- streaming ------------------------------------------------------------------------------


def test_a_large_jsonl_is_streamed_not_read_whole(tmp_path):
    path = tmp_path / "big.jsonl"
    with path.open("w") as fh:
        fh.writelines(f'{{"title": "Paper {i}", "abstract": "Abstract {i} on attention."}}\n' for i in range(200_000))
    file_size = path.stat().st_size
    tracemalloc.start()
    try:
        records = iter_records(path)
        first_title = next(records).title
        for _ in range(1_000):
            last_title = next(records).title
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (first_title, last_title) == ("Paper 0", "Paper 1000")
    # Reading the file whole would take its full size at least; streaming stays at a few buffers.
    assert file_size > 10_000_000 and peak < file_size / 20


# --- de-duplication -------------------------------------------------------------------------


def _paper(title: str, feed: str, date: str | None = None, **fields) -> Paper:
    fields.setdefault("paper_id", paper_id_for(title))
    fields.setdefault("abstract", "A.")
    return Paper(title=title, sightings=[FeedSighting(feed=feed, date=date)], **fields)


def test_merge_keeps_every_feed_once_and_newer_fields_win():
    old = _paper("T", "f1", "Mar 13", authors=["A"], url="https://old", code_url="https://github.com/a/b")
    new = _paper("T", "f2", "Mar 14", authors=["a", "B"], url="https://new", abstract="Revised.")
    merged = merge_paper(merge_paper(old, new), new)
    assert merged.feeds == ["Mar 13", "Mar 14"]
    assert merged.authors == ["A", "B"]
    assert (merged.url, merged.abstract, merged.code_url) == ("https://new", "Revised.", "https://github.com/a/b")


def test_feed_and_arxiv_records_of_one_paper_become_one_under_the_arxiv_id(seed_records):
    snapshot, _ = parse(FIXTURES / "arxiv_snapshot_sample.jsonl")
    papers = dedupe([*seed_records, *snapshot])
    assert len(papers) == 301 + 2  # GPTQ is in both sources
    gptq = papers["arxiv:2210.17323"]
    assert gptq.url == "https://arxiv.org/abs/2210.17323"
    assert gptq.feeds == ["Mar 13", "Aug 20", "Mar 17", "2023-03-23"]
    assert gptq.published == "2022-10-31"
    assert paper_id_for(gptq.title) not in papers
    assert list(papers).index("arxiv:2210.17323") == 3  # still where the feeds first listed it


def test_two_arxiv_papers_sharing_a_title_stay_apart():
    first, second = (_paper("Survey", "f", paper_id=f"arxiv:240{n}.0000{n}") for n in (1, 2))
    papers = dedupe([first, second])
    assert sorted(papers) == ["arxiv:2401.00001", "arxiv:2402.00002"]


def test_a_title_only_record_joins_the_arxiv_paper_seen_before_it():
    arxiv = _paper("Pointer Networks", "arxiv", paper_id="arxiv:1506.03134", url="https://arxiv.org/abs/1506.03134")
    papers = dedupe([arxiv, _paper("pointer networks", "daily", "Mar 13")])
    assert list(papers) == ["arxiv:1506.03134"]
    assert papers["arxiv:1506.03134"].feeds == ["arxiv", "Mar 13"]
