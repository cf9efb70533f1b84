"""Source files in, `Paper` records out: parsing, text clean-up and de-duplication.

The core of ingestion, importing no surface; the indexing step takes the Papers from here.
"""

from ingest.dedup import dedupe, merge_paper
from ingest.normalize import (
    arxiv_id_from,
    clean_text,
    extract_code_url,
    normalise_title,
    paper_id_for,
    parse_feed_date,
)
from ingest.parsers import (
    MAX_JSON_BYTES,
    SUPPORTED_SUFFIXES,
    feed_name,
    iter_records,
    iter_source_files,
)

__all__ = [
    "MAX_JSON_BYTES",
    "SUPPORTED_SUFFIXES",
    "arxiv_id_from",
    "clean_text",
    "dedupe",
    "extract_code_url",
    "feed_name",
    "iter_records",
    "iter_source_files",
    "merge_paper",
    "normalise_title",
    "paper_id_for",
    "parse_feed_date",
]
