"""Read source files into `Paper` records, one per entry, reporting bad entries instead of raising.

Supported: Daily Papers feed dumps (``.txt``), JSON Lines (``.jsonl``/``.ndjson``, the streaming
format: a file of any size is read line by line), JSON (``.json``, a list of records or an object
with a ``papers`` list, read whole and therefore capped at ``MAX_JSON_BYTES``), CSV with a header row
(``.csv``), each optionally gzip-compressed (``.gz``). JSON records in the Kaggle arXiv metadata
snapshot shape are recognised per record.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from assistant.core.errors import IngestError
from assistant.core.models import FeedSighting, Paper
from ingest.normalize import (
    arxiv_id_from,
    clean_text,
    extract_code_url,
    paper_id_for,
    parse_feed_date,
    replace_lone_surrogates,
)

__all__ = ["MAX_JSON_BYTES", "SUPPORTED_SUFFIXES", "feed_name", "iter_records", "iter_source_files"]

SUPPORTED_SUFFIXES = (".txt", ".jsonl", ".ndjson", ".json", ".csv")
MAX_JSON_BYTES = 256 * 1024 * 1024
_SUPPORTED_HINT = "supported: " + ", ".join(SUPPORTED_SUFFIXES) + ", each optionally .gz"


# ---------------------------------------------------------------------------------------------
# Finding files


def iter_source_files(paths: list[Path]) -> Iterator[Path]:
    """Yield the files to ingest: files as given, folders expanded recursively in sorted order.

    Raises IngestError for a path that does not exist, before yielding anything.
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise IngestError(str(path), None, "no such file or folder")
    seen: set[Path] = set()
    for path in paths:
        # A file named explicitly is yielded even with an unsupported suffix, so that
        # iter_records reports it rather than it being skipped without a word.
        found = _supported_files_under(path) if path.is_dir() else [path]
        for file in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                yield file


def _supported_files_under(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        # Hidden folders (.git, .cache) hold no sources; sorting keeps runs deterministic.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root, f) for f in sorted(files) if not f.startswith(".") and _format_of(Path(f))]
    return found


def _format_of(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    return {".ndjson": ".jsonl"}.get(suffix, suffix) if suffix in SUPPORTED_SUFFIXES else None


def feed_name(path: Path) -> str:
    """The file's name without its format and compression suffixes ('papers.jsonl.gz' -> 'papers')."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem, dot, suffix = name.rpartition(".")
    return stem if dot and f".{suffix.lower()}" in SUPPORTED_SUFFIXES else name


# ---------------------------------------------------------------------------------------------
# Reading records


def iter_records(path: Path) -> Iterator[Paper | IngestError]:
    """Yield one Paper per record of ``path`` (not deduplicated), or an IngestError per bad record.

    Never raises for bad input: the errors name the file and the 1-based line, and the valid
    records of the same file are still yielded.
    """
    path = Path(path)
    source = str(path)
    fmt = _format_of(path)
    problem = _file_problem(path, fmt)
    if problem:
        yield IngestError(source, None, problem)
        return
    parse = {".txt": _parse_feed_dump, ".jsonl": _parse_json_lines, ".json": _parse_json_document,
             ".csv": _parse_csv}[fmt]
    yielded_any = False
    try:
        # A file name's undecodable bytes arrive as lone surrogates; the feed label must be valid text.
        for item in parse(path, source, replace_lone_surrogates(feed_name(path))):
            yielded_any = True
            yield item
    except _UnreadableFile as problem:
        yielded_any = True
        yield IngestError(source, problem.line, problem.reason)
    if not yielded_any:
        yield IngestError(source, None, "no records")


def _file_problem(path: Path, fmt: str | None) -> str | None:
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "is a folder, not a file"
    kind = _special_file_kind(path)
    if kind:
        # Reading a FIFO blocks until a writer appears, a device may never end: only regular files are read.
        return f"not a regular file (a {kind}); only regular files are read"
    if fmt is None:
        suffix = ("".join(path.suffixes[-2:]) if path.name.lower().endswith(".gz") else path.suffix) or "(none)"
        return f"unsupported file type {suffix!r} ({_SUPPORTED_HINT})"
    return None


def _special_file_kind(path: Path) -> str | None:
    """'FIFO', 'device' or 'socket' when ``path`` (followed through links) is not a regular file, else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # reported when the file is opened
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"


class _UnreadableFile(Exception):
    """The rest of the file cannot be read (binary, bad gzip, truncated); one error ends the file."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


class _BadRecord(Exception):
    """One record cannot become a Paper; ``reason`` says why, in the user's terms."""


@dataclass(frozen=True)
class _Line:
    number: int
    text: str
    bad_utf8: str | None = None  # why the raw bytes were not UTF-8; text then holds replacements


_BINARY_PROBE_BYTES = 8192
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


def _read_lines(path: Path) -> Iterator[_Line]:
    """Stream the file's lines, decoding each on its own so one bad line spoils only itself."""
    try:
        with _open_binary(path) as fh:
            _refuse_binary(fh)
            for number, raw in enumerate(fh, start=1):
                yield _decode_line(number, raw)
    except _READ_ERRORS as exc:
        raise _UnreadableFile(None, f"cannot read the file ({_describe_read_error(exc)})") from exc


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115


def _refuse_binary(fh: IO[bytes]) -> None:
    head = fh.read(_BINARY_PROBE_BYTES)
    fh.seek(0)
    if not head:
        return
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
    unreadable = sum(1 for ch in text if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\t\n\r\f\v"))
    # NUL bytes never occur in text; a high share of undecodable bytes means this is not UTF-8 text
    # at all (an image, a PDF, UTF-16), whereas a few bad bytes are reported line by line.
    if b"\x00" in head or unreadable > len(text) * 0.3:
        raise _UnreadableFile(None, "not a UTF-8 text file (binary data at the start)")


def _decode_line(number: int, raw: bytes) -> _Line:
    raw = raw.rstrip(b"\r\n")
    if number == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return _Line(number, raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        reason = f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        return _Line(number, raw.decode("utf-8", errors="replace"), reason)


def _describe_read_error(exc: BaseException) -> str:
    if isinstance(exc, gzip.BadGzipFile):
        return "not a valid gzip file"
    if isinstance(exc, EOFError | zlib.error):
        return "the compressed data is truncated or corrupt"
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


# ---------------------------------------------------------------------------------------------
# Daily Papers feed dumps


_FEED_HEADER_LINES = frozenset(
    line.casefold()
    for line in ("new", "Get trending papers in your email inbox!", "Subscribe", "Daily Papers",
                 "byAK and the research community")
)
# Titles in the dumps are at most ~150 characters and abstracts over 1 000. A line longer than this
# where a title is expected is an abstract whose title is missing; used to stay in step.
_TITLE_MAX_CHARS = 300


def _parse_feed_dump(path: Path, source: str, feed: str) -> Iterator[Paper | IngestError]:
    """Header lines, an optional date line, then title / abstract pairs separated by blank lines."""
    sighting = FeedSighting(feed=feed)
    title: _Line | None = None
    for line, following in _with_next(_content_lines(_read_lines(path))):
        if title is not None and not _starts_new_entry(line, following):
            yield _feed_entry(source, title, line, sighting)
            title = None
            continue
        if title is not None:
            yield IngestError(source, title.number, f"title {_quote(title.text)} has no abstract")
            title = None
        date = parse_feed_date(line.text)
        if date:
            sighting = FeedSighting(feed=feed, date=date[0], day=date[1])
        elif len(line.text) > _TITLE_MAX_CHARS:
            yield IngestError(source, line.number,
                              f"abstract without a title ({len(line.text)} characters where a title was expected)")
        else:
            title = line
    if title is not None:
        yield IngestError(source, title.number, f"title {_quote(title.text)} has no abstract (the file ends)")


def _content_lines(lines: Iterable[_Line]) -> Iterator[_Line]:
    """Non-blank lines, without the page header the dumps start with."""
    in_header = True
    for line in lines:
        text = line.text.strip()
        if not text:
            continue
        if in_header and text.casefold() in _FEED_HEADER_LINES:
            continue
        in_header = False
        yield _Line(line.number, text, line.bad_utf8)


def _with_next(items: Iterable[_Line]) -> Iterator[tuple[_Line, _Line | None]]:
    iterator = iter(items)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following
        current = following


def _starts_new_entry(line: _Line, following: _Line | None) -> bool:
    """True when ``line``, found where an abstract belongs, is really a date or the next title."""
    if parse_feed_date(line.text):
        return True
    # A short line followed by a paragraph is a title: the title before it lost its abstract.
    return len(line.text) <= _TITLE_MAX_CHARS and following is not None and len(following.text) > _TITLE_MAX_CHARS


def _feed_entry(source: str, title: _Line, abstract: _Line, sighting: FeedSighting) -> Paper | IngestError:
    for line in (title, abstract):
        if line.bad_utf8:
            return IngestError(source, line.number, f"{line.bad_utf8}; entry skipped")
    try:
        return _build_paper(title.text, abstract.text, sighting=sighting)
    except _BadRecord as problem:
        return IngestError(source, title.number, str(problem))


def _quote(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# ---------------------------------------------------------------------------------------------
# JSON Lines and JSON


def _parse_json_lines(path: Path, source: str, feed: str) -> Iterator[Paper | IngestError]:
    for line in _read_lines(path):
        if line.text.strip():
            yield _json_line_record(source, feed, line)


def _json_line_record(source: str, feed: str, line: _Line) -> Paper | IngestError:
    if line.bad_utf8:
        return IngestError(source, line.number, f"{line.bad_utf8}; record skipped")
    strict = _StrictJSON()
    try:
        record = strict.loads(line.text, _MAX_DEPTH)
    except _BadJSON as exc:
        return IngestError(source, line.number, exc.reason)
    if strict.problem:
        return IngestError(source, line.number, f"{strict.problem}; record skipped")
    return _record_or_error(source, line.number, record, feed)


# Strict JSON: a record nested deeper than _MAX_DEPTH containers is refused (no paper record needs it, and
# Python's parser would recurse until RecursionError). A whole document gets a looser bound, still far below
# the recursion limit, so that one too-deep record in a list is refused alone and its neighbours are kept.
_MAX_DEPTH = 64
_DOCUMENT_MAX_DEPTH = 256
# Integers longer than this are refused per record rather than read: no field needs them, and Python's
# int() raises ValueError past 4 300 digits.
_MAX_INT_DIGITS = 100
# A string (possibly unterminated: then the parser reports it) or one bracket; used to measure nesting.
_JSON_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}"]', re.DOTALL)


class _BadJSON(Exception):
    """The text is not JSON we read; ``reason`` is one line, ``line`` is 1-based within the text."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


class _StrictJSON:
    """json with bounded nesting, bounded integers, no NaN/Infinity and duplicate keys noted, never raising.

    The first problem met is kept in ``problem`` (the value is still built: last duplicate wins, a huge
    integer stays its digits) so that a caller can refuse just the record that holds it.
    """

    def __init__(self) -> None:
        self.problem: str | None = None
        self.duplicates: dict[int, str] = {}  # id(object) -> its first duplicated key
        self.decoder = json.JSONDecoder(object_pairs_hook=self._object, parse_int=self._int,
                                        parse_constant=self._constant)

    def loads(self, text: str, max_depth: int) -> Any:
        """The one JSON value ``text`` holds; raises _BadJSON."""
        too_deep = _nesting_problem(text, max_depth)
        if too_deep:
            raise _BadJSON(*too_deep)
        try:
            return self.decoder.decode(text)
        except json.JSONDecodeError as exc:
            raise _BadJSON(exc.lineno, f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
        except RecursionError as exc:  # the depth check should prevent it; kept as a last guard
            raise _BadJSON(1, f"not valid JSON (nested deeper than {max_depth} levels)") from exc

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) < len(pairs):
            seen: set[str] = set()
            key = next(k for k, _ in pairs if k in seen or seen.add(k))
            self.duplicates[id(value)] = key
            self._note(f"duplicate key {_quote(key)} in an object")
        return value

    def _int(self, digits: str) -> int | str:
        if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
            self._note(f"a number of {len(digits.lstrip('-'))} digits (more than {_MAX_INT_DIGITS})")
            return digits
        return int(digits)

    def _constant(self, name: str) -> None:
        self._note(f"{name} is not valid JSON")

    def _note(self, problem: str) -> None:
        self.problem = self.problem or problem


def _nesting_problem(text: str, max_depth: int) -> tuple[int, str] | None:
    """(line, reason) when brackets outside strings nest deeper than ``max_depth``, else None."""
    if text.count("[") + text.count("{") <= max_depth:
        return None
    depth = 0
    for token in _JSON_TOKEN_RE.finditer(text):
        char = token.group()[0]
        if char in "[{":
            depth += 1
            if depth > max_depth:
                where = token.start()
                column = where - text.rfind("\n", 0, where)
                return _line_at(text, where), f"nested deeper than {max_depth} levels (at column {column})"
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif len(token.group()) == 1:
            return None  # an unterminated string: the parser reports it
    return None


def _record_or_error(source: str, line: int | None, record: Any, feed: str) -> Paper | IngestError:
    try:
        return _paper_from_record(record, feed)
    except _BadRecord as problem:
        return IngestError(source, line, str(problem))


_UNDECODABLE_RE = re.compile("[\udc80-\udcff]")  # bytes kept by errors="surrogateescape"


def _parse_json_document(path: Path, source: str, feed: str) -> Iterator[Paper | IngestError]:
    """A whole JSON document; it is read into memory, so files past MAX_JSON_BYTES are refused."""
    text = _read_whole_text(path)
    strict = _StrictJSON()
    try:
        document = strict.loads(text, _DOCUMENT_MAX_DEPTH)
    except _BadJSON as exc:
        if exc.reason.startswith("not valid JSON (Extra data") and exc.line > 1:
            # One object per line under a .json name: that is JSON Lines, which we can read.
            yield from _parse_json_lines(path, source, feed)
            return
        raise _UnreadableFile(exc.line, exc.reason) from exc
    duplicate = strict.duplicates.get(id(document))
    if duplicate is not None:
        # Which of two 'papers' lists is meant cannot be known: the document is refused, naming the key.
        raise _UnreadableFile(1, f"duplicate key {_quote(duplicate)} in the top-level object; file skipped")
    for line, record_text, record, problem in _located_records(text, document, strict):
        if _UNDECODABLE_RE.search(record_text):
            yield IngestError(source, line, "invalid UTF-8 in this record; record skipped")
        elif problem:
            yield IngestError(source, line, f"{problem}; record skipped")
        else:
            yield _record_or_error(source, line, record, feed)


def _read_whole_text(path: Path) -> str:
    try:
        with _open_binary(path) as fh:
            _refuse_binary(fh)
            data = fh.read(MAX_JSON_BYTES + 1)
    except _READ_ERRORS as exc:
        raise _UnreadableFile(None, f"cannot read the file ({_describe_read_error(exc)})") from exc
    if len(data) > MAX_JSON_BYTES:
        raise _UnreadableFile(None, f"JSON file larger than {MAX_JSON_BYTES // 2**20} MiB; "
                                    "convert it to JSON Lines (.jsonl), which is streamed")
    # Undecodable bytes survive as lone surrogates, so only the records holding them are refused.
    return data.decode("utf-8-sig", errors="surrogateescape")


def _located_records(text: str, document: Any,
                     strict: _StrictJSON) -> Iterator[tuple[int, str, Any, str | None]]:
    """Yield (line, raw text, record, problem) per record, re-walking the validated text for positions."""
    start = _skip_space(text, 0)
    if isinstance(document, list):
        yield from _walk_array(text, start)
    elif isinstance(document, dict) and isinstance(document.get("papers"), list):
        yield from _walk_array(text, _member_position(text, start, "papers"))
    elif isinstance(document, dict) and "title" in document:
        # The document is the record: the record's own nesting limit applies.
        yield _line_at(text, start), text, document, _record_problem(text, strict)
    else:
        raise _UnreadableFile(1, "expected a list of records or an object with a 'papers' list")


def _walk_array(text: str, pos: int) -> Iterator[tuple[int, str, Any, str | None]]:
    """Each element of the array at ``pos``, decoded again on its own so its problems are its own."""
    pos, line, counted_to = _skip_space(text, pos + 1), 1, 0
    while text[pos] != "]":
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        strict = _StrictJSON()
        value, end = strict.decoder.raw_decode(text, pos)
        yield line, text[pos:end], value, _record_problem(text[pos:end], strict)
        pos = _skip_space(text, end)
        if text[pos] == ",":
            pos = _skip_space(text, pos + 1)


def _record_problem(record_text: str, strict: _StrictJSON) -> str | None:
    too_deep = _nesting_problem(record_text, _MAX_DEPTH)
    return too_deep[1] if too_deep else strict.problem


def _member_position(text: str, pos: int, key: str) -> int:
    decoder = _StrictJSON().decoder  # values before the key may hold huge integers too
    pos = _skip_space(text, pos + 1)
    while True:
        name, pos = decoder.raw_decode(text, pos)
        pos = _skip_space(text, _skip_space(text, pos) + 1)  # past the ":"
        if name == key:
            return pos
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip_space(text, _skip_space(text, pos) + 1)  # past the ","


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# ---------------------------------------------------------------------------------------------
# CSV


_CSV_ALIASES = {"summary": "abstract", "arxiv": "arxiv_id"}


def _parse_csv(path: Path, source: str, feed: str) -> Iterator[Paper | IngestError]:
    bad_lines: dict[int, str] = {}

    def text_lines() -> Iterator[str]:
        for line in _read_lines(path):
            if line.bad_utf8:
                bad_lines[line.number] = line.bad_utf8
            yield line.text + "\n"

    reader = csv.reader(text_lines())
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            return
        columns = _csv_columns(header)
        missing = [name for name in ("title", "abstract") if name not in columns.values()]
        if missing:
            raise _UnreadableFile(reader.line_num, _missing_columns_reason(missing, header))
        first_line = reader.line_num + 1
        for row in reader:
            row_lines = range(first_line, reader.line_num + 1)
            first_line = reader.line_num + 1
            if any(cell.strip() for cell in row):
                yield _csv_record(source, feed, row, columns, row_lines, bad_lines)
    except csv.Error as exc:
        raise _UnreadableFile(reader.line_num, f"malformed CSV ({exc})") from exc


def _csv_columns(header: list[str]) -> dict[int, str]:
    names = {}
    for index, cell in enumerate(header):
        name = cell.strip().lower()
        names[index] = _CSV_ALIASES.get(name, name)
    return names


def _missing_columns_reason(missing: list[str], header: list[str]) -> str:
    wanted = " and ".join(f"'{name}'" + (" (or 'summary')" if name == "abstract" else "") for name in missing)
    found = ", ".join(cell.strip() for cell in header) or "none"
    return f"CSV header has no {wanted} column (columns: {found})"


def _csv_record(source: str, feed: str, row: list[str], columns: dict[int, str], row_lines: range,
                bad_lines: dict[int, str]) -> Paper | IngestError:
    for number in row_lines:
        if number in bad_lines:
            return IngestError(source, number, f"{bad_lines.pop(number)}; record skipped")
    # The first column of a given name wins; empty cells count as absent.
    record: dict[str, str] = {}
    for index, cell in enumerate(row):
        name = columns.get(index)
        if name and cell.strip() and name not in record:
            record[name] = cell
    return _record_or_error(source, row_lines.start, record, feed)


# ---------------------------------------------------------------------------------------------
# One record -> Paper


def _paper_from_record(record: Any, feed: str) -> Paper:
    """Map a JSON/CSV record (generic or Kaggle arXiv snapshot) to a Paper, or raise _BadRecord."""
    if not isinstance(record, dict):
        raise _BadRecord(f"expected a JSON object, found {_json_type(record)}")
    title = _text_field(record, "title")
    abstract = _text_field(record, "abstract", "summary")
    arxiv_id = arxiv_id_from(_scalar(record, "arxiv_id")) or arxiv_id_from(_scalar(record, "id"))
    url = _scalar(record, "url") or _scalar(record, "link")
    arxiv_id = arxiv_id or arxiv_id_from(url)
    if arxiv_id and not url:
        url = f"https://arxiv.org/abs/{arxiv_id}"
    date_text = _scalar(record, "date") or _scalar(record, "published") or _scalar(record, "update_date")
    sighting = _record_sighting(feed, date_text)
    code_url = _scalar(record, "code_url") or extract_code_url(_scalar(record, "comments") or "")
    return _build_paper(
        title, abstract, arxiv_id=arxiv_id, url=url, code_url=code_url, sighting=sighting,
        authors=_authors(record), categories=_categories(record.get("categories")),
        published=_first_version_date(record) or _iso_date(date_text),
    )


def _build_paper(title: str, abstract: str, *, sighting: FeedSighting, arxiv_id: str | None = None,
                 code_url: str | None = None, **fields: Any) -> Paper:
    title, abstract = clean_text(title), clean_text(abstract)
    if not title:
        raise _BadRecord("record has an empty 'title'")
    if not abstract:
        raise _BadRecord("record has an empty 'abstract'")
    return Paper(
        paper_id=paper_id_for(title, arxiv_id),
        title=title,
        abstract=abstract,
        # The abstract's own link is the one the authors point at; a record's code_url overrides it.
        code_url=extract_code_url(code_url or "") or code_url or extract_code_url(abstract),
        sightings=[sighting],
        **fields,
    )


def _text_field(record: dict[str, Any], name: str, *aliases: str) -> str:
    for key in (name, *aliases):
        if key in record and record[key] is not None:
            value = record[key]
            if not isinstance(value, str):
                raise _BadRecord(f"'{key}' must be text, found {_json_type(value)}")
            return value
    raise _BadRecord(f"record has no '{name}'")


def _scalar(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return None
    text = replace_lone_surrogates(str(value)).strip()
    return text or None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


_AUTHOR_SEPARATORS_RE = re.compile(r"\s*(?:,|;|\band\b)\s*")


def _authors(record: dict[str, Any]) -> list[str]:
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list) and parsed and all(isinstance(p, list) for p in parsed):
        # arXiv's [last, first, suffix] triples are cleaner than its free-text author string.
        names = [" ".join(str(part) for part in (p[1:2] + p[:1] + p[2:3]) if part) for p in parsed]
    else:
        value = record.get("authors") or record.get("author")
        if isinstance(value, list):
            names = [str(a.get("name", "")) if isinstance(a, dict) else str(a) for a in value]
        elif isinstance(value, str):
            names = _AUTHOR_SEPARATORS_RE.split(clean_text(value))
        else:
            names = []
    cleaned = (clean_text(name) for name in names)
    return list(dict.fromkeys(name for name in cleaned if name))


def _categories(value: Any) -> list[str]:
    if isinstance(value, list):
        items = [replace_lone_surrogates(str(v)) for v in value]
    elif isinstance(value, str):
        items = re.split(r"[\s,;]+", replace_lone_surrogates(value))
    else:
        return []
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))


def _record_sighting(feed: str, date_text: str | None) -> FeedSighting:
    if not date_text:
        return FeedSighting(feed=feed)
    parsed = parse_feed_date(date_text)
    return FeedSighting(feed=feed, date=date_text, day=parsed[1] if parsed else None)


def _iso_date(text: str | None) -> str | None:
    if not text:
        return None
    parsed = parse_feed_date(text)
    if parsed and parsed[1] >= 10000:  # the year is known
        day = parsed[1]
        return f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}"
    return text


def _first_version_date(record: dict[str, Any]) -> str | None:
    """The arXiv snapshot's v1 date ('Mon, 2 Apr 2007 19:18:42 GMT'), as ISO: the publication date."""
    versions = record.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):
        created = _iso_date(_scalar(versions[0], "created"))
        if created and re.fullmatch(r"\d{4}-\d{2}-\d{2}", created):
            return created
    return None
