"""Kinds of paper said in words: "Which papers are surveys?", "Any papers that release a new benchmark?".

A kind is what a paper is, not what it is about, so neither the topic search nor the embedder finds it: the
dense reading of "surveys" is close to papers *about* surveys of workers, and the word says nothing of a
survey on transformers. A question asking for a kind gets a listing of the found papers that declare that
kind in their own title or abstract ("A Survey of ...", "This survey ...", "we introduce a benchmark").
The check reads each candidate's words; it is not an index filter, so it narrows what the search found
(the topic's papers, or the papers matching the kind's word when there is no other topic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["KINDS", "Kind", "declares", "kind_asked"]

_B, _E = r"(?<![\w-])", r"(?![\w-])"
_INTRODUCE = (r"(?:introduce[sd]?|introducing|release[sd]?|releasing|propose[sd]?|proposing|present(?:s|ed|ing)?"
              r"|build(?:s|ing)?|built|construct(?:s|ed|ing)?|create[sd]?|creating|contribute[sd]?|curate[sd]?"
              r"|collect(?:s|ed)?|develop(?:s|ed)?|new)")
_DATASET = r"(?:benchmarks?|datasets?|corpus|corpora|test[- ]suites?)"


@dataclass(frozen=True)
class Kind:
    """One kind of paper: how a question asks for it and how a paper declares it."""

    name: str
    label: str  # shown with the filters: "surveys only"
    asked: tuple[re.Pattern[str], ...]
    title: re.Pattern[str]
    abstract: re.Pattern[str]
    words: re.Pattern[str]  # the kind's own words: what is left once they go is the question's topic


def _any(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


_NOT_PAPER_SURVEY = (r"(?!\s+(?:data|respondents?|responses?|participants?|questions?|results?|show|shows|showed"
                     r"|found|find|say|says|suggest)\b)")
# "a review of X", "an overview on X", "any survey?": the singular word names a work only when what follows
# is its subject or the end; "a review step", "a survey question" use it as a modifier, "an overview of
# their method" is a part of a paper, and "an overview of the Aug 20 feed" the feed's listing.
_A_WORK = (r"(?=\s*(?:[?.!,;:]|$)|\s+(?:of|on|about|for|in|into|covering|that|which|papers?|articles?)\b)"
           r"(?!\s+of\s+(?:their|its|our|the|this|each)\s+(?:own\s+)?(?:method|approach|model|framework|pipeline"
           r"|system|architecture|results?|work|contributions?)\b)"
           # "an overview of the Aug 20 feed" asks what the feed holds, not for surveys
           r"(?!\s+(?:of|on)\s+(?:the\s+|this\s+|last\s+|today'?s\s+)?(?:[\w'-]+\s+){0,3}?(?:feeds?|collection|corpus"
           r"|week)\b)")
# "peer reviews", "movie reviews", "household surveys": the word before makes the kind a topic.
_TOPIC_BEFORE = set("""peer code user users product customer human online movie restaurant hotel app amazon yelp
household panel population census opinion national labor labour worker workers patient""".split())

KINDS: tuple[Kind, ...] = (
    Kind(
        name="survey", label="surveys only",
        asked=_any(
            rf"(?:(?P<before>[\w-]+)\s+)?{_B}(?:surveys|reviews|overviews){_E}{_NOT_PAPER_SURVEY}",
            rf"{_B}(?:any|a|an|some)\s+(?:(?:good|recent|comprehensive|systematic|literature|broad|general)\s+)?"
            rf"(?:survey|review|overview){_E}{_NOT_PAPER_SURVEY}{_A_WORK}",
            rf"{_B}(?:survey|review|overview)\s+(?:papers?|articles?){_E}",
            # the verb: "Which papers review diffusion models?", not "... survey 2,000 workers" (a topic's data)
            rf"{_B}(?:papers?|works?|articles?)\s+(?:that\s+|which\s+)?(?:survey|review){_E}(?!\s+(?:\d[\d,]*\s+)?"
            rf"(?:code|users?|participants?|people|workers?|respondents?|customers?|patients?|households?|clinicians?"
            rf"|doctors?|experts?|students?|developers?|practitioners?)\b)",
        ),
        title=re.compile(rf"{_B}(?:survey|review|overview){_E}", re.IGNORECASE),
        abstract=re.compile(
            rf"{_B}(?:this|our|the\s+present|comprehensive|systematic|extensive|thorough)\s+(?:[\w-]+\s+){{0,2}}?"
            rf"(?:survey|review|overview){_E}|{_B}we\s+(?:comprehensively\s+|systematically\s+)?(?:survey|review)"
            rf"{_E}|{_B}survey\s+paper{_E}", re.IGNORECASE),
        words=re.compile(rf"{_B}(?:any|a|an|some|literature|survey|review|overview)s?{_E}", re.IGNORECASE),
    ),
    Kind(
        name="benchmark", label="new benchmarks or datasets only",
        asked=_any(
            rf"{_B}{_INTRODUCE}\s+(?:(?:a|an|the|their|its|own|any)\s+)?(?:new\s+)?(?:[\w-]+\s+){{0,2}}?{_DATASET}{_E}",
            rf"{_B}(?:benchmark|dataset)\s+papers?{_E}",
        ),
        title=re.compile(rf"{_B}benchmark", re.IGNORECASE),
        abstract=re.compile(
            rf"{_B}(?:we|this\s+paper|this\s+work)\s+(?:[\w-]+\s+){{0,2}}?{_INTRODUCE}\s+(?:[\w-]+\s+){{0,6}}?"
            rf"{_DATASET}{_E}", re.IGNORECASE),
        words=re.compile(rf"{_B}(?:{_INTRODUCE}|any|a|an|the|their|its|own|{_DATASET}){_E}", re.IGNORECASE),
    ),
)


def kind_asked(question: str) -> Kind | None:
    """The kind of paper a question asks for ("Which papers are surveys?"), or None.

    Only wordings that ask for papers of a kind count: "the survey on X" names one paper, and "survey data"
    or "peer reviews" are topics.
    """
    for kind in KINDS:
        for pattern in kind.asked:
            for match in pattern.finditer(question):
                if (match.groupdict().get("before") or "").lower() not in _TOPIC_BEFORE:
                    return kind
    return None


def declares(kind: Kind, title: str, abstract: str) -> bool:
    """Whether a paper says it is of that kind, in its title or in its abstract's own words."""
    return bool(kind.title.search(title) or kind.abstract.search(abstract))
