"""The engine every surface calls: ingest, search and ask (`Assistant`), and its async face for the servers.

Dependencies are passed in or defaulted from settings, so tests pass fakes and benchmarks pass variants.
This is the one place that wires ingest, index and answer together; surfaces import this, never those.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from assistant.answer.abstain import (
    lead_name,
    may_name_a_paper,
    missing_names,
    named_paper,
    names_in,
    names_unmentioned,
    papers_named,
)
from assistant.answer.attribute import (
    DECLINED,
    Evidence,
    SentenceVectors,
    abstract_of,
    choose_papers,
    extractive_text,
    held_back,
    is_list_question,
    list_entry_prompt,
    paper_prompt,
    papers_asked_for,
    select_evidence,
    split_listing,
    statement,
    to_quote,
    unusable_statement,
)
from assistant.answer.citations import citation_of, unusable_reply, verify_citations, with_evidence
from assistant.answer.context import (
    GENERATION_FAILED_NOTE,
    NEARBY_HEADING,
    NOT_ANSWERED,
    Context,
    abstention_text,
    assemble_context,
    count_tokens,
    format_history,
    heuristic_standalone,
    leans_back,
    named_nearby,
    only_narrows,
    stands_alone,
    topic_question,
    uncited_list,
)
from assistant.answer.kinds import Kind, declares
from assistant.answer.llm import NO_LLM, ChatModel, build_chat_model
from assistant.answer.paper_states import StatesReport, build_prompt_states, build_states
from assistant.answer.rerank import Reranker, build_reranker
from assistant.answer.retrieve import Retrieval, retrieve_hits, term_coverage
from assistant.answer.support import SAYS_NOTHING, check_sentences, quoted
from assistant.answer.understand import (
    RECORD_FIELDS,
    Reading,
    about_collection,
    asking_part,
    asks_newest,
    asks_popularity,
    combine,
    day_label,
    describe,
    has_topic,
    mentions,
    mentions_asked,
    record_asked,
    search_text,
)
from assistant.answer.understand import read_filters as read_words
from assistant.core.dates import label_order
from assistant.core.errors import InvalidQuery, LLMError, ModelUnavailable
from assistant.core.models import (
    Answer,
    AnswerEvent,
    CollectionSummary,
    Delta,
    Final,
    Hit,
    IngestReport,
    Paper,
    Sentence,
    SentenceCheck,
    Sources,
    Turn,
)
from assistant.core.prompts import Prompts, load_prompts
from assistant.core.questions import check_question
from assistant.core.settings import Settings
from assistant.core.text import normalise_title
from assistant.index import open_index
from assistant.index.base import PaperIndex, SearchFilter
from assistant.index.embedder import Embedder, MiniLMEmbedder
from assistant.index.reader import PaperReader, paper_reader
from assistant.index.sparse import SparseEncoder, sparse_encoder
from ingest.pipeline import ingest_paths

log = logging.getLogger(__name__)

KIND_WIDER = 3  # a question for a kind of paper searches 3x the candidates: the seed's 9 surveys are all in them
# A declined one-paper answer moves to another paper found when the model's probability of declining the first is at
# least DECLINE_SURE and another's is lower by DECLINE_MARGIN or more (_surer_paper; bench/decline_scores.py).
DECLINE_SURE, DECLINE_MARGIN = 0.5, 0.2


class _Configured:
    """Marks "build the chat model from the settings" (None already means "no LLM: answer extractively")."""


CONFIGURED = _Configured()


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


@dataclass
class Timer:
    timings_ms: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = round(self.timings_ms.get(name, 0.0) + (time.perf_counter() - start) * 1000, 2)


@dataclass
class Reply:
    """What the model wrote for one answer, before the final verification."""

    text: str = ""
    checks: list[SentenceCheck] = field(default_factory=list)
    failed: str | None = None  # why the model's reply cannot be used: the extractive answer is given instead
    declined: bool = False  # the model found that no paper's evidence answers the question
    shown: bool = False  # deltas of it went out already
    tokens: dict[str, int] = field(default_factory=dict)


class Assistant:
    """Wires settings to components; every component can be passed in instead (tests, benchmarks)."""

    def __init__(self, settings: Settings, *, index: PaperIndex | None = None, embedder: Embedder | None = None,
                 sparse: SparseEncoder | None = None, reranker: Reranker | None = None,
                 chat_model: ChatModel | None | _Configured = CONFIGURED, prompts: Prompts | None = None,
                 create_index: bool = False, reader: PaperReader | None | _Configured = CONFIGURED) -> None:
        """``create_index`` lets a missing embedded index be created (ingest); otherwise it is an IndexUnavailable."""
        self.settings = settings
        self.prompts = prompts or load_prompts(settings.prompts_dir)
        self.embedder = embedder or MiniLMEmbedder(settings.embed)
        self.reader = paper_reader(settings.embed) if isinstance(reader, _Configured) else reader
        self.sparse = sparse or sparse_encoder()
        self.index = index or open_index(settings, self.embedder.dim, create=create_index)
        self.chat_model = build_chat_model(settings.llm) if isinstance(chat_model, _Configured) else chat_model
        self._chat_models: dict[str, ChatModel | None] = {}
        self.sentence_vectors = SentenceVectors.shared(self.embedder)
        self.sentence_vectors.use_file(self.sentence_file)
        self._days: tuple[float, list[int]] = (0.0, [])  # (read at, the index's feed days)
        self._answering, self._answering_lock = 0, threading.Lock()  # answers in flight: saved states wait for them
        self._closing = threading.Event()  # stops a state build between two slices of reading
        self.warmed = threading.Event()  # set when warm_up has finished: answers before it are slower
        self.reranker = reranker or build_reranker(settings.rerank, embedder=self.embedder,
                                                   complete=self._complete_plain,
                                                   sentence_scores=self._best_sentence_scores,
                                                   reader_scores=self._reader_scores if self.reader else None,
                                                   coverage=self._coverage)

    @property
    def model_name(self) -> str:
        return self.chat_model.name if self.chat_model else "none"

    @property
    def sentence_file(self) -> Path:
        """Where the warm-up saves every abstract's sentence vectors for the next process (`SentenceVectors`)."""
        name = getattr(self.embedder, "name", "") or "embedder"
        return self.settings.data_dir / "cache" / f"sentence-vectors-{name}.npz"

    def close(self) -> None:
        self._closing.set()
        self.index.close()

    def warm_up(self) -> None:
        """Make the first answers as fast as later ones: embed every paper's sentences (and its chunks' token
        vectors for the rerank stage), and have the chat model loaded with its attributed-answer system prompt
        already read (llama.cpp keeps a matching prefix)."""
        started = time.perf_counter()
        warm_passages = getattr(self.reranker, "warm", None)
        for row in self.index.paper_summaries():
            chunks = self.index.paper_chunks(row["paper_id"])
            if record := next((c["paper"] for c in chunks if c.get("paper")), None):
                self.sentence_vectors.get([(row["paper_id"], record["abstract"])])
            if warm_passages:  # the rerank stage reads each chunk as its hit passage: title + chunk text
                warm_passages([f"{c['title']}\n{c['text']}" for c in chunks])
        if self.reader is not None:
            try:
                self.reader.model.embed_query("warm up")
            except ModelUnavailable as exc:  # every search says so too; the log says it once, without a traceback
                log.error("warm-up: %s", exc)
            if lacking := self.index.papers_without_vectors():
                log.warning("warm-up: %d of the index's papers have no paper-reader vector (an index from before the "
                            "reader, or from an older build of it): reworded questions rank worse until `assistant "
                            "ingest` adds them", len(lacking))
        embedded = time.perf_counter() - started
        try:
            self.sentence_vectors.save(self.sentence_file)
        except OSError as exc:  # a read-only data dir: the next start embeds them again
            log.warning("warm-up: sentence vectors not saved (%s)", exc)
        if self.chat_model is not None:
            try:
                self.chat_model.complete(self.prompts.paper_system, "Reply with: ok", max_tokens=1)
                self._build_prompt_states()
            except LLMError as exc:  # the first answer reports it properly
                log.warning("warm-up: the chat model did not answer (%s)", exc)
        log.info("warm-up: sentences and chunks embedded (or read) in %.1f s, chat model ready after %.1f s", embedded,
                 time.perf_counter() - started)
        self.warmed.set()

    def build_paper_states(self, paper_ids: Iterable[str] | None = None, stop: threading.Event | None = None,
                           done: Callable[[Paper], None] | None = None) -> StatesReport:
        """Save the embedded model's state of each paper's prompt up to its question (all papers, or ``paper_ids``),
        so that answers on it read only the question before their first token; waits while answers are written."""
        from assistant.answer.local import local_chat_model

        if self.chat_model is None or not self.chat_model.embedded:
            return StatesReport(stopped="the chat model is not the embedded one: nothing to save")
        if self.settings.llm.answer_mode != "attributed":
            return StatesReport(stopped="answer_mode 'context' reads no per-paper prompts")
        self._build_prompt_states()
        ids = list(paper_ids) if paper_ids is not None else [row["paper_id"] for row in self.index.paper_summaries()]
        papers = (paper for pid in ids if (paper := self.paper(pid)) is not None)
        return build_states(papers, self.prompts.paper_system, self.prompts.paper_answer, local_chat_model(),
                            lambda: self._answering > 0, stop or self._closing, done)

    def _build_prompt_states(self) -> None:
        """The embedded model's saved states of the attributed answers' two system prompts (build_prompt_states)."""
        from assistant.answer.local import local_chat_model

        model = local_chat_model()
        if (model is None or self.chat_model is None or not self.chat_model.embedded
                or self.settings.llm.answer_mode != "attributed"):
            return
        built = build_prompt_states(model, [self.prompts.paper_system, self.prompts.paper_list_system])
        if built:
            log.info("saved the state of %d system prompts", built)

    @contextmanager
    def _answering_now(self) -> Iterator[None]:
        with self._answering_lock:
            self._answering += 1
        try:
            yield
        finally:
            with self._answering_lock:
                self._answering -= 1

    def chunk_count(self) -> int:
        """Points (chunks) in the index."""
        return self.index.count()

    def paper_titles(self) -> dict[str, str]:
        """paper_id -> title of every paper in the index."""
        return self.index.paper_titles()

    def ingest(self, paths: Iterable[Path], progress=None) -> IngestReport:
        """Ingest files or folders; see ingest.pipeline.ingest_paths."""
        self._days = (0.0, [])
        return ingest_paths(paths, self.index, self.embedder, self.sparse, self.settings.ingest, progress,
                            self.reader)

    def retrieve(self, query: str, k: int | None = None, search_filter: SearchFilter | None = None,
                 timer: Timer | None = None, *, read_filters: bool = True, said_before: str = "") -> Retrieval:
        """Hybrid retrieval then rerank; hits cut to k papers, relevance verdict from the fused evidence.

        Only a blank query is refused here: a condensed follow-up may be longer than the question limit. A long
        message is searched by the part that asks (`asking_part`: a pasted thread's dates are not filters).
        ``said_before``: the typed questions a follow-up leans on, whose filter words still apply (`understand`).
        """
        if not query.strip():
            raise InvalidQuery("the question is empty: type what you want to know")
        query = asking_part(query)
        timer = timer or Timer()
        with timer.stage("understand"):
            reading = self.understand(query, search_filter, read_filters=read_filters, said_before=said_before)
        newest = asks_newest(query)
        listing = is_list_question(query) or reading.from_words or reading.kind is not None or newest
        given_k = k is not None
        k = k or (self.settings.retrieval.list_k if listing else self.settings.retrieval.top_k)
        query, search_filter = reading.query, reading.filter
        text = search_text(query) if read_filters and self.settings.retrieval.understand_filters else query
        if reading.kind and reading.kind.name not in text.lower():  # "overviews" finds what says "survey"
            text = f"{text} {reading.kind.name}"
        settings = self.settings.retrieval
        if reading.kind:  # the kind is checked on each candidate: a wider net keeps the topic's papers of it
            settings = settings.model_copy(update={"candidates": settings.candidates * KIND_WIDER})
        # "Which papers mention ImageNet?": every paper saying the name, from a wider net than a listing's 10.
        mention = mentions_asked(query) if listing and read_filters and settings.understand_filters else None
        weights = None
        if mention:
            settings = settings.model_copy(update={"candidates": max(settings.candidates, 4 * settings.filter_papers)})
            if not has_topic(mention[1]):  # the name is all it asks: every chunk saying it, by BM25 alone
                text, weights = mention[0], (0.0, 1.0)
                k = k if given_k else papers_asked_for(query) or settings.filter_papers
        if not reading.topic and not given_k:  # only filters: every paper passing them is the answer, not the top 10
            k = papers_asked_for(query) or settings.filter_papers  # ... or as many as asked ("Give me 3 ...")
            settings = settings.model_copy(update={"candidates": max(settings.candidates, 2 * k)})
        with timer.stage("retrieve"):
            found = retrieve_hits(text, index=self.index, embedder=self.embedder, sparse=self.sparse,
                                  settings=settings, search_filter=search_filter, weights=weights)
        found.query, found.searched, found.filters, found.listing = query, text, reading.said, listing
        found.mention = mention[0] if mention else ""
        found.newest = newest
        found.filters_read = reading.said_by_words
        if not reading.topic:  # the question is its filter: every paper passing it answers it
            found.relevant, found.by_filter = bool(found.hits), True
        with timer.stage("rerank"):
            head = found.hits[: self.settings.rerank.candidates]
            reranked = self.reranker.rerank(text, head) + found.hits[len(head):]
        if reading.kind:
            with timer.stage("kind"):
                reranked = self._of_kind(reading.kind, text, reranked, found)
        if mention:
            with timer.stage("mention"):
                reranked = self._mentioning(*mention, reranked, found)
        if not listing and (named := papers_named(query, [hit.title for hit in reranked[: len(head)]])):
            # "Who wrote GPTQ?": the paper the question names by its title goes first (the rerank had put a survey
            # of GPT models there); several named go first in the order named ("Compare GPTQ and RepQuant").
            reranked = [reranked[i] for i in named] + [hit for i, hit in enumerate(reranked) if i not in named]
        found.hits, found.more = reranked[:k], found.by_filter and len(reranked) > k
        if not found.relevant and found.hits and reading.topic:
            # The named paper is looked for among all reranked candidates: a weak match puts it anywhere in them.
            with timer.stage("names"):
                lifted = self._lift_named_paper(query, reranked[: max(k, len(head))])
            if lifted:
                found.hits, found.named = lifted[:k], True
            found.relevant = found.named
        if found.relevant and names_in(query):
            with timer.stage("names"):
                titles, texts = [hit.title for hit in found.hits], [self._paper_text(hit) for hit in found.hits]
                found.missing = missing_names(query, titles, texts)
                found.unmentioned = [] if found.missing else names_unmentioned(query, texts)
            found.relevant = not found.missing
        return found

    def _of_kind(self, kind: Kind, text: str, hits: list[Hit], found: Retrieval) -> list[Hit]:
        """The found papers that declare the kind asked for, in their order (answer/kinds.py).

        When the kind is all the question asks ("Which papers are surveys?"), having such papers is the
        evidence and the listing is the answer; with a topic besides ("surveys on RL"), the topic's evidence
        still decides. No paper of the kind means no answer, and `kind_unmet` says why.
        """
        kept = [hit for hit in hits if declares(kind, hit.title, self._abstract(hit))]
        if not has_topic(kind.words.sub(" ", text)):
            found.relevant, found.by_filter = bool(kept), True
        if not kept:
            found.relevant, found.kind_unmet = False, kind.label
        return kept

    def _mentioning(self, name: str, rest: str, hits: list[Hit], found: Retrieval) -> list[Hit]:
        """The found papers whose title or abstract says ``name``, in their order, shown as a filter. When the name
        is all the question asks ("Which papers mention ImageNet?"), saying it is the evidence and the listing is
        the answer; with more asked ("… use GPT-4 as a judge?"), the question's evidence still decides."""
        kept = [hit for hit in hits if mentions(name, self._paper_text(hit))]
        said = f'mentions "{name}"'  # read from the words: the web's chip asks again without it, as typed
        found.filters, found.filters_read = [*found.filters, said], [*found.filters_read, said]
        if not has_topic(rest):
            found.relevant, found.by_filter = bool(kept), True
        elif not kept:
            found.relevant = False
        return kept

    def understand(self, query: str, search_filter: SearchFilter | None = None, *,
                   read_filters: bool = True, said_before: str = "") -> Reading:
        """The query without its filter words, and the filter it states joined with the caller's (which wins).

        Feed days the words name are read against the index's own (so "the latest feed" is its newest day);
        setting ``retrieval.understand_filters`` off, or ``read_filters=False`` for one question (the web's
        "ask again without it"), leaves the query as typed. The filter words of ``said_before`` (a follow-up as
        typed, joined to the questions it leans on) fill in what the query's own words do not say: a model's
        rewrite of "Which of those have code?" tends to drop "have code".
        """
        stated = search_filter or SearchFilter()
        reading_words = read_filters and self.settings.retrieval.understand_filters
        if not reading_words and stated.empty:
            return Reading(query, stated)
        days = self.feed_days()
        read = read_words(query, days) if reading_words else Reading(query)
        if reading_words and said_before and said_before != query:  # a joined follow-up is its own said_before
            before = read_words(said_before, days)
            read = replace(read, filter=combine(read.filter, before.filter), kind=read.kind or before.kind,
                           from_words=read.from_words or before.from_words)
        flt = replace(combine(stated, read.filter), years=tuple(sorted({d // 10000 for d in days} - {0})))
        return Reading(read.query, flt, describe(flt, read.kind), from_words=read.from_words, topic=read.topic,
                       said_by_words=describe(read.filter, read.kind) if read.from_words else [], kind=read.kind)

    def feed_days(self) -> list[int]:
        """The index's feed days (YYYYMMDD, year 0 when unknown), re-read at most every 30 s and after ingest."""
        read_at, days = self._days
        if time.monotonic() - read_at > 30:
            days = self.index.feed_days()
            self._days = (time.monotonic(), days)
        return days

    def _lift_named_paper(self, query: str, hits: list[Hit]) -> list[Hit] | None:
        """The hits with the one paper a specific name of a weakly matched query points at put first (None when
        no name points at exactly one of them; answer/abstain.py)."""
        pick = named_paper(query, [hit.title for hit in hits], [self._paper_text(hit) for hit in hits])
        return None if pick is None else [hits[pick], *hits[:pick], *hits[pick + 1:]]

    def paper(self, paper_id: str) -> Paper | None:
        """The stored record of one paper (None when the id is unknown)."""
        chunks = self.index.paper_chunks(paper_id)
        record = next((c["paper"] for c in chunks if c.get("paper")), None)
        return Paper.model_validate(record) if record else None

    def summary(self) -> CollectionSummary:
        """Papers, feeds and code links in the index (one scroll of payloads)."""
        rows = self.index.paper_summaries()
        feeds: dict[str, int] = {}
        for row in rows:
            for label in row.get("feeds") or []:
                feeds[label] = feeds.get(label, 0) + 1
        return CollectionSummary(papers=len(rows), with_code=sum(bool(r.get("code_url")) for r in rows),
                                 feeds=dict(sorted(feeds.items(), key=lambda item: label_order(item[0]))),
                                 titles=[r["title"] for r in rows])

    def search(self, query: str, k: int | None = None, search_filter: SearchFilter | None = None, *,
               read_filters: bool = True) -> list[Hit]:
        """Ranked papers for a query (after rerank)."""
        check_question(query, self.settings.max_question_chars)
        return self.retrieve(query, k, search_filter, read_filters=read_filters).hits

    @property
    def offered_models(self) -> list[str]:
        """What a request may pick: the configured model, then ASSISTANT_WEB_MODELS (default 'none': extractive)."""
        return list(dict.fromkeys([self.model_name, *(self.settings.web.models or [NO_LLM])]))

    def chat_model_for(self, model: str | None) -> ChatModel | None:
        """The chat model for a request: the configured one, or another offered one (built once).

        A request never names an arbitrary LiteLLM string: that would let a caller send the prompt to any
        endpoint (``ollama/x`` posts to localhost:11434) or load the 2.6 GB local model on a 'none' server.
        """
        if model is None or model == self.model_name:
            return self.chat_model
        if model not in self.offered_models:
            raise InvalidQuery(f"model {model!r} is not offered here; choose one of: {', '.join(self.offered_models)}")
        if model not in self._chat_models:
            self._chat_models[model] = build_chat_model(self.settings.llm.model_copy(update={"model": model}))
        return self._chat_models[model]

    def standalone_query(self, question: str, history: list[Turn],
                         chat_model: ChatModel | None | _Configured = CONFIGURED) -> str:
        """Rewrite a follow-up into a self-contained query using the conversation.

        A follow-up that only narrows the papers before it ("Which of those have code?") is joined to the
        questions it leans on, not rewritten: the embedded model turned it into the previous answer's titles, or
        into that answer's first sentence, and dropped the filter. A new question that names its own topic
        (`stands_alone`) is searched as typed, and with the embedded model (``condense`` 'auto') a follow-up is
        joined, not rewritten: its rewrite took 8–72 s on 2 cores before the sources could show, and on the dev
        set's follow-ups the join found the same papers (bench/README.md, "Follow-ups without the model's rewrite").
        """
        chat_model = self.chat_model if isinstance(chat_model, _Configured) else chat_model
        if not any(t.role == "user" for t in history) or stands_alone(question, self.feed_days()):
            return question  # a new question naming its own topic: searched as typed, no model call before it
        condense = self.settings.llm.condense
        if chat_model is not None and condense == "auto":  # the embedded model's rewrite: 8-72 s before the sources
            condense = "heuristic" if chat_model.embedded else "llm"
        if chat_model is None or condense == "heuristic" or only_narrows(question, self.feed_days()):
            return heuristic_standalone(question, history)
        prompt = self.prompts.condense.format(history=format_history(history), question=question)
        try:
            rewritten = chat_model.complete("You rewrite follow-up questions.", prompt).strip()
        except LLMError:
            return heuristic_standalone(question, history)
        rewritten = rewritten.splitlines()[0].strip().strip('"') if rewritten else ""
        # A rewrite that is empty or the follow-up as typed lost what "they" and "it" refer to (the embedded
        # model did so on f007 of the dev set, and the search found another paper): join the previous question.
        # One longer than the questions it stands for joined carries more than they asked: the embedded model
        # copied the previous answer (f004: 140 words of quotes, which read as "new benchmarks only" and found
        # neither the paper nor its acronym); the questions joined are the better search.
        joined = heuristic_standalone(question, history)
        if _words(rewritten) in ([], _words(question)) or len(_words(rewritten)) > len(_words(joined)):
            return joined
        return rewritten

    @staticmethod
    def said_before(question: str, history: list[Turn], query: str) -> str:
        """The typed questions whose filter words a follow-up searched as ``query`` keeps (see `understand`): the
        follow-up joined to those it leans on; none for a new question, which inherits no filter."""
        return heuristic_standalone(question, history) if query != question and leans_back(question) else ""

    def events(self, question: str, history: list[Turn] | None = None, k: int | None = None,
               search_filter: SearchFilter | None = None, model: str | None = None, *,
               read_filters: bool = True) -> Iterator[AnswerEvent]:
        """The answer as events: `Sources` (before any model call), `Delta`s as text is generated, `Final`.

        An abstention sends no sources. ``model`` picks another offered model (or 'none') for this answer only;
        ``read_filters=False`` searches the question as typed, without the filters its words state.
        """
        with self._answering_now():  # the background state builder waits meanwhile (build_paper_states)
            yield from self._events(question, history, k, search_filter, model, read_filters)

    def _events(self, question: str, history: list[Turn] | None, k: int | None, search_filter: SearchFilter | None,
                model: str | None, read_filters: bool) -> Iterator[AnswerEvent]:
        check_question(question, self.settings.max_question_chars)
        timer, history, chat_model = Timer(), history or [], self.chat_model_for(model)
        started = time.perf_counter()
        question = asking_part(question)  # the model reads what is asked, not a pasted thread before it
        if about_collection(question, self.feed_days()):  # "How many papers are there?": the index's own counts
            yield from _said(collection_text(self.summary()), question, started)
            return
        popularity = asks_popularity(question)
        if popularity == "only":  # "Which paper is the most cited?": no record holds such a figure
            yield from _said(NO_POPULARITY + NO_POPULARITY_ASK, question, started, abstained=True)
            return
        with timer.stage("condense"):
            query = self.standalone_query(question, history, chat_model)
        said_before = self.said_before(question, history, query)
        found = self.retrieve(query, k, search_filter, timer, read_filters=read_filters, said_before=said_before)
        if said_before and only_narrows(question, self.feed_days()):
            # The system applies the filter; the model is asked the question that named the topic, without its own
            # filter words ("Which of those have code?" would have it write about code, or decline).
            question = read_words(topic_question(history), self.feed_days()).query
            with timer.stage("those"):
                wider = partial(self.retrieve, query, self._those_depth(), search_filter,
                                read_filters=read_filters, said_before=said_before)
                found = self._among_those(found, history, question, wider)
        if record := self._record_asked(question, query, found, search_filter):
            yield from self._record_answer(*record, question, timer, started)
            return
        query = found.query
        if found.by_filter:  # the listing is the answer: each paper with its own words, nothing for a model to add
            chat_model = None
        base = {"model": chat_model.name if chat_model else "none", "query": query, "hits": found.hits,
                "filters": found.filters, "filters_read": found.filters_read}
        if not found.relevant:
            timer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 2)
            text = (self._no_kind(found.kind_unmet) if found.kind_unmet
                    else _none_of_those(found) if found.those
                    else self._nothing_passes(found.filters) if not found.hits and found.filters
                    else abstention_text(found.missing, found.hits))
            yield Delta(text=text)
            yield Final(answer=Answer(answer=text, abstained=True, timings_ms=timer.timings_ms, **base))
            return
        attributed = chat_model is None or self.settings.llm.answer_mode == "attributed"
        context = None if attributed else assemble_context(found.hits, self.settings.llm.context_tokens,
                                                           self.settings.ingest.tokenizer)
        sources = found.hits if context is None else context.sources
        with timer.stage("evidence"):  # a listing of the papers saying a name quotes where each says it
            evidence = select_evidence(found.mention if found.by_filter and found.mention else query,
                                       [(hit, self._paper_text(hit)) for hit in sources], self.sparse,
                                       self.sentence_vectors)
        yield Sources(query=query, filters=found.filters,
                      papers=[citation_of(ev.hit, ev.n, " ".join(ev.sentences)) for ev in evidence])
        timer.timings_ms["sources"] = round((time.perf_counter() - started) * 1000, 2)
        # "Compare GPTQ and AWQ": the answer is about GPTQ, and says first that no paper found mentions AWQ.
        note = NO_POPULARITY + NO_POPULARITY_FOUND if popularity else ""  # "the most cited paper on diffusion"
        note += UNMENTIONED.format(names=", ".join(found.unmentioned)) if found.unmentioned else ""
        if note:
            yield Delta(text=note)
        named: list[int] = []
        nearby: list[Evidence] = []  # a listing's papers named after its answer, uncited (split_listing)
        if found.those:  # the previous answer's papers that pass, then new ones the listing gate keeps
            chosen = [ev for ev in evidence if ev.hit.paper_id in found.shown]
            stated, near = self._choose(query, evidence, True)  # new papers: all the gate lets through are listed
            chosen += [ev for ev in stated + near if ev.hit.paper_id not in found.shown]
        elif found.by_filter:
            chosen = evidence
        else:  # a question naming two or more of the found papers ("Compare GPTQ and RepQuant") is about each
            named = papers_named(query, [ev.hit.title for ev in evidence]) if not found.listing else []
            chosen, nearby = (([evidence[i] for i in named], []) if len(named) > 1
                              else self._choose(query, evidence, found.listing))
        if (asked := papers_asked_for(question)) and not found.those:  # "Give me three papers on …": three at most
            chosen, nearby = chosen[:asked], nearby[:max(asked - len(chosen), 0)]
        if found.newest and len(chosen) + len(nearby) > 1:  # the most recent first, each paper's order kept otherwise
            chosen, nearby = (sorted(papers, key=lambda ev: -_newest_day(ev.hit.feeds)) for papers in (chosen, nearby))
            note += NEWEST_FIRST
            yield Delta(text=NEWEST_FIRST)
        reply = Reply()
        if chat_model is None:  # also a question of only filters: its listing is the answer
            reply.text = (self._those_text(found, chosen) if found.those else
                          extractive_text(chosen, _filter_heading(found) if found.by_filter else None, self.sparse))
            yield Delta(text=reply.text)
        elif context is None:
            deadline = time.monotonic() + self.settings.llm.timeout  # one timeout for every call of this answer
            reply = yield from self._write_per_paper(question, chosen, chat_model, timer, started, deadline,
                                                     listing=len(chosen) > 1 or bool(nearby))
            if reply.declined and len(chosen) == 1 and not found.listing and not found.named and not named:
                with timer.stage("reread"):
                    other = self._surer_paper(question, chosen[0], evidence, chat_model, deadline)
                if other is not None:
                    yield Delta(text="\n\n")
                    again = yield from self._write_per_paper(question, [other], chat_model, timer, started, deadline)
                    # Declined too, it is still the likelier paper (its evidence is quoted, or the answer abstains).
                    chosen, reply = [other], _after(reply, again)
        else:
            reply = yield from self._write_from_context(question, context, chat_model, timer, started)
        if reply.declined and (found.named or found.best_dense >= self.settings.retrieval.confident_dense
                               or (not found.listing and self._reader_sure(found))):
            # The model saw no answer, but the match is close, or the paper reader is sure of the paper: quote it.
            reply.text = extractive_text(chosen, sparse=self.sparse)
            yield Delta(text=("\n\n" if reply.shown else "") + reply.text)
        elif reply.declined:
            timer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 2)
            text = abstention_text([], found.hits, reason=NOT_ANSWERED)
            yield Delta(text=("\n\n" if reply.shown else "") + text)
            yield Final(answer=Answer(answer=note + text, abstained=True, timings_ms=timer.timings_ms,
                                      tokens=reply.tokens, sentences=reply.checks, **base))
            return
        if reply.failed:  # never dressed as an answer: the cited extractive one, with the reason
            fallback = (GENERATION_FAILED_NOTE.format(reason=reply.failed) + "\n\n"
                        + extractive_text(chosen, sparse=self.sparse))
            yield Delta(text=("\n\n" if reply.shown else "") + fallback)
            reply.text = fallback
        if nearby:
            more = uncited_list(NEARBY_HEADING, [ev.hit for ev in nearby])
            yield Delta(text="\n\n" + more)
            reply.text += "\n\n" + more
        cleaned, citations, removed = verify_citations(reply.text, sources)
        cleaned = note + cleaned
        citations = with_evidence(citations, reply.checks)
        timer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 2)
        yield Final(answer=Answer(answer=cleaned, citations=citations, removed_citations=removed,
                                  generation_failed=reply.failed is not None, tokens=reply.tokens,
                                  timings_ms=timer.timings_ms, sentences=reply.checks,
                                  unsupported_removed=sum(not c.supported for c in reply.checks), **base))

    def _record_asked(self, question: str, query: str, found: Retrieval,
                      search_filter: SearchFilter | None) -> tuple[Hit, list[str]] | None:
        """The paper a question names and the record fields it asks of it ("Who wrote GPTQ?": authors), when that
        is all it asks. Its filter words are not applied: "Does GPTQ have code?" asks, it does not filter."""
        if not any(rule.search(question) for rule in RECORD_FIELDS.values()) or not may_name_a_paper(question):
            return None
        hits = found.hits if not found.filters_read else self.retrieve(query, search_filter=search_filter,
                                                                       read_filters=False).hits
        named = papers_named(question, [hit.title for hit in hits])
        if len(named) != 1:
            return None
        hit = hits[named[0]]
        fields = record_asked(question, lead_name(hit.title))
        return (hit, fields) if fields else None

    def _record_answer(self, hit: Hit, fields: list[str], query: str, timer: Timer,
                       started: float) -> Iterator[AnswerEvent]:
        """A record question's answer: the paper's record, the fields asked first, cited; no model call."""
        paper = self.paper(hit.paper_id)
        yield Sources(query=query, papers=[citation_of(hit, 1)])
        text = record_text(hit, paper, fields)
        yield Delta(text=text)
        cleaned, citations, removed = verify_citations(text, [hit])
        timer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 2)
        yield Final(answer=Answer(answer=cleaned, citations=citations, removed_citations=removed, model="none",
                                  query=query, hits=[hit], timings_ms=timer.timings_ms))

    @staticmethod
    def _no_kind(label: str) -> str:
        """Why a question asking for a kind of paper found none: only the searched papers were read."""
        return (f"None of the papers found for this question passes \"{label}\": no title or abstract among them "
                "says it is one. Ask without that restriction to see the papers on the topic.")

    def _among_those(self, found: Retrieval, history: list[Turn], topic: str,
                     wider: Callable[[], Retrieval]) -> Retrieval:
        """A follow-up that only narrows ("Which of those have code?") is answered from the previous answer's papers:
        those of them that pass the filter, every one stated with its own words, and none passed off as one of them.

        The previous answer's papers are the ones whose titles it states (every answer states its papers' titles)
        or names as nearby after a listing,
        looked for among the candidates of the question that named the topic (``topic``, its filter words left
        out: a superset of what that answer listed). When it states none (a client that sends no answers back, a
        free-form model answer, an abstention's uncited nearest papers), the topic's papers that pass the filter
        answer, as before. Those of them that pass the filter but rank below the hits are fetched from the filtered
        search made ``wider`` (to the candidates' depth), so every one is counted.

        Searching the topic again with the filter had added papers the user had not seen, some off the topic
        ("Only the ones with code" after a listing on speech brought a paper on long text generation): those the
        listing gate keeps (`choose_papers`, as that search's answer did) follow under a heading saying they are new.
        """
        said = next((turn.content for turn in reversed(history) if turn.role == "assistant"), "")
        if not said or not found.filters:
            return found
        stated = normalise_title(said.partition(NEARBY_HEADING)[0])
        candidates = self.retrieve(topic, self._those_depth()).hits
        # A stated paper's title is followed by its marker ("- Title [2]: ...") or its statement ("Title: ..."); a
        # listing's nearby papers are named after its heading ("- Title (Mar 13)"), and were shown as found too. A
        # title offered uncited after an abstention ("You may mean ...") was not part of an answer.
        nearby = named_nearby(said, [hit.title for hit in candidates])
        before = [hit for hit in candidates if hit.title in nearby
                  or any(f"{normalise_title(hit.title)}{after}" in stated for after in (" [", ":"))]
        if not before:
            return found
        found.shown = {hit.paper_id for hit in before}
        listed = {hit.paper_id for hit in found.hits}
        if not found.shown <= listed:
            found.hits += [hit for hit in wider().hits if hit.paper_id in found.shown - listed]
        found.relevant, found.by_filter, found.more = bool(found.hits), True, False
        found.missing, found.kind_unmet = [], ""
        return found

    def _those_depth(self) -> int:
        """How many papers a follow-up looks for the previous answer's among: as many as a listing may state (a
        listing of the 41 papers saying "ImageNet" lost its last one to the 40 candidates)."""
        return max(self.settings.retrieval.candidates, self.settings.retrieval.filter_papers)

    def _those_text(self, found: Retrieval, chosen: list[Evidence]) -> str:
        """The previous answer's papers that pass a follow-up's filter, then the new ones, each under its heading."""
        kept = [ev for ev in chosen if ev.hit.paper_id in found.shown]
        new = [ev for ev in chosen if ev.hit.paper_id not in found.shown]
        parts = [extractive_text(kept, _filter_heading(found, len(kept)), self.sparse) if kept
                 else _none_of_those(found)]
        if new:
            parts.append(extractive_text(new, BEYOND_THOSE))
        return "\n\n".join(parts)

    def _nothing_passes(self, filters: list[str]) -> str:
        """Why a filtered search found nothing, with the feeds there are, so the user can restate it."""
        feeds = ", ".join(day_label(d) for d in self.feed_days()) or "none yet"
        return (f"No paper in the collection passes the filter ({'; '.join(filters)}). "
                f"The collection's feeds: {feeds}.")

    def _paper_prompt(self, question: str, ev: Evidence) -> str:
        """A one-paper answer's prompt: the paper's title and whole abstract, then the question (paper_prompt)."""
        return paper_prompt(self.prompts.paper_answer, question, ev.hit.title, abstract_of(ev.hit, ev.text))

    def _surer_paper(self, question: str, declined: Evidence, evidence: list[Evidence], chat_model: ChatModel,
                     deadline: float) -> Evidence | None:
        """Another found paper to answer from when the model declined the first one: the first, in retrieval order
        among the next ``reread_papers - 1`` found, whose prompt the model would decline with a probability at
        least DECLINE_MARGIN lower than the declined paper's, itself at least DECLINE_SURE. None when there is
        none, or the model gives no probabilities. Papers after that one are not read.

        The model's greedy no ("NOT COVERED") is a poor judge alone (asking it about the next papers whenever
        it declined gave 5 wrong answers for 1 right one: README), but its probability of saying no ranks a
        reworded question's papers: read for the top 5 of 300 single-paper questions (bench/decline_scores.py),
        this rule over the top 4 moved 12 answers, 10 to the right paper and none away from it; on 48 questions
        written afterwards it moved 6, 2 to the right paper and 2 away from it (bench/README.md). Retrieval order
        breaks ties: taking the lowest probability instead moved a dev answer from its right second paper to a
        fourth read 0.0005 lower.
        """
        others = [ev for ev in evidence if ev is not declined][: self.settings.llm.reread_papers - 1]
        if not others:
            return None

        def no(ev: Evidence) -> float | None:
            return chat_model.opening_probability(self.prompts.paper_system, self._paper_prompt(question, ev),
                                                  DECLINED, deadline=deadline)

        first = no(declined)
        if first is None or first < DECLINE_SURE:
            return None
        return next((ev for ev in others if (p := no(ev)) is not None and p <= first - DECLINE_MARGIN), None)

    def _write_per_paper(self, question: str, chosen: list[Evidence], chat_model: ChatModel, timer: Timer,
                         started: float, deadline: float | None = None,
                         listing: bool | None = None) -> Generator[AnswerEvent, None, Reply]:
        """The attributed answer: one short statement per chosen paper, from its abstract alone, marked by us.

        Each statement starts with its paper's title (sent before the model is called, so the reader knows at
        once which paper the coming sentence is about); deltas stream as the model writes (text that may still
        become the decline word is held back); each statement's sentences are checked against that paper's
        abstract and sent as `Sentence` events. One deadline bounds all the calls. A paper whose statement is
        unsupported keeps its place, with its most relevant abstract sentence quoted instead, and so does a listed
        paper the model declines when it states another: on 47 dev and user listings the declined papers were
        the right ones as often as the stated ones (bench/README.md, "Declined list entries"). Every paper
        declining, or every statement only restating the question, means the model found nothing to say: the
        caller abstains or quotes the evidence.
        """
        reply, kept, quotes, said, said_nothing = Reply(), [], [], 0, 0
        deadline = time.monotonic() + self.settings.llm.timeout if deadline is None else deadline
        encoding = self.settings.ingest.tokenizer
        # A list gets one sentence per paper, stopped at its full stop: five papers must not take a minute. A
        # listing stating one paper (its others named uncited after it) is still written as one.
        listing = len(chosen) > 1 if listing is None else listing
        limits = {"max_tokens": self.settings.llm.paper_tokens, **({"stop": [". ", "\n"]} if listing else {})}
        system = self.prompts.paper_list_system if listing else self.prompts.paper_system
        for ev in chosen:
            # One paper: its whole abstract, then the question (its saved state spares reading the paper:
            # paper_states). A listed paper: the question, then its evidence (list_entry_prompt says why).
            prompt = (list_entry_prompt(self.prompts.paper_list_answer, question, ev) if listing else
                      self._paper_prompt(question, ev))
            lead = f"{ev.hit.title}: "  # the system names the paper each statement is about, at once
            raw, shown = "", 0
            reply.tokens["prompt"] = reply.tokens.get("prompt", 0) + count_tokens(system + prompt,
                                                                                  encoding)
            yield Delta(text=("\n\n" if reply.shown else "") + lead)
            reply.shown = True
            try:
                with timer.stage("generate"):
                    for delta in chat_model.stream(system, prompt, deadline=deadline, **limits):
                        raw += delta
                        if held_back(raw) or DECLINED in raw.upper():
                            continue
                        if "first_token" not in timer.timings_ms:
                            timer.timings_ms["first_token"] = round((time.perf_counter() - started) * 1000, 2)
                        yield Delta(text=raw[shown:])
                        shown = len(raw)
            except LLMError as exc:
                reply.failed = str(exc)
                return reply
            reply.tokens["completion"] = reply.tokens.get("completion", 0) + count_tokens(raw, encoding)
            reply.failed = unusable_statement(raw)
            if reply.failed:
                return reply
            text = statement(raw, ev.n, max_sentences=1 if listing else 2)
            if text is None:
                if listing and ev.best:  # quoted: a listed paper's decline does not tell it from the others
                    # kept only if another paper is stated (below)
                    yield Delta(text=(" " if shown else "") + _quoted_in_place(ev, lead, kept, quotes))
                    continue
                yield Delta(text="(the model found no answer in its abstract)")
                continue
            with timer.stage("support"):
                checks = check_sentences(text, {ev.n: ev.text}, self.sparse, question, {ev.n: ev.hit.title})
            for check in checks:
                yield Sentence(check=check)
            reply.checks += checks
            if supported := [check.text for check in checks if check.supported]:
                yield Delta(text=f" [{ev.n}]")
                # What the statement left out, in the paper's own words: its figures above all (to_quote).
                extra = [quoted(sentence, ev.n) for sentence in to_quote(" ".join(supported), ev, self.sparse, listing)]
                if extra:
                    yield Delta(text=" " + " ".join(quote.text for quote in extra))
                quotes += extra
                kept.append(" ".join([lead + " ".join(supported), *(quote.text for quote in extra)]))
                said += 1
                continue
            said_nothing += any(check.reason and check.reason.startswith(SAYS_NOTHING) for check in checks)
            if ev.best:  # the paper's own most relevant sentence stands in for what the model made up
                yield Delta(text=" " + _quoted_in_place(ev, lead, kept, quotes))
        if said:
            reply.text, reply.checks = "\n\n".join(kept), reply.checks + quotes
        elif not reply.checks or said_nothing:
            reply.declined = True  # every paper declined, or the model only restated the question or named the paper
        else:
            reply.failed = "no sentence of the reply is supported by the abstract it cites"
        return reply

    def _write_from_context(self, question: str, context: Context, chat_model: ChatModel, timer: Timer,
                            started: float) -> Generator[AnswerEvent, None, Reply]:
        """The 'context' answer: one reply from all numbered sources, the model placing the markers."""
        reply = Reply()
        prompt = self.prompts.answer.format(context=context.text, question=question)
        encoding = self.settings.ingest.tokenizer
        reply.tokens["prompt"] = count_tokens(self.prompts.system, encoding) + count_tokens(prompt, encoding)
        try:
            with timer.stage("generate"):
                for delta in chat_model.stream(self.prompts.system, prompt):
                    if not reply.text:
                        timer.timings_ms["first_token"] = round((time.perf_counter() - started) * 1000, 2)
                    reply.text += delta
                    reply.shown = True
                    yield Delta(text=delta)
        except LLMError as exc:
            reply.failed = str(exc)
        reply.tokens["completion"] = count_tokens(reply.text, encoding)
        reply.failed = reply.failed or unusable_reply(reply.text, context.sources)
        if not reply.failed:
            with timer.stage("support"):
                reply.checks = check_sentences(reply.text, self._source_texts(context.sources), self.sparse,
                                               question, {n: hit.title for n, hit in enumerate(context.sources, 1)})
            for check in reply.checks:
                yield Sentence(check=check)
            reply.text = " ".join(check.text for check in reply.checks if check.supported)
            if unusable_reply(reply.text, context.sources):
                reply.failed = "no sentence of the reply is supported by the abstract it cites"
        return reply

    def answer_stream(self, question: str, history: list[Turn] | None = None, k: int | None = None,
                      search_filter: SearchFilter | None = None, model: str | None = None, *,
                      read_filters: bool = True) -> Iterator[str | Answer]:
        """The text deltas, then the final Answer (`events` without the sources)."""
        for event in self.events(question, history, k, search_filter, model, read_filters=read_filters):
            if isinstance(event, Delta):
                yield event.text
            elif isinstance(event, Final):
                yield event.answer

    def _source_texts(self, sources: list[Hit]) -> dict[int, str]:
        """Source number -> its paper's title and whole abstract (the best chunk alone misses facts)."""
        return {n: self._paper_text(hit) for n, hit in enumerate(sources, 1)}

    def _best_sentence_scores(self, query: str, hits: list[Hit]) -> list[float]:
        """Per hit, the cosine of the query with its closest abstract sentence (sentence vectors are cached by
        paper, and read anew when the hit's stored text is no longer part of the cached abstract)."""
        vector = self.embedder.embed([query])[0]
        papers = [self.sentence_vectors.latest(hit.paper_id, hit.snippet) for hit in hits]
        if missing := [(hit.paper_id, self._abstract(hit)) for hit, got in zip(hits, papers, strict=True) if not got]:
            fetched = iter(self.sentence_vectors.get(missing))
            papers = [got or next(fetched) for got in papers]
        return [float((vectors @ vector).max()) if len(vectors) else 0.0 for _, vectors in papers]

    def _choose(self, query: str, evidence: list[Evidence],
                listing: bool) -> tuple[list[Evidence], list[Evidence]]:
        """The papers an answer states something about (`choose_papers`), and a listing's nearby ones it names
        uncited (`split_listing`); a listing reads the paper reader for both."""
        llm = self.settings.llm
        reader = self._reader_scores(query, [ev.hit for ev in evidence]) if listing and self.reader else None
        chosen = choose_papers(evidence, listing, llm.list_papers, llm.list_close_read if reader else llm.list_close,
                               reader, llm.list_reader_margin)
        return split_listing(evidence, chosen, reader, llm.list_sure_margin)

    def _coverage(self, query: str, hits: list[Hit]) -> float:
        """Share of the query's BM25 terms in the first hit (what retrieval's relevance verdict reads)."""
        return term_coverage(self.sparse.embed_query(query).indices, hits[0], self.sparse) if hits else 0.0

    def _reader_sure(self, found: Retrieval) -> bool:
        """Whether the paper reader reads the first paper found at least ``llm.reader_sure`` closer to the question
        than the second, and at least ``llm.reader_sure_cosine`` close: users' reworded questions whose first paper
        was wrong nearly all read under 0.04 apart, and a question the collection lacks reads far (README, "How it
        answers")."""
        llm = self.settings.llm
        if not llm.reader_sure or len(found.hits) < 2 or not self.reader:
            return False
        scores = self._reader_scores(found.searched or found.query, found.hits[:2])
        if scores is None or not all(math.isfinite(s) for s in scores):  # a paper without a stored vector: no verdict
            return False
        return scores[0] >= llm.reader_sure_cosine and scores[0] - scores[1] >= llm.reader_sure

    def _reader_scores(self, query: str, hits: list[Hit]) -> list[float] | None:
        """Per hit, the paper reader's cosine of the query with its title + abstract (None: no vectors stored)."""
        return self.reader.scores(query, hits, self.index.paper_vectors([hit.paper_id for hit in hits]))

    def _abstract(self, hit: Hit) -> str:
        """A found paper's whole abstract (its best chunk when the record is missing)."""
        paper = self.paper(hit.paper_id)
        return paper.abstract if paper else hit.snippet

    def _paper_text(self, hit: Hit) -> str:
        """A found paper's title and whole abstract (its best chunk when the record is missing)."""
        return f"{hit.title}. {self._abstract(hit)}"

    def ask(self, question: str, history: list[Turn] | None = None, k: int | None = None,
            search_filter: SearchFilter | None = None, model: str | None = None, *,
            read_filters: bool = True) -> Answer:
        """Answer a question with verified citations (the non-streaming form of answer_stream)."""
        final = None
        for item in self.answer_stream(question, history, k, search_filter, model, read_filters=read_filters):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def _complete_plain(self, prompt: str) -> str:
        if self.chat_model is None:
            raise LLMError("the 'llm' reranker needs a chat model (ASSISTANT_LLM_MODEL is 'none')")
        return self.chat_model.complete("You rank passages.", prompt)


# Title words too common in this field to say what a collection is about.
_PLAIN_TITLE_WORDS = set("""a an and the of for in on to with via from by as at is are its your all or towards toward
using based new large efficient learning model models network networks beyond through into what how when can
improving improved""".split())


def collection_text(summary: CollectionSummary) -> str:
    """What the collection holds, in words: papers, feeds with their counts, code links, frequent title words."""
    if not summary.papers:
        return "The collection is empty: ingest a feed first (`assistant ingest FILE`)."
    feeds = ", ".join(f"{label} ({count})" for label, count in summary.feeds.items())
    words: dict[str, int] = {}
    for title in summary.titles:
        for word in {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9-]+", title)} - _PLAIN_TITLE_WORDS:
            words[word] = words.get(word, 0) + 1
    for word in [w for w in words if w.endswith("s") and w[:-1] in words]:  # "transformers" counts as "transformer"
        words[word[:-1]] += words.pop(word)
    common = sorted(words.items(), key=lambda item: (-item[1], item[0]))[:12]
    lines = [f"The collection holds {summary.papers} papers from {len(summary.feeds)} feed(s): {feeds}. "
             f"{summary.with_code} of them link to code (a paper can be in several feeds).",
             "Words most frequent in their titles: " + ", ".join(f"{w} ({n})" for w, n in common) + ".",
             'Ask about a topic ("Which papers …?"), name a feed ("… in the Mar 13 feed") or ask for papers with '
             "code; every answer cites the abstracts it comes from."]
    return "\n\n".join(lines)


def _quoted_in_place(ev: Evidence, lead: str, kept: list[str], quotes: list[SentenceCheck]) -> str:
    """A listed or answered paper's most relevant sentence, quoted where its statement would be: the entry is kept
    and the quote counted with the answer's checks; returns the quote's text."""
    quote = quoted(ev.best, ev.n)
    kept.append(lead + quote.text)
    quotes.append(quote)
    return quote.text


def _after(declined: Reply, again: Reply) -> Reply:
    """The reply about the paper read next, keeping the declined one's checks and token counts (all were sent)."""
    again.checks = declined.checks + again.checks
    again.tokens = {key: declined.tokens.get(key, 0) + again.tokens.get(key, 0)
                    for key in {*declined.tokens, *again.tokens}}
    return again  # shown already: _write_per_paper sent its paper's title


def _said(text: str, question: str, started: float, abstained: bool = False) -> Iterator[AnswerEvent]:
    """An answer the system states without searching (the collection's counts, a figure no record holds)."""
    yield Delta(text=text)
    yield Final(answer=Answer(answer=text, abstained=abstained, model="none", query=question,
                              timings_ms={"total": round((time.perf_counter() - started) * 1000, 2)}))


def _newest_day(feeds: list[str]) -> int:
    """The latest feed day among a paper's feed labels (0 when none is a date)."""
    return max((day for day, _ in map(label_order, feeds) if day < 10**9), default=0)


def record_text(hit: Hit, paper: Paper | None, fields: list[str]) -> str:
    """What a paper's record says, the fields asked first; a field the record lacks is said to be missing."""
    authors = paper.authors if paper else []
    published = paper.published if paper else None
    named = ", ".join(authors[:RECORD_AUTHORS]) + (f" and {len(authors) - RECORD_AUTHORS} more"
                                                    if len(authors) > RECORD_AUTHORS else "")
    lines = {
        "authors": f"Authors: {named}" if authors else "Authors: not in its record (the feed lists none)",
        "date": (f"Published: {published}" if published else
                 "Published: no date in its record (the days it was listed in a feed are all it has)"),
        "feeds": f"Seen in the feeds: {', '.join(hit.feeds)}" if hit.feeds else "Seen in the feeds: none recorded",
        "code": f"Code: {hit.code_url}" if hit.code_url else "Code: no code link in its record",
        "link": f"Paper page: {hit.url}" if hit.url else "Paper page: no link in its record",
    }
    order = [*fields, *(key for key in lines if key not in fields)]
    return f"{hit.title} [1]\n" + "\n".join(f"- {lines[key]}" for key in order)


def _filter_heading(found: Retrieval, kept: int = 0) -> str:
    """The heading of a listing that answers a question of only filters: how many papers, and if all are shown
    (for a follow-up narrowing the previous answer, ``kept`` of its ``found.those`` papers pass)."""
    said = "; ".join(found.filters)
    if found.those == 1:
        return f"The paper in the previous answer passes the filter ({said}):"
    if found.those:
        passing = "All" if kept == found.those else f"{kept} of the"
        verb = "passes" if kept == 1 else "pass"
        return f"{passing} {found.those} papers in the previous answer {verb} the filter ({said}):"
    if found.more and papers_asked_for(found.query):  # "Give me 3 papers that mention ImageNet"
        return f"{len(found.hits)} of the papers that pass the filter ({said}), as many as asked; more pass it:"
    if found.more:
        return (f"{len(found.hits)} of the papers that pass the filter ({said}); more pass it: add a topic to the "
                f"question to narrow them.")
    return f"The {len(found.hits)} papers that pass the filter ({said}):" if len(found.hits) > 1 else (
        f"The paper that passes the filter ({said}):")


RECORD_AUTHORS = 12  # a record question names this many authors at most (arXiv lists hundreds for some papers)
UNMENTIONED = "None of the papers found mentions {names}.\n\n"
NO_POPULARITY = ("The collection holds no citation counts, upvotes or other measures of popularity (its records "
                 "hold titles, abstracts, code links and the feeds that listed each paper), so papers cannot be "
                 "ranked by them here.")
NO_POPULARITY_ASK = ' Ask about a topic instead ("Which papers …?"), or about the collection ("How many papers?").'
NO_POPULARITY_FOUND = " What the papers found say:\n\n"
NEWEST_FIRST = "Newest first, by the latest feed each paper was listed in:\n\n"
BEYOND_THOSE = "Not in the previous answer, found by searching its topic again with the filter:"


def _none_of_those(found: Retrieval) -> str:
    """That no paper of the previous answer passes a follow-up's filter."""
    said = "; ".join(found.filters)
    return (f"The paper in the previous answer does not pass the filter ({said})." if found.those == 1 else
            f"None of the {found.those} papers in the previous answer passes the filter ({said}).")


# --- the async face -------------------------------------------------------------------------------

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class AsyncAssistant:
    """Wraps one `Assistant` for async callers; every surface of `assistant serve` shares one instance."""

    def __init__(self, engine: Assistant, max_concurrent_answers: int = 2, *, owns_engine: bool = True) -> None:
        self.engine = engine
        self._owns_engine = owns_engine  # tests share one seed index between apps and must not have it closed
        self._answer_slots = asyncio.Semaphore(max_concurrent_answers)

    @property
    def settings(self):
        return self.engine.settings

    async def search(self, query: str, k: int | None = None, search_filter: SearchFilter | None = None) -> list[Hit]:
        return await asyncio.to_thread(self.engine.search, query, k, search_filter)

    async def paper(self, paper_id: str) -> Paper | None:
        return await asyncio.to_thread(self.engine.paper, paper_id)

    @property
    def model_name(self) -> str:
        """The configured chat model ('none' when answers are extractive)."""
        return self.engine.model_name

    @property
    def warmed(self) -> bool:
        """Whether the engine's warm-up has finished (`Assistant.warm_up`)."""
        return self.engine.warmed.is_set()

    @property
    def offered_models(self) -> list[str]:
        """The models a request may pick (see `Assistant.offered_models`)."""
        return self.engine.offered_models

    async def summary(self) -> CollectionSummary:
        """Papers, feeds and code links in the index."""
        return await asyncio.to_thread(self.engine.summary)

    async def events(self, question: str, history: list[Turn] | None = None, k: int | None = None,
                     search_filter: SearchFilter | None = None, model: str | None = None, *,
                     read_filters: bool = True) -> AsyncIterator[AnswerEvent]:
        """`Assistant.events` from a worker thread; the engine's errors are raised here, in the caller's task."""
        async with self._answer_slots:
            loop, queue, stop = asyncio.get_running_loop(), asyncio.Queue(), threading.Event()

            def send(item: Any) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, item)

            def work() -> None:
                stream = None
                try:
                    stream = self.engine.events(question, history, k, search_filter, model, read_filters=read_filters)
                    for item in stream:
                        if stop.is_set():  # the client went away: stop between tokens
                            break
                        send(item)
                except Exception as exc:  # handed to the caller's task, which reports it
                    send(_Failure(exc))
                finally:
                    if stream is not None:
                        stream.close()
                    send(_DONE)

            worker = asyncio.ensure_future(asyncio.to_thread(work))
            try:
                while (item := await queue.get()) is not _DONE:
                    if isinstance(item, _Failure):
                        raise item.exc
                    yield item
            finally:
                stop.set()
                del worker  # it ends at the next token; the slot frees now so a new question is not held up

    async def answer_stream(self, question: str, history: list[Turn] | None = None, k: int | None = None,
                            search_filter: SearchFilter | None = None, model: str | None = None, *,
                            read_filters: bool = True) -> AsyncIterator[str | Answer]:
        """Text deltas, then the final Answer (`events` without the sources)."""
        events = self.events(question, history, k, search_filter, model, read_filters=read_filters)
        try:
            async for event in events:
                if isinstance(event, Delta):
                    yield event.text
                elif isinstance(event, Final):
                    yield event.answer
        finally:
            await events.aclose()  # a client that went away stops the generation now, not at garbage collection

    async def ask(self, question: str, history: list[Turn] | None = None, k: int | None = None,
                  search_filter: SearchFilter | None = None, model: str | None = None, *,
                  read_filters: bool = True) -> Answer:
        final = None
        async for item in self.answer_stream(question, history, k, search_filter, model, read_filters=read_filters):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def close(self) -> None:
        if self._owns_engine:
            self.engine.close()
