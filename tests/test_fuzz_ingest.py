"""Seeded fuzzing of the parsers: whatever the bytes, only Papers and IngestErrors come out, and one bad
record never costs the valid record beside it.

Each case is built from the seed dumps and a few seed records, mutated by ``random.Random(<shape>-<seed>)``
(byte flips, truncation, inserted brackets, quotes, ``\\ud800`` escapes, huge integers, NUL bytes, duplicated
keys, deep nesting), written to a file and parsed in-process. A failure names the shape and seed to replay.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.core.errors import IngestError
from assistant.core.models import Paper
from ingest import iter_records

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"

CASES_PER_SHAPE = 2600  # 4 shapes: 10 400 cases
SENTINEL = "Fuzz Sentinel Paper"
FEED_HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
ABSTRACT = "We study a thing that stays intact while its neighbours are mangled. " * 6  # > 300 characters
SENTINEL_RECORD = {"title": SENTINEL, "abstract": ABSTRACT, "id": "2401.99999", "authors": "A. Author"}
INSERTS = [b"[", b"{", b"]", b"}", b'"', b"\\", b"\\ud800", b'"\\ud800"', b"\\udfff", b"9" * 5000,
           b"-" + b"9" * 4400, b"\x00", b"\xff", b"\xc3", b",", b":", b"\n", b"\r", b"NaN", b"1e999999",
           b'"title": "Dup", ', b'"papers": [], ', b"\xef\xbb\xbf", b"\t", b"\x1f"]
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _seed_paragraphs() -> list[list[str]]:
    return [path.read_text(encoding="utf-8").split("\n\n") for path in sorted(FEEDS.glob("*.txt"))]


def _seed_records() -> list[dict]:
    papers = [p for p in iter_records(sorted(FEEDS.glob("*.txt"))[0]) if isinstance(p, Paper)][:8]
    records = [{"title": p.title, "abstract": p.abstract, "url": p.code_url} for p in papers]
    records[0].update(id="2210.17323", authors_parsed=[["Frantar", "Elias", ""]], categories="cs.LG cs.CL",
                      versions=[{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}])
    records[1].update(authors=[{"name": "A"}, "B"], published="2024-03-13", comments="code: github.com/a/b")
    return records


DUMPS = _seed_paragraphs()
RECORDS = _seed_records()


# --- mutations --------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes, start: int = 0) -> bytes:
    """Apply one to three random mutations to ``data`` at positions from ``start`` on."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        pos = rng.randint(start, len(buf))
        kind = rng.random()
        if kind < 0.25 and pos < len(buf):
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind < 0.32:
            del buf[pos:]
        elif kind < 0.65:
            token = rng.choice(INSERTS)
            buf[pos:pos] = token * (rng.choice((1, 1, 2, 70)) if len(token) < 10 else 1)
        elif kind < 0.75:
            del buf[pos:pos + rng.randint(1, 40)]
        elif kind < 0.85:
            buf[pos:pos] = buf[pos:pos + rng.randint(1, 60)]  # a duplicated stretch: keys, quotes, brackets
        else:
            depth = rng.choice((65, 257, 3000)) if rng.random() < 0.99 else 100_000
            buf[pos:pos] = rng.choice((b"[", b"{", b'{"a":[')) * depth + (b"]" * depth if rng.random() < 0.5 else b"")
    return bytes(buf)


def bad_record(rng: random.Random, max_depth: int) -> str:
    """A record, as JSON text, that is well-formed but must be refused or cleaned on its own."""
    base = '"title": "Bad Record", "abstract": "Its abstract."'
    depth = rng.randint(64, max_depth)
    return rng.choice([
        '{"title": "First", ' + base + "}",
        "{" + base + ', "id": ' + "7" * rng.choice((101, 4301, 5000, 20000)) + "}",
        '{"title": "Bad \\ud800 Record", "abstract": "x \\udfff y", "url": "\\udbff", "authors": ["\\ud800"], '
        '"categories": "\\ud800 cs.LG", "date": "\\udc00"}',
        "{" + base + ', "x": ' + "[" * depth + "]" * depth + "}",
        "[" * depth + "]" * depth,
        "{" + base + ', "score": NaN, "other": -Infinity}',
        '{"title": ["x"], "abstract": {"a": 1}}',
        "{" + base + ', "authors": [{"name": "A", "name": "B"}]}',
        "{" + base + ', "versions": [{"created": ' + "1" * 5000 + "}]}",
    ])


# --- case builders: (bytes, suffix, whether the sentinel record must survive) --------------------


def txt_case(rng: random.Random) -> tuple[bytes, str, bool]:
    paragraphs = rng.choice(DUMPS)
    first = rng.randrange(len(paragraphs))
    excerpt = "\n\n".join(paragraphs[first:first + rng.randint(2, 12)]).encode()
    if rng.random() < 0.25:
        return mutate(rng, FEED_HEADER.encode() + excerpt), ".txt", False
    prefix = f"{FEED_HEADER}Mar 13\n\n{SENTINEL}\n\n{ABSTRACT}\n\n".encode()
    return mutate(rng, prefix + excerpt, len(prefix)), ".txt", True


def jsonl_case(rng: random.Random) -> tuple[bytes, str, bool]:
    lines = [json.dumps(r, ensure_ascii=rng.random() < 0.5) for r in rng.sample(RECORDS, rng.randint(1, 5))]
    if rng.random() < 0.5:
        lines.insert(rng.randint(0, len(lines)), bad_record(rng, 100_000 if rng.random() < 0.02 else 300))
    prefix = (json.dumps(SENTINEL_RECORD) + "\n").encode()
    body = ("\n".join(lines) + "\n").encode()
    data = mutate(rng, prefix + body, len(prefix)) if rng.random() < 0.7 else prefix + body
    return data, rng.choice((".jsonl", ".ndjson")), True


def json_case(rng: random.Random) -> tuple[bytes, str, bool]:
    records = [json.dumps(r) for r in rng.sample(RECORDS, rng.randint(1, 5))]
    # 250 levels inside a record keeps the document within its own bound: the record alone is refused.
    records.insert(rng.randint(0, len(records)), bad_record(rng, 250))
    records.insert(0, json.dumps(SENTINEL_RECORD))
    separator = rng.choice((",", ",\n", ",\n  "))
    body = "[" + separator.join(records) + "]"
    if rng.random() < 0.5:
        body = '{"meta": {"n": ' + "1" * rng.choice((3, 5000)) + '}, "papers": ' + body + "}"
    data = body.encode()
    if rng.random() < 0.6:  # bytes mangled anywhere: the document may be refused whole
        return mutate(rng, data), ".json", False
    if rng.random() < 0.1:
        return ('{"papers": [], "papers": ' + body + "}").encode(), ".json", False
    return data, ".json", True


def csv_case(rng: random.Random) -> tuple[bytes, str, bool]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["title", "abstract", "url", "authors"])
    writer.writerow([SENTINEL, ABSTRACT, "https://arxiv.org/abs/2401.99999", "A. Author"])
    prefix = out.getvalue().encode()
    for record in rng.sample(RECORDS, rng.randint(1, 5)):
        writer.writerow([record["title"], record["abstract"], record.get("url") or "", "B, C"])
    return mutate(rng, out.getvalue().encode(), len(prefix)), ".csv", True


BUILDERS: dict[str, Callable[[random.Random], tuple[bytes, str, bool]]] = {
    "txt": txt_case, "jsonl": jsonl_case, "json": json_case, "csv": csv_case,
}


# --- the property -----------------------------------------------------------------------------


def check_case(path: Path, data: bytes, keeps_sentinel: bool, label: str) -> None:
    # A fresh file each time: rewriting one in place makes ext4 flush it on truncation (slow).
    path.unlink(missing_ok=True)
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.name.endswith(".gz") else data)
    try:
        items = list(iter_records(path))
    except Exception as exc:  # noqa: BLE001 - any escaping exception is the failure being looked for
        pytest.fail(f"{label}: {type(exc).__name__} escaped iter_records: {str(exc)[:200]}")
    strays = [type(item).__name__ for item in items if not isinstance(item, Paper | IngestError)]
    assert not strays, f"{label}: yielded {strays}"
    for item in items:
        if isinstance(item, IngestError):
            assert "\n" not in str(item) and str(item).startswith(f"{path}"), f"{label}: {str(item)[:200]!r}"
        else:
            # What is stored must be valid text: hashing and JSON encoding never fail.
            assert item.content_hash and not _SURROGATE_RE.search(item.model_dump_json()), label
    if keeps_sentinel and b"\x00" not in data[:8192]:  # a NUL near the start refuses the file as binary
        titles = [item.title for item in items if isinstance(item, Paper)]
        assert SENTINEL in titles, f"{label}: the valid record was lost: {[str(i)[:120] for i in items][:5]}"


@pytest.mark.parametrize("shape", sorted(BUILDERS))
def test_fuzzed_sources_give_only_papers_and_ingest_errors(tmp_path, shape):
    for seed in range(CASES_PER_SHAPE):
        rng = random.Random(f"{shape}-{seed}")
        data, suffix, keeps_sentinel = BUILDERS[shape](rng)
        if rng.random() < 0.05:
            suffix += ".gz"
        check_case(tmp_path / f"case{suffix}", data, keeps_sentinel, f"shape {shape!r} seed {seed}")


# --- the crashes the fuzzer found, kept as regressions -------------------------------------------

GOOD_LINE = json.dumps({"title": "Good Paper", "abstract": "A good abstract."})


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000, "deep.json:1: nested deeper than 256 levels (at column 257)"),
        ("deep.jsonl", f"{GOOD_LINE}\n" + "[" * 100_000 + "]" * 100_000 + "\n",
         "deep.jsonl:2: nested deeper than 64 levels (at column 65)"),
        ("bigint.jsonl", f'{GOOD_LINE}\n{{"title": "T", "abstract": "A", "id": {"1" * 5000}}}\n',
         "bigint.jsonl:2: a number of 5000 digits (more than 100); record skipped"),
        ("bigint.json", f'[{GOOD_LINE},\n{{"title": "T", "abstract": "A", "id": {"1" * 5000}}}]',
         "bigint.json:2: a number of 5000 digits (more than 100); record skipped"),
        ("dup.json", f'{{"papers": [{GOOD_LINE}], "papers": []}}',
         "dup.json:1: duplicate key 'papers' in the top-level object; file skipped"),
        ("dupkey.jsonl", f'{GOOD_LINE}\n{{"title": "T", "title": "U", "abstract": "A"}}\n',
         "dupkey.jsonl:2: duplicate key 'title' in an object; record skipped"),
        ("nan.jsonl", f'{GOOD_LINE}\n{{"title": "T", "abstract": "A", "score": NaN}}\n',
         "nan.jsonl:2: NaN is not valid JSON; record skipped"),
    ],
)
def test_each_crash_found_is_one_error_and_the_good_record_is_kept(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    items = list(iter_records(path))
    errors = [str(item) for item in items if isinstance(item, IngestError)]
    assert errors == [f"{tmp_path}/{message}"]
    papers = [item.title for item in items if isinstance(item, Paper)]
    assert papers == ([] if name in ("deep.json", "dup.json") else ["Good Paper"])


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_lone_surrogate_escape_becomes_a_replacement_character(tmp_path, suffix):
    record = ('{"title": "Bad \\ud800 Title", "abstract": "x \\udfff y", "published": "\\udbff", '
              '"categories": ["\\ud800"]}')
    path = tmp_path / f"sur{suffix}"
    path.write_text(f"[{record}]" if suffix == ".json" else record + "\n", encoding="utf-8")
    [paper] = list(iter_records(path))
    assert isinstance(paper, Paper)
    assert (paper.title, paper.abstract, paper.published, paper.categories) == (
        "Bad \ufffd Title", "x \ufffd y", "\ufffd", ["\ufffd"])
    assert len(paper.content_hash) == 32


def test_a_fifo_is_one_error_and_is_never_opened(tmp_path):
    fifo = tmp_path / "f.jsonl"
    os.mkfifo(fifo)
    assert [str(item) for item in iter_records(fifo)] == [
        f"{fifo}: not a regular file (a FIFO); only regular files are read"
    ]
