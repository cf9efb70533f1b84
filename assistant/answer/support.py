"""Each answer sentence checked against the abstracts it cites: numbers and names must be there.

The embedded 1.5B model writes fluent sentences that cite a real paper which says nothing of the kind, and
invents figures ("a BLEU score of 28.4 [1]"). A cited sentence whose numbers or names (ERA5, GPT-4, ResNet)
do not occur in any paper it cites is removed.
A sentence with facts but no marker is attributed by the system to a source that holds them. For every
kept sentence the cited abstract's sentence sharing the most BM25 terms with it is recorded as its
evidence (shown highlighted in the citation panel).

The model also restates the question as the paper's claim ("The paper discusses federated learning with
differential privacy on mobile phones [2]" about a paper on occupations). Given the question, a sentence
that repeats three or more of its terms the cited abstract lacks, while taking at most one term of its
own from the abstract, says nothing the abstract does and is unsupported too (`restated_words`).
"""

from __future__ import annotations

import functools
import re

from assistant.answer.abstain import names_of
from assistant.answer.citations import MARKER, marker_numbers
from assistant.core.models import SentenceCheck
from assistant.index.sparse import SparseEncoder

_SENTENCE_END = re.compile(r"(?<=[.!?])(?:\s*\[[\d,;\s–-]+\])*\s+(?=[A-Z0-9\[(])")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_ABSTRACT_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def split_answer(text: str) -> list[str]:
    """Answer sentences, each keeping the markers that follow its full stop ("… bits. [1] Next")."""
    return [part for part in _split_keeping_markers(text) if part.strip()]


def check_sentences(text: str, sources: dict[int, str], sparse: SparseEncoder,
                    question: str = "", titles: dict[int, str] | None = None) -> list[SentenceCheck]:
    """One verdict per sentence; ``sources`` maps a marker number to its paper's title and abstract, and
    ``question`` (what the model was asked) lets a restatement of it be told from a claim of the abstract
    (naming the paper by its ``titles`` entry is no claim about it).

    A sentence stating facts without a marker (models often cite once per paragraph) is attributed by the
    system: to the source of the sentence before it, else after it, else to any one source holding all its
    facts; the marker is then written into it. Otherwise it is unsupported.
    """
    sentences = split_answer(text)
    cited = [_cited(sentence, sources) for sentence in sentences]
    checks = []
    for i, sentence in enumerate(sentences):
        if cited[i] or not _facts(MARKER.sub("", sentence)):
            checks.append(_check(sentence, cited[i], sources, sparse, question, titles))
            continue
        neighbours = [n for j in (i - 1, i + 1) if 0 <= j < len(sentences) for n in cited[j]]
        owner = next((n for n in [*neighbours, *sources]
                      if _check(sentence, [n], sources, sparse, question, titles).supported), None)
        if owner is None:
            checks.append(SentenceCheck(text=sentence, cited=[], supported=False,
                                        reason=f"states {', '.join(_facts(sentence))} that no source holds"))
        else:
            checks.append(_check(with_marker(sentence, owner), [owner], sources, sparse, question, titles))
    return checks


def _cited(sentence: str, sources: dict[int, str]) -> list[int]:
    return sorted({n for m in MARKER.finditer(sentence) for n in marker_numbers(m.group(1)) if n in sources})


def with_marker(sentence: str, n: int) -> str:
    """The sentence with [n] before its final punctuation ("... 4 bits [1].")."""
    body = sentence.rstrip()
    return f"{body[:-1]} [{n}]{body[-1]}" if body[-1:] in ".!?" else f"{body} [{n}]"


def quoted(sentence: str, n: int) -> SentenceCheck:
    """An abstract sentence of source n quoted in the answer, marked: supported by being its own evidence."""
    return SentenceCheck(text=with_marker(f"“{sentence}”", n), cited=[n], supported=True, evidence=sentence)


def _split_keeping_markers(text: str) -> list[str]:
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[start:match.start()] + match.group(0).rstrip())
        start = match.end()
    pieces.append(text[start:])
    return [p.strip() for p in pieces]


def _check(sentence: str, cited: list[int], sources: dict[int, str], sparse: SparseEncoder,
           question: str = "", titles: dict[int, str] | None = None) -> SentenceCheck:
    claim = MARKER.sub("", sentence)
    facts = _facts(claim)
    if not cited:  # no facts (the caller attributes sentences that have some)
        return SentenceCheck(text=sentence, cited=[], supported=True)
    cited_text = " ".join(sources[n] for n in cited)
    absent = [fact for fact in facts if not _occurs(fact, cited_text)]
    if absent:
        return SentenceCheck(text=sentence, cited=cited, supported=False,
                             reason=f"{', '.join(absent)} not in the cited abstract")
    title = " ".join((titles or {}).get(n, "") for n in cited)
    if title and names_only(claim, title, sparse):
        return SentenceCheck(text=sentence, cited=cited, supported=False, reason=NAMES_ONLY)
    if question and (echoed := restated_words(claim, cited_text, question, sparse, title)):
        return SentenceCheck(text=sentence, cited=cited, supported=False, reason=RESTATED.format(
            words=", ".join(echoed)))
    return SentenceCheck(text=sentence, cited=cited, supported=True, evidence=_evidence(claim, cited_text, sparse))


RESTATED_START = "restates the question"
RESTATED = RESTATED_START + " ({words}) with nothing from the cited abstract"
NAMES_ONLY = "only names the paper, with nothing from its abstract"
SAYS_NOTHING = (RESTATED_START, NAMES_ONLY)  # the reasons of a sentence that makes no claim of the paper's own
# Words that say what kind of statement it is, not what the paper does: never evidence either way.
_FRAMING = ("paper papers collection propose proposes proposed discuss discusses study studies work works use uses "
            "using used method methods approach approaches introduce introduces present presents show shows "
            "titled called named")


def restated_words(claim: str, abstract: str, question: str, sparse: SparseEncoder, title: str = "") -> list[str]:
    """The question's words a claim repeats that the abstract lacks, when it repeats at least three of them,
    takes at most one term of its own from the abstract, and repeats fewer than twice as many of the question's
    words that the abstract does say (else [], the claim says something of the paper: "Yes, GPTQ is a one-shot
    weight quantization method that can shrink … 175-billion-parameter … 3 or 4 bits …" answers "Is there a
    one-shot way to shrink …?" in words 14 of which its abstract holds, 4 not; dev s001 had it quoted instead).
    The paper's ``title`` words are not its own terms: 'The paper "In-Context Learning through the Bayesian
    Prism" discusses federated learning with differential privacy …' says nothing of that paper.

    Measured on the embedded model's answers to 80 dev questions: every claim flagged this way was the
    question's wording put on a paper (both answers to an unanswerable federated-learning question, four
    list entries that only said "proposes new image tokenizers … better or cheaper").
    """
    terms = set(sparse.embed_query(claim).indices) - _framing_terms(sparse)
    in_abstract = set(sparse.embed_document(abstract).indices)
    asked = set(sparse.embed_query(question).indices)
    echoed = (terms - in_abstract) & asked
    named = set(sparse.embed_query(title).indices) if title else set()
    confirmed = (terms & in_abstract & asked) - named  # the question's words the abstract does say
    if len(echoed) < 3 or len((terms & in_abstract) - asked - named) > 1 or len(confirmed) >= 2 * len(echoed):
        return []
    words = dict.fromkeys(w for w in re.findall(r"[\w-]{3,}", claim) if set(sparse.embed_query(w).indices) & echoed)
    return list(words)[:6]


def names_only(claim: str, title: str, sparse: SparseEncoder) -> bool:
    """Whether a claim is the paper's whole title and nothing more ("KV Prediction for Improved Time to First
    Token [1]." was the embedded model's whole statement for "Which paper introduced speculative decoding …?",
    dev u013): written out in full, with no word of its own beyond the title's and framing words ("The paper
    is titled …"). A claim in the title's words that is not the title ("SliceGPT compresses large language
    models by deleting rows and columns") says what the paper does, and stands."""
    if _squash(title) not in _squash(claim):
        return False
    terms = set(sparse.embed_query(claim).indices) - _framing_terms(sparse)
    return terms <= set(sparse.embed_query(title).indices)


@functools.lru_cache(maxsize=4)
def _framing_terms(sparse: SparseEncoder) -> frozenset[int]:
    """The framing words' BM25 terms, encoded once per encoder rather than once per checked sentence."""
    return frozenset(sparse.embed_query(_FRAMING).indices)


def _facts(claim: str) -> list[str]:
    """The checkable facts of a claim: its numbers and its names."""
    return list(dict.fromkeys(_NUMBER.findall(claim) + names_of(claim)))


def _occurs(fact: str, text: str) -> bool:
    if _NUMBER.fullmatch(fact):  # 1,000 and 1000 are one number; 3.5 must not match 13.5 ("530B" is a name)
        digits = fact.replace(",", "")
        return any(found.replace(",", "") == digits for found in _NUMBER.findall(text))
    key, squashed = _squash(fact), _squash(text)  # LLaMA-2 = Llama 2
    return key in squashed or key.removesuffix("s") in squashed


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


def _evidence(claim: str, cited_text: str, sparse: SparseEncoder) -> str | None:
    terms = set(sparse.embed_query(claim).indices)
    best, best_score = None, 0
    for sentence in _ABSTRACT_SENTENCE.split(cited_text):
        score = len(terms & set(sparse.embed_document(sentence).indices))
        if score > best_score:
            best, best_score = sentence.strip(), score
    return best
