"""One pydantic model per pipeline stage: the vocabulary of the code, the CLI JSON and the API."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field, computed_field, field_validator

from assistant.core.text import safe_url

UNTRUSTED = "Plain text from an untrusted feed: render it as text, never as HTML or Markdown."


class _Links(BaseModel):
    """``url`` and ``code_url`` hold only absolute http(s) links: feeds are untrusted (no javascript:, data:)."""

    @field_validator("url", "code_url", mode="before", check_fields=False)
    @classmethod
    def _http_only(cls, value: object) -> object:
        return safe_url(value) if isinstance(value, str) else value


class FeedSighting(BaseModel):
    """One appearance of a paper in a feed (a Daily Papers dump, a JSONL file, ...)."""

    feed: str = Field(description="Source name, e.g. the feed file's stem.")
    date: str | None = Field(default=None, description="Date as the feed gives it ('Mar 13', '2024-03-13').")
    day: int | None = Field(
        default=None,
        description="Sortable YYYYMMDD; the year is 0 when the feed gives none (so 'Mar 13' is 313).",
    )

    @property
    def label(self) -> str:
        return self.date or self.feed


class Paper(_Links):
    """A paper as ingested: one per paper across all feeds it appeared in."""

    paper_id: str = Field(description="'arxiv:<id>' when known, else 't:<hash of the normalised title>'.")
    title: str = Field(description=f"As the feed gives it. {UNTRUSTED}")
    abstract: str = Field(description=f"As the feed gives it, LaTeX residue cleaned. {UNTRUSTED}")
    url: str | None = Field(default=None, description="The paper's page: an absolute http(s) URL, else absent.")
    code_url: str | None = Field(default=None, description="First GitHub/code link found in the record.")
    authors: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    published: str | None = Field(default=None, description="Publication/update date, ISO if known.")
    sightings: list[FeedSighting] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def feeds(self) -> list[str]:
        """Human labels of the feeds the paper was seen in, deduplicated, in order."""
        return list(dict.fromkeys(s.label for s in self.sightings))

    @property
    def content_hash(self) -> str:
        """Hash of what gets embedded and stored; a change means the paper's chunks are rewritten."""
        parts = [self.title, self.abstract, self.url or "", self.code_url or "", "|".join(self.authors),
                 "|".join(self.categories), self.published or "",
                 "|".join(f"{s.feed}@{s.date}" for s in self.sightings)]
        # "surrogatepass": a lone surrogate that slipped past the parsers must not make hashing raise;
        # valid text encodes exactly as before, so stored hashes stay the same.
        return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Chunk(BaseModel):
    """A token-bounded piece of one paper's abstract; ``embed_text`` carries the title prefix."""

    paper_id: str
    index: int
    text: str
    embed_text: str


class Hit(_Links):
    """A paper found for a query: its best chunk and the scores along the way."""

    paper_id: str
    title: str = Field(description=UNTRUSTED)
    score: float = Field(description="Final score after rerank (fused score when no reranker).")
    snippet: str = Field(description=f"The best-matching chunk text. {UNTRUSTED}")
    feeds: list[str] = Field(default_factory=list)
    url: str | None = None
    code_url: str | None = None
    dense_score: float | None = Field(default=None, description="Best cosine of the paper's chunks.")
    sparse_score: float | None = Field(default=None, description="Best BM25 score of the paper's chunks.")
    fused_score: float | None = None


class Citation(_Links):
    """A numbered source the answer cites, verified to be among the retrieved papers."""

    n: int
    paper_id: str
    title: str = Field(description=UNTRUSTED)
    url: str | None = None
    code_url: str | None = None
    feeds: list[str] = Field(default_factory=list)
    snippet: str = Field(default="", description=f"The passage the answer rests on. {UNTRUSTED}")
    evidence: list[str] = Field(
        default_factory=list, description=f"The abstract's sentences supporting the answer's sentences. {UNTRUSTED}")


class SentenceCheck(BaseModel):
    """One sentence of a generated answer, checked against the abstracts it cites."""

    text: str
    cited: list[int] = Field(default_factory=list, description="The source numbers it cites.")
    supported: bool = Field(description="Its numbers and names occur in a cited abstract (removed when false).")
    evidence: str | None = Field(default=None, description=f"The cited abstract's sentence closest to it. {UNTRUSTED}")
    reason: str | None = Field(default=None, description="Why it is unsupported.")


class Turn(BaseModel):
    """One message of the conversation so far."""

    role: Literal["user", "assistant"]
    content: str


class Answer(BaseModel):
    """The assistant's reply, as the CLI `ask --json` and the API return it."""

    answer: str = Field(description="Plain text with [n] markers; written by a model from untrusted abstracts: "
                                    "render it as text, never as HTML (Markdown images and links are not ours).")
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool = False
    model: str
    query: str = Field(default="", description="The standalone query used for retrieval.")
    filters: list[str] = Field(default_factory=list,
                               description="The filter applied (set or read from the question), in words.")
    filters_read: list[str] = Field(
        default_factory=list, description="The filters read from the question's own words; ask again with "
                                          "read_filters false to search without them.")
    hits: list[Hit] = Field(default_factory=list, exclude=True)
    removed_citations: int = Field(default=0, description="Markers that pointed at no retrieved paper.")
    generation_failed: bool = False
    sentences: list[SentenceCheck] = Field(
        default_factory=list, description="The model's sentences with their support verdicts (empty: extractive).")
    unsupported_removed: int = Field(default=0, description="Sentences removed: facts not in the cited abstract.")
    tokens: dict[str, int] = Field(
        default_factory=dict, description="Prompt and completion tokens of the answer call (tiktoken estimate)."
    )
    timings_ms: dict[str, float] = Field(default_factory=dict)


class Sources(BaseModel):
    """First event of an answer, before any model call: the numbered papers it will be written from.

    Each paper's ``snippet`` holds its sentences most relevant to the query, so a reader can start reading
    while the model writes.
    """

    event: Literal["sources"] = "sources"
    query: str = Field(description="The standalone query the papers were found with.")
    filters: list[str] = Field(default_factory=list,
                               description="The filter applied (set or read from the question), in words.")
    papers: list[Citation] = Field(description="Source [n] of the coming answer is papers[n - 1].")


class Delta(BaseModel):
    """A piece of answer text as it is generated."""

    event: Literal["delta"] = "delta"
    text: str


class Sentence(BaseModel):
    """A finished answer sentence with its support verdict, sent once it is checked (before `Final`).

    An unsupported one (``check.supported`` false) is not in the final answer; a surface that already showed
    its deltas marks it as removed.
    """

    event: Literal["sentence"] = "sentence"
    check: SentenceCheck


class Final(BaseModel):
    """Last event: the verified answer (its text replaces the deltas: unknown markers are gone from it)."""

    event: Literal["final"] = "final"
    answer: Answer


AnswerEvent = Sources | Delta | Sentence | Final


class CollectionSummary(BaseModel):
    """What the index holds, for welcome pages and readiness checks."""

    papers: int
    with_code: int
    feeds: dict[str, int] = Field(default_factory=dict, description="Feed label -> papers seen in it, in label order.")
    titles: list[str] = Field(default_factory=list, exclude=True)


class IngestReport(BaseModel):
    """What one `ingest` run did (the contract of `assistant ingest --json`)."""

    papers_seen: int = 0
    papers_new: int = 0
    papers_updated: int = 0
    papers_unchanged: int = 0
    chunks_written: int = 0
    # Not part of the --json contract (its keys are fixed by architecture.md); the text report says it.
    vectors_added: int = Field(0, exclude=True, description="Stored papers that got the reader vector they lacked.")
    errors: list[str] = Field(default_factory=list)
