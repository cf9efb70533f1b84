"""Attribute first, then generate: the system picks the papers and their evidence, the model only words it.

Given five numbered sources at once, the embedded 1.5B model wrote sentences citing papers that say nothing
of the kind, and its 1 000-token prompt took 20 s to read on 2 cores before the first word. Here:

1. every found paper's whole abstract is split into sentences and each is scored against the question
   (shared BM25 terms and embedding cosine), so a fact in the paper's second chunk is not lost;
2. the papers whose best evidence is close to the best paper's are chosen (more for "which papers ..."
   questions), the rest are only shown as sources;
3. for each chosen paper the model gets that paper alone, its title and whole abstract, then the question
   (the paper first, so the embedded model loads that part's saved state and reads only the question's few
   tokens: paper_states.py) and writes one or two sentences, or says the abstract does not answer; a listed
   paper ("which papers …") gets the question, then its 3 evidence sentences, and writes one sentence;
4. the system writes the paper's marker, and each sentence is checked against that paper's abstract
   (support.py) before it counts.

(cf. Slobodkin et al., "Attribute First, then Generate", ACL 2024.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.answer.abstain import names_of
from assistant.answer.citations import MARKER
from assistant.answer.support import split_answer, with_marker
from assistant.core.files import write_atomically
from assistant.core.models import Hit
from assistant.index.embedder import Embedder
from assistant.index.sparse import SparseEncoder

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
DECLINED = "NOT COVERED"

# "Which papers ...", "what work ...", "list ...", "are there papers ...", "anything on ...", "quantization papers?":
# the user wants every paper that applies. A question stating a filter ("in the Mar 13 feed") is one too.
_KINDS = r"(?:papers|studies|methods|approaches|models|articles|surveys|publications)"
_LEAD = r"(?:(?!(?:in|for|when|how|why|where|are|is|do|does|can|could|has|have|what|which|the|a|an)\b)[\w-]+\s+)"
_LIST_QUESTION = re.compile(
    rf"\b(?:which|what|any|some|other)\s+(?:[\w-]+\s+){{0,4}}?{_KINDS}\b"
    # "works" as papers, not the verb: "... so any look-ahead length works, trained on ..." is a clause of its own.
    r"|(?<!\bso )(?<!\bif )(?<!\bthat )(?<!\bwhether )(?<!\bas )(?<!\bany )(?<!\bsome )"
    r"\b(?:which|what|any|some|other)\s+(?:[\w-]+\s+){0,4}?works\b(?!\s+(?:from|with|on|by|in|well|best|better|for)\b)"
    rf"|\b(?:list|name|find|show)\s+(?:me\s+)?(?:all\s+|the\s+|some\s+)?(?:[\w-]+\s+){{0,3}}?{_KINDS}\b"
    r"|\bwhat\s+(?:[\w-]+\s+){0,3}?work\s+(?:in|on|about|from|appeared|came|was|is)\b"
    r"|\bpapers\s+(?:that|which|on|about|using|proposing|with|in|from)\b"
    r"|\banything\b.{0,40}?\b(?:on|about|regarding)\b|\bwhat'?s\s+new\b|\b(?:were|are)\s+there\s+any\b"
    rf"|^\s*{_LEAD}{{0,4}}?{_KINDS}\s*(?:[?.!]|$|,|\s+(?:on|about|in|from|with|that|which|for|since|please)\b)"
    r"|\bwhat\s+(?:was|is|did)\s+(?:in\s+)?the\s+\w+\s+\d{1,2}\s+feed\b"
    r"|\bhow\s+many\s+(?:papers|studies|articles|publications|works)\b"
    # "What does the collection have on RL?", "What do you have about speech?", "What's there on video?"
    r"|\bwhat\s+(?:does|do)\s+(?:the\s+collection|this\s+collection|you)\s+(?:have|hold|contain|cover)\s+"
    r"(?:on|about|regarding)\b"
    r"|\bwhat(?:\s+is|'s)\s+(?:there|in\s+(?:the|this)\s+collection)\s+(?:on|about|regarding)\b"
    r"|\bwhat\s+(?:research|work)\s+(?:is\s+there|exists|do\s+you\s+have)\b",
    re.IGNORECASE,
)


@dataclass
class Evidence:
    """One found paper, its source number, and its abstract's sentences most relevant to the question."""

    n: int
    hit: Hit
    text: str  # title and whole abstract (what its sentences are checked against)
    sentences: list[str]  # in abstract order
    score: float  # relevance of its best sentence: 0..1
    best: str = ""  # its most relevant sentence (quoted when the model's statement about it is unsupported)
    ranked: list[str] = field(default_factory=list)  # the sentences, most relevant first


_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
            "ten": 10, "a couple of": 2, "a few": 3}
_COUNT_ASKED = re.compile(
    rf"(?<![\w-])(?:(?:give|show|list|name|find|recommend|suggest|pick|tell)\s+(?:me\s+|us\s+)?(?:the\s+)?(?:top\s+)?"
    rf"|top\s+)(?P<n>\d{{1,2}}|{'|'.join(_NUMBERS)})\s+(?:[\w-]+\s+){{0,3}}?{_KINDS}(?![\w-])", re.IGNORECASE)


def papers_asked_for(question: str) -> int | None:
    """How many papers a listing asks for ("Give me three papers on video generation": 3), or None."""
    match = _COUNT_ASKED.search(question)
    if not match:
        return None
    n = match["n"].lower()
    return int(n) if n.isdigit() and int(n) > 0 else _NUMBERS.get(n)


def is_list_question(question: str) -> bool:
    """Whether the question asks for every paper that applies ("Which papers ...") rather than one answer."""
    return bool(_LIST_QUESTION.search(question))


def abstract_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 1]


_SHARED: dict[str, SentenceVectors] = {}
_SHARED_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class SentenceVectors:
    """Each paper's abstract sentences and their embeddings, computed once per paper text and kept in memory.

    Embedding a question's five papers' ~50 sentences took ~380 ms on 2 cores, most of the half second in
    which the sources must be on screen; a paper already seen costs nothing. The server's warm-up fills it up
    front (30 s for the 301 seed papers here) and `save`s it beside the index (4.4 MB), so the next process
    reads the vectors instead (`use_file`): its warm-up skips that part and a one-shot search embeds nothing.
    """

    @classmethod
    def shared(cls, embedder: Embedder) -> SentenceVectors:
        """The process's one cache for this embedder model: every engine over it (a server's, a test run's
        many) reads each abstract's sentences once."""
        key = getattr(embedder, "name", "") or repr(embedder)
        with _SHARED_LOCK:
            if key not in _SHARED:
                _SHARED[key] = cls(embedder)
            return _SHARED[key]

    def __init__(self, embedder: Embedder, max_papers: int = 20_000) -> None:
        self.embedder, self.max_papers = embedder, max_papers
        self._cache: OrderedDict[tuple[str, str], tuple[list[str], np.ndarray]] = OrderedDict()
        self._latest: dict[str, tuple[str, str]] = {}  # paper id -> its last-cached (id, abstract)
        self._lock = threading.Lock()
        # Saved by an earlier process (`save`): (paper id, sha256 of the abstract) -> sentences, vectors.
        self._files: dict[Path, bool] = {}  # file -> read yet
        self._stored: dict[tuple[str, str], tuple[list[str], np.ndarray]] = {}
        self._embedded_since_save = False

    def use_file(self, path: Path) -> None:
        """Read the vectors a `save` left at ``path`` before embedding: an abstract found there, split into the same
        sentences, is not embedded again (read on the first miss; a missing or damaged file is skipped)."""
        with self._lock:
            self._files.setdefault(path, False)

    def save(self, path: Path) -> bool:
        """Write what is in memory to ``path`` (atomically) when something was embedded since the last save or the
        file is missing: the next process's warm-up and one-shot searches read it instead of embedding."""
        with self._lock:
            if not self._embedded_since_save and path.exists():
                return False
            items = list(self._cache.items())
            self._embedded_since_save = False
        rows = [[paper_id, _digest(abstract), sentences] for (paper_id, abstract), (sentences, _) in items]
        vectors = (np.concatenate([matrix for _, (_, matrix) in items]).astype(np.float32) if items
                   else np.zeros((0, 0), np.float32))
        write_atomically(path, lambda out: np.savez(out, rows=np.array(json.dumps(rows)), vectors=vectors))
        return True

    def _read_files(self) -> None:
        with self._lock:
            unread = [path for path, read in self._files.items() if not read]
            for path in unread:
                self._files[path] = True
        for path in unread:
            try:
                with np.load(path, allow_pickle=False) as saved:
                    rows, vectors = json.loads(str(saved["rows"])), saved["vectors"]
                at, stored = 0, {}
                for paper_id, digest, sentences in rows:
                    stored[(paper_id, digest)] = (sentences, vectors[at:at + len(sentences)])
                    at += len(sentences)
                if at != len(vectors):
                    raise ValueError(f"{at} sentences listed, {len(vectors)} vectors")
            except FileNotFoundError:
                continue
            except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
                # damaged (cut short, another format): embedded again, and rewritten by the next save
                log.warning("sentence vectors in %s not read (%s): they are embedded again", path, exc)
                continue
            with self._lock:
                self._stored.update(stored)

    def _from_files(self, key: tuple[str, str]) -> tuple[list[str], np.ndarray] | None:
        """The saved sentences and vectors of (paper id, abstract), if the abstract still splits into them."""
        stored = self._stored.get((key[0], _digest(key[1])))
        if stored is None or stored[0] != (abstract_sentences(key[1]) or [key[1]]):
            return None
        return stored

    def latest(self, paper_id: str, containing: str = "") -> tuple[list[str], np.ndarray] | None:
        """The paper's sentences and vectors as last cached, without reading the index; None when the abstract
        cached then does not contain ``containing`` (a passage of the stored paper: it was edited since)."""
        with self._lock:
            key = self._latest.get(paper_id)
            if key is None or containing[:80] not in key[1]:
                return None
            return self._cache.get(key)

    def get(self, papers: list[tuple[str, str]]) -> list[tuple[list[str], np.ndarray]]:
        """For each (paper_id, abstract): its sentences and their vectors; the missing ones in one embed call."""
        with self._lock:
            found = {key: self._cache.get(key) for key in papers}
        missing = [key for key, value in found.items() if value is None]
        if missing and self._files:
            self._read_files()
            with self._lock:
                for key in missing:
                    found[key] = self._from_files(key)
                    if found[key] is not None:
                        self._cache[key] = found[key]  # type: ignore[assignment]
                        self._latest[key[0]] = key
            missing = [key for key in missing if found[key] is None]
        if missing:
            split = [abstract_sentences(abstract) or [abstract] for _, abstract in missing]
            vectors = self.embedder.embed([s for sentences in split for s in sentences])
            at = 0
            for key, sentences in zip(missing, split, strict=True):
                found[key] = (sentences, vectors[at:at + len(sentences)])
                at += len(sentences)
            with self._lock:
                for key in missing:
                    self._cache[key] = found[key]  # type: ignore[assignment]
                    self._latest[key[0]] = key
                self._embedded_since_save = True
        with self._lock:
            while len(self._cache) > self.max_papers:
                (paper_id, _), _ = self._cache.popitem(last=False)
                if self._latest.get(paper_id) not in self._cache:
                    self._latest.pop(paper_id, None)
            for key in papers:
                if key in self._cache:
                    self._cache.move_to_end(key)
        return [found[key] for key in papers]  # type: ignore[misc]


def select_evidence(query: str, papers: list[tuple[Hit, str]], sparse: SparseEncoder, vectors: SentenceVectors,
                    per_paper: int = 3) -> list[Evidence]:
    """For each (hit, title + abstract), its ``per_paper`` best sentences; numbered in the given order.

    A sentence's score is the mean of the share of the query's BM25 terms it holds and its embedding cosine
    with the query.
    """
    terms = set(sparse.embed_query(query).indices)
    query_vector = vectors.embedder.embed([query])[0]
    split = vectors.get([(hit.paper_id, abstract_of(hit, text)) for hit, text in papers])
    out = []
    for n, ((hit, text), (sentences, matrix)) in enumerate(zip(papers, split, strict=True), 1):
        cosines = matrix @ query_vector
        scores = []
        for i, sentence in enumerate(sentences):
            overlap = len(terms & set(sparse.embed_document(sentence).indices)) / len(terms) if terms else 0.0
            scores.append((0.5 * overlap + 0.5 * float(cosines[i]), i))
        best = sorted(scores, reverse=True)[:per_paper]
        out.append(Evidence(n=n, hit=hit, text=text, sentences=[sentences[i] for _, i in sorted(best, key=_index)],
                            score=best[0][0] if best else 0.0, best=sentences[best[0][1]] if best else "",
                            ranked=[sentences[i] for _, i in best]))
    return out


def _index(pair: tuple[float, int]) -> int:
    return pair[1]


def abstract_of(hit: Hit, text: str) -> str:
    """The abstract part of "title. abstract" (the title is shown beside it already)."""
    prefix = f"{hit.title}. "
    return text[len(prefix):] if text.startswith(prefix) else text


def choose_papers(evidence: list[Evidence], listing: bool, list_most: int, list_close: float = 0.7,
                  reader: list[float] | None = None, reader_margin: float = 0.12) -> list[Evidence]:
    """The papers the answer states something about: the first found, and for a listing ("which papers ...")
    also those whose best evidence sentence scores at least ``list_close`` times the first's and, given the
    paper reader's cosines (``reader``, one per evidence item), whose cosine is within ``reader_margin`` of
    the first's (``list_most`` at most). A paper without a stored reader vector is not held back by it.

    Retrieval order picks the first (recall@1 0.978 on the dev set). Measured with bench/choose_papers.py on
    the dev set: letting papers whose evidence scores within 0.85 (1.01) of the first's join a one-paper
    answer lowered its citation precision from 0.978 to 0.868 (0.966); for list questions 0.8 gave precision
    0.815 and recall 0.680 of the gold papers (0.6: 0.721 and 0.765). On the user set's list and filter
    questions (bench/listing.py, tune split) reading 10 papers and 0.7 gave the best F1: precision 0.779,
    recall 0.747 (0.8: 0.787 / 0.653). With the reader (bench/listing.py --reader-margin, README), close 0.6
    and margin 0.12: user tune P / R 0.794 / 0.740 -> 0.836 / 0.750, dev multi 0.674 / 0.811 -> 0.787 / 0.801.
    """
    if not evidence:
        return []
    if not listing:
        return evidence[:1]
    first = evidence[0]

    def near(i: int) -> bool:
        if reader is None or not (np.isfinite(reader[0]) and np.isfinite(reader[i])):
            return True
        return reader[i] >= reader[0] - reader_margin

    return [first, *[item for i, item in enumerate(evidence[1:], 1)
                     if item.score >= list_close * first.score and near(i)]][:list_most]


def split_listing(evidence: list[Evidence], chosen: list[Evidence], reader: list[float] | None,
                  sure_margin: float) -> tuple[list[Evidence], list[Evidence]]:
    """A listing's chosen papers in two: those it states and cites (the first, and those within ``sure_margin`` of
    the first paper's reader cosine; ``reader`` is aligned with ``evidence``) and the nearby ones it names uncited,
    as papers found that may be on the question: ``choose_papers`` lets through papers up to its wider margin,
    about a third of them neighbours outside the gold set. Without reader cosines every chosen paper is stated.

    On the dev set's 26 multi-paper questions and the user set's 65 list and filter questions (bench/listing.py
    --sure-margin, bench/README.md): cited precision dev 0.778 -> 0.892, user tune 0.685 -> 0.749, held out
    0.792 -> 0.845 at 0.06, while every paper the wider margin lets through is still named. Those between the
    margins were right about half the time (dev 24 of 42, users' tune 23 of 47).
    """
    if reader is None or len(chosen) < 2 or not np.isfinite(reader[0]):
        return chosen, []
    cosine = {id(ev): score for ev, score in zip(evidence, reader, strict=True)}
    sure, nearby = [chosen[0]], []
    for ev in chosen[1:]:
        close = not np.isfinite(cosine[id(ev)]) or cosine[id(ev)] >= reader[0] - sure_margin
        (sure if close else nearby).append(ev)
    return sure, nearby


_FIGURE = re.compile(r"(?<![\w.])\d[\d,.]*\d(?:\s?[x×%])?|(?<![\w.])\d(?:\s?[x×%])?")


def _figures(text: str) -> set[str]:
    return {re.sub(r"[,\s]", "", f).replace("×", "x").rstrip(".") for f in _FIGURE.findall(text)}


def left_out(statement: str, sentences: list[str], sparse: SparseEncoder, most: int,
             figures_only: bool = False) -> list[str]:
    """Evidence sentences holding what the model's statement left out, to quote after it (abstract order).

    A sentence qualifies with a figure the statement lacks ("3.25x", "175 billion"), or, unless
    ``figures_only``, with half or more of its BM25 terms absent from the statement. Those with the most
    missing figures, then the most new terms, are taken, ``most`` at most. The 1.5B model keeps few of the
    abstract's figures and names: on 80 dev cases its answers held 0.443 of the expected facts, 0.534 with
    these quotes (evals/reports/dev_embedded_llm_80.md); quoting all the evidence, without the model, 0.621.
    """
    said_terms, said_figures = set(sparse.embed_query(statement).indices), _figures(statement)
    ranked = []
    for order, sentence in enumerate(sentences):
        figures = _figures(sentence) - said_figures
        terms = set(sparse.embed_query(sentence).indices)
        new = len(terms - said_terms) / max(len(terms), 1)
        if figures or (not figures_only and new >= 0.5):
            ranked.append((-len(figures), -new, order, sentence))
    picked = sorted(ranked)[:most]
    return [sentence for *_, sentence in sorted(picked, key=lambda item: item[2])]


ONE_PAPER_QUOTES = 3
EXTRACTIVE_FIGURES = 2

# The sentence naming what the paper contributes ("In this paper, we ... propose GPTQ, a new ...").
_CLAIM = re.compile(r"\b(?:we|this (?:paper|work|study))\b[^.;]{0,40}?\b(?:propose|present|introduce|develop|devise|"
                    r"design|call|name|dub)[sd]?\b", re.IGNORECASE)


def _names_new(sentence: str, said: str) -> bool:
    """Whether the sentence names something (TiTok, IC-LoRA, BCT) that ``said`` does not."""
    return bool({name.casefold() for name in names_of(sentence)} - {name.casefold() for name in names_of(said)})


def claim(statement: str, sentences: list[str], sparse: SparseEncoder) -> list[str]:
    """The first of ``sentences`` saying what the paper contributes, unless ``statement`` already holds half or
    more of its BM25 terms: the names of a paper's method ("Context-Sharing Transformer", "GPT-Talker") sit
    there, and a question in its own words rarely selects it."""
    said = set(sparse.embed_query(statement).indices)
    for sentence in sentences:
        if _CLAIM.search(sentence):
            terms = set(sparse.embed_query(sentence).indices)
            return [sentence] if len(terms - said) >= 0.5 * max(len(terms), 1) else []
    return []


def to_quote(statement: str, evidence: Evidence, sparse: SparseEncoder, listing: bool) -> list[str]:
    """The paper's own sentences to quote after a supported statement about it (abstract order).

    A list entry gets at most one sentence: an evidence sentence holding a figure the statement lacks, else
    the paper's contribution sentence when it names something (its method: TiTok, VA-VAE) that neither the
    statement nor the title does (on the 20 list answers of an 80-case dev run: 15 entries, 4 more of the
    76 expected facts; unnamed contributions would make every entry twice as long for no more). A one-paper
    answer gets up to ``ONE_PAPER_QUOTES``: sentences from anywhere in the abstract holding figures the
    statement lacks (the results a reader asks for sit in sentences the question's words do not pick), then
    the sentence stating the paper's contribution (`claim`), then evidence sentences mostly new to it. On the
    27 answered one-paper dev cases of an 80-case run, with the model's statements as they were: 0.556 of
    the expected facts with 2 quotes from the 3 evidence sentences, 0.667 with figures from the whole
    abstract, 0.728 with 3 such quotes (p50 answer 104 -> 113 words); every expected fact is somewhere in
    its paper's abstract. Then run anew on the 80 cases, with the model writing: fact coverage 0.523 ->
    0.610, one-paper answers p50 95 -> 104 words (evals/reports/dev_embedded_llm_80.md).
    """
    whole = abstract_sentences(abstract_of(evidence.hit, evidence.text))
    if listing:
        figure = left_out(statement, evidence.sentences, sparse, most=1, figures_only=True)
        said = f"{evidence.hit.title} {statement}"
        return figure or [s for s in claim(statement, whole, sparse) if _names_new(s, said)]
    picked = _results_and_claim(statement, whole, sparse, ONE_PAPER_QUOTES)
    picked += [s for s in left_out(statement, evidence.sentences, sparse, most=ONE_PAPER_QUOTES) if s not in picked]
    return _in_order(picked[:ONE_PAPER_QUOTES], whole)


def _results_and_claim(said: str, whole: list[str], sparse: SparseEncoder, most: int) -> list[str]:
    """The abstract's sentences holding figures ``said`` lacks (``most`` at most), then its contribution (`claim`)."""
    picked = left_out(said, whole, sparse, most=most, figures_only=True)
    return picked + [s for s in claim(said, whole, sparse) if s not in picked]


def _in_order(sentences: list[str], whole: list[str]) -> list[str]:
    """``sentences`` in the order of the abstract ``whole`` (one not in it last)."""
    order = {sentence: i for i, sentence in enumerate(whole)}
    return sorted(sentences, key=lambda sentence: order.get(sentence, len(whole)))


def paper_prompt(template: str, question: str, title: str, abstract: str) -> str:
    """One paper's prompt: its title and whole abstract, then the question.

    The question comes last so that everything before it is the same for every question on that paper: the
    embedded model loads that part's saved state instead of reading it (assistant/answer/paper_states.py), and
    then reads only the question before its first token. The whole abstract, not only the selected sentences:
    the model sees every fact (bench/README.md, "per-paper state").
    """
    return template.format(question=question, title=title, abstract=abstract)


def list_entry_prompt(template: str, question: str, evidence: Evidence) -> str:
    """A listed paper's prompt: the question, then that paper's 3 evidence sentences (in abstract order).

    Not the whole abstract before the question: asked "Which papers …?" after one whole abstract, the embedded
    model declined every listed paper (15 of 15 on six dev listings, three system prompt wordings) where it
    wrote a statement from the evidence after the question (bench/README.md, "per-paper state")."""
    return template.format(question=question, title=evidence.hit.title,
                           evidence="\n".join(f"- {s}" for s in evidence.sentences))


def statement(reply: str, n: int, max_sentences: int = 2) -> str | None:
    """The model's reply about source ``n`` as the answer's sentences with the system's marker, None if declined.

    The model's own markers are dropped (the marker is ours to set), an unfinished last sentence (the token
    limit hit) is cut, and at most ``max_sentences`` are kept.
    """
    text = MARKER.sub("", reply).replace("**", "").strip()
    text = re.sub(r"^(?:answer|statement)\s*:\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.split()))  # "3 bits [4]." -> "3 bits."
    if not text or DECLINED in text.upper() or _declines(text):
        return None
    sentences = split_answer(text)[:max_sentences]
    if len(sentences) > 1 and sentences[-1][-1:] not in ".!?":
        sentences = sentences[:-1]
    return " ".join(with_marker(s if s[-1:] in ".!?" else s + ".", n) for s in sentences)


def unusable_statement(reply: str) -> str | None:
    """Why a finished reply about one paper cannot be used (empty, or not words), else None."""
    if not reply.strip():
        return "the model returned an empty reply"
    if DECLINED not in reply.upper() and len(re.findall(r"[^\W\d_]{2,}", reply)) < 3:
        return "the model's reply is not a sentence"
    return None


_DECLINE = re.compile(r"\b(?:does not|doesn't|do not|did not)\s+(?:\w+ly\s+)?"  # "does not directly answer"
                      r"(?:answer|mention|address|provide|say|discuss|cover)"  # "does not cover the question"
                      r"|\bno (?:information|mention|evidence)\b|\bnot (?:mentioned|covered|addressed)\b",
                      re.IGNORECASE)


def _declines(text: str) -> bool:
    """A reply that says the evidence does not answer, in other words than the ones asked for."""
    return bool(_DECLINE.search(text))


def held_back(text: str) -> bool:
    """Whether streamed text might still turn into the decline word, so it is not shown yet."""
    head = text.lstrip().upper()
    return len(head) < len(DECLINED) and DECLINED.startswith(head)


def extractive_text(chosen: list[Evidence], heading: str | None = None, sparse: SparseEncoder | None = None) -> str:
    """A cited answer without a model: each chosen paper and its evidence sentences, under ``heading``.

    With ``sparse``, a one-paper answer also quotes the abstract's sentences holding figures its evidence
    lacks and its contribution (`one_paper_quote`), as a model's statement about one paper is followed by them
    (`to_quote`).
    """
    lines = [heading or "The most relevant papers in the collection:"]
    for ev in chosen:
        sentences = one_paper_quote(ev, sparse) if sparse is not None and len(chosen) == 1 else ev.sentences
        lines.append(f"- {ev.hit.title} [{ev.n}]: {' '.join(sentences)}")
    return "\n".join(lines)


def one_paper_quote(evidence: Evidence, sparse: SparseEncoder, most: int = EXTRACTIVE_FIGURES) -> list[str]:
    """What a one-paper answer quotes when no statement is written: its evidence sentences, up to ``most``
    others of its abstract holding figures they lack and the sentence stating its contribution (`claim`), in
    abstract order: the results and the method's name a reader asks about sit in sentences the question's
    words do not select. On 80 dev cases, the 17 answers
    quoted because the model declined a close match, and every answer without a model, held fewer of the
    expected facts than the model's statements with their quotes; `--model none` fact coverage 0.607 -> 0.721
    with the figures, 0.743 with the claim too (evals/reports/dev_embedded_llm_80.md)."""
    whole = abstract_sentences(abstract_of(evidence.hit, evidence.text))
    extra = _results_and_claim(" ".join(evidence.sentences), whole, sparse, most)
    return _in_order(evidence.sentences + [s for s in extra if s not in evidence.sentences], whole)
