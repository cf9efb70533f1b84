"""Filters said in words: "in the Mar 13 feed", "since mid-March", "with code on GitHub".

A user rarely opens a settings panel; they type the restriction into the question. `read_filters` finds
those phrases, turns them into a `SearchFilter` over the collection's own feed days, and returns the
question without them (so "Mar 13" and "feed" do not steer the topic search), plus each filter in plain
words for the surfaces to show. What it does not recognise stays in the question, untouched.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace

from assistant.answer.kinds import Kind, kind_asked
from assistant.core.dates import parse_feed_date
from assistant.index.base import SearchFilter

__all__ = ["Reading", "asking_part", "combine", "day_label", "describe", "has_topic", "read_filters", "search_text"]

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
# A calendar day: 'Mar 13', 'March 13th, 2024', '13 March', 'the 13th of March', '2024-03-13'.
_DAY = (rf"(?:{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
        rf"|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
        r"|\d{4}-\d{1,2}-\d{1,2})")
_FEED = r"(?:feeds?|digests?|dumps?|batch(?:es)?|drops?|daily papers|list|issues?|releases?)"
_PART = r"(?:early|mid|middle of|late|end of|beginning of|start of)"
_B = r"(?<![\w-])"  # phrase start: not inside a word
_E = r"(?![\w-])"

_DAYS_LIST = rf"{_DAY}(?:\s*(?:,|and|or|&)\s*(?:the\s+)?{_DAY})*"
_COUNT = r"(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)"
_NUMBERS = {w: n for n, w in enumerate("zero one two three four five six seven eight nine ten".split())}
# Each rule: (pattern, kind). Tried in order; a span once used is not read again.
_RULES: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.IGNORECASE), kind) for p, kind in [
    (rf"{_B}(?:(?:in|on|from)\s+)?both\s+(?:the\s+)?(?P<a>{_DAY})\s*(?:and|&)\s*(?:the\s+)?(?P<b>{_DAY}){_E}"
     rf"(?:\s+{_FEED})?", "both"),
    (rf"{_B}(?:(?:in|on|across)\s+)?(?:every|each|all)\s+(?:of\s+)?(?:the\s+)?(?P<n>{_COUNT}\s+)?{_FEED}{_E}",
     "every"),
    (rf"{_B}(?:(?:in|on|across)\s+)?at\s+least\s+(?P<n>{_COUNT})\s+(?:different\s+|separate\s+)?{_FEED}{_E}",
     "at_least"),
    (rf"{_B}(?:(?:in|on|across)\s+)?(?:more\s+than|over)\s+(?P<n>{_COUNT})\s+(?:different\s+)?{_FEED}{_E}",
     "more_than"),
    (rf"{_B}(?:(?:in|on|across)\s+)?(?:multiple|several|many|two\s+or\s+more|different|another|other"
     rf"|a\s+second|more\s+than\s+one)\s+{_FEED}{_E}", "repeated"),
    (rf"{_B}(?:kept\s+coming\s+back|(?:showed|turned)\s+up\s+(?:again|repeatedly|more\s+than\s+once)"
     rf"|appeared\s+(?:again|repeatedly|more\s+than\s+once)){_E}", "repeated"),
    (rf"{_B}between\s+(?P<a>{_DAY})\s+and\s+(?P<b>{_DAY}){_E}(?:\s+{_FEED})?", "between"),
    (rf"{_B}(?:from\s+)?(?:the\s+)?(?P<a>{_DAY})\s*(?:to|through|until|till|-|–)\s*(?P<b>{_DAY}){_E}"
     rf"(?:\s+{_FEED})?", "between"),
    (rf"{_B}(?:(?:in|from|on|of|for)\s+)?(?:the\s+|that\s+)?(?P<a>{_DAYS_LIST})(?:'s)?\s+{_FEED}{_E}", "named"),
    (rf"{_B}(?:(?:in|from|on|of)\s+)?(?:the\s+)?{_FEED}\s+(?:of|from|for|dated|on)\s+(?P<a>{_DAYS_LIST}){_E}",
     "named"),
    (rf"{_B}(?:(?:from|since|starting(?:\s+(?:from|on))?)\s+)?(?:the\s+)?(?P<a>{_DAY})"
     rf"\s+(?:onwards?|on(?=\s*(?:[?.!,;]|$))|and\s+later|or\s+later){_E}", "since"),
    (rf"{_B}(?:since|starting(?:\s+(?:from|on))?)\s+(?:the\s+)?(?P<a>{_DAY}){_E}", "since"),
    (rf"{_B}after\s+(?:the\s+)?(?P<a>{_DAY}){_E}", "after"),
    (rf"{_B}(?:until|till|up\s+to|through|by)\s+(?:the\s+)?(?P<a>{_DAY}){_E}", "until"),
    (rf"{_B}(?:before|prior\s+to)\s+(?:the\s+)?(?P<a>{_DAY}){_E}", "before"),
    (rf"{_B}(?:in|from|on|of|dated)\s+(?:the\s+)?(?P<a>{_DAYS_LIST}){_E}", "named"),
    (rf"{_B}(?P<op>since|after|from|before|until|till|in|during|from)\s+(?:the\s+)?(?:(?P<part>{_PART})[- ]?\s*)?"
     rf"(?P<month>{_MONTH}){_E}(?:\s+{_FEED})?", "month"),
    (rf"{_B}(?:in\s+|from\s+)?(?:the\s+)?(?P<which>latest|newest|most\s+recent|last|current|today'?s|this\s+week'?s"
     rf"|first|earliest|oldest|previous|yesterday'?s)\s+{_FEED}{_E}", "relative"),
    (rf"{_B}(?:from\s+|in\s+)?(?:the\s+)?(?P<span>(?:this|past|last)\s+week|last\s+(?:7|seven)\s+days){_E}", "week"),
    (rf"{_B}today'?s\s+papers{_E}", "latest_papers"),
]]
_CODE_RULES = [re.compile(p, re.IGNORECASE) for p in [
    r"(?<![\w-])(?:with|having|have|has|(?:that|which)\s+(?:have|has|come\s+with)|links?|linking|ships?|shipped"
    r"|releases?|released|provides?|shares?|and|plus|including|come\s+with)\s+"
    r"(?:(?:the|their|its|a|an|some|public|publicly\s+available|open[- ]source|"
    r"released|available|runnable)\s+)*(?:source\s+)?(?:code(?:\s*(?:bases?|repos?))?|implementations?|repos?"
    r"|repositories|github\s+(?:repos?|repositories|links?|code))(?!\s*(?:generation|completion|models?|llms?|"
    r"synthesis|search|review|editing|understanding|reasoning|data|snippets?|tasks?|benchmarks?|execution|repair|"
    r"agents?|language|intelligence|comments?))(?:\s+(?:available|released|online|public))?"
    r"(?:\s+(?:on|at|in)\s+github)?(?![\w-])",
    r"(?<![\w-])(?:whose|where\s+the|where)\s+(?:source\s+)?code\s+(?:is|was)\s+(?:publicly\s+)?"
    r"(?:available|released|public|open[- ]sourced?|on\s+github)(?![\w-])",
    r"(?<![\w-])(?:code|implementations?)\s+(?:is\s+|are\s+)?(?:publicly\s+)?(?:available|released|open[- ]sourced?)"
    r"(?:\s+(?:on|at)\s+github)?(?![\w-])",
    r"(?<![\w-])(?:(?:that\s+are|which\s+are)\s+)?(?:open[- ]sourced|on\s+github)(?![\w-])",
    r"(?<![\w-])(?:i|we)\s+can\s+(?:run|download|clone|try)(?:\s+(?:the\s+)?code)?(?:\s+(?:myself|ourselves))?(?![\w-])",
]]
_PARTS = {"early": (1, 10), "beginning of": (1, 10), "start of": (1, 10), "mid": (11, 20), "middle of": (11, 20),
          "late": (21, 31), "end of": (21, 31)}
_SINCE_PART = {"early": 1, "beginning of": 1, "start of": 1, "mid": 15, "middle of": 15, "late": 21, "end of": 21}
_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name} | {"sept": 9}


@dataclass
class Reading:
    """A question read for filters: the topic query left over, the filter, and each filter in words."""

    query: str
    filter: SearchFilter = field(default_factory=SearchFilter)
    said: list[str] = field(default_factory=list)
    from_words: bool = False  # the question itself stated a filter (it asks for a listing, then)
    topic: bool = True  # words are left to search by; False: "Which papers were in all five feeds?"
    said_by_words: list[str] = field(default_factory=list)  # the part of `said` the question's own words stated
    kind: Kind | None = None  # the kind of paper asked for ("Which papers are surveys?"): answer/kinds.py


def read_filters(question: str, feed_days: Sequence[int] = ()) -> Reading:
    """The filters a question states, resolved against the collection's feed days (YYYYMMDD, year 0 if unknown).

    Relative phrases ("the latest feed", "last week") count from the newest feed day; a yearless day is
    matched to dated feeds of every year (see `SearchFilter`). Unrecognised wording stays in the query.
    """
    days = sorted(set(feed_days))
    found = _Found()
    text = question
    for pattern, kind in _RULES:
        for match in pattern.finditer(text):
            if _read_date_rule(kind, match, days, found):
                found.spans.append(match.span())
        text = _blank(text, found.spans)
        found.spans.clear()
    for pattern in _CODE_RULES:
        if pattern.search(text):
            found.has_code = True
            text = pattern.sub(" ", text)
    query = _tidy(text)
    topic = has_topic(query)
    if not topic:  # "What's in the Mar 13 feed?": nothing left to search by but the question
        query = question
    flt = SearchFilter(since_day=found.since, until_day=found.until, has_code=found.has_code,
                       days=tuple(sorted(set(found.days))), all_days=tuple(sorted(set(found.all_days))),
                       min_feeds=found.min_feeds, years=tuple(sorted({d // 10000 for d in days} - {0})))
    kind = kind_asked(question)
    return Reading(query=query, filter=flt, said=describe(flt, kind), from_words=not flt.empty or kind is not None,
                   topic=topic or flt.empty, kind=kind)


@dataclass
class _Found:
    since: int | None = None
    until: int | None = None
    days: list[int] = field(default_factory=list)
    all_days: list[int] = field(default_factory=list)
    min_feeds: int = 0
    has_code: bool = False
    spans: list[tuple[int, int]] = field(default_factory=list)

    def narrow(self, since: int | None, until: int | None) -> None:
        """Intersect the stated range with what was read so far (two phrases both restrict)."""
        if since is not None:
            self.since = since if self.since is None else max(self.since, since)
        if until is not None:
            self.until = until if self.until is None else min(self.until, until)


def _read_date_rule(kind: str, match: re.Match[str], days: list[int], found: _Found) -> bool:
    """Apply one matched phrase; False when it is not a date after all ('May 40')."""
    groups = match.groupdict()
    if kind in ("every", "at_least", "more_than", "repeated"):
        count = groups.get("n")
        if count is None and kind == "every":
            count_n = len(days)
        elif count is None:
            count_n = 2
        else:
            count = count.strip().lower()
            count_n = int(count) if count.isdigit() else _NUMBERS[count]
            count_n += kind == "more_than"
        if count_n < 2:
            return False
        found.min_feeds = max(found.min_feeds, count_n)
        return True
    if kind == "both":
        pair = [_day(groups["a"]), _day(groups["b"])]
        if None in pair:
            return False
        found.all_days.extend(pair)
        return True
    if kind in ("between", "since", "after", "until", "before", "named"):
        parsed = [_day(part) for part in _split_days(groups["a"])]
        if kind == "between":
            parsed.append(_day(groups["b"]))
        if not parsed or None in parsed:
            return False
        if kind == "named":
            found.days.extend(parsed)
        elif kind == "between":
            found.narrow(min(parsed), max(parsed))
        elif kind in ("since", "after"):
            found.narrow(_shift(parsed[0], 1 if kind == "after" else 0), None)
        else:
            found.narrow(None, _shift(parsed[0], -1 if kind == "before" else 0))
        return True
    if kind == "month":
        return _read_month(groups, days, found)
    if not days:
        return False  # "the latest feed" of an empty collection: leave the words alone
    if kind == "latest_papers":
        found.days.append(days[-1])
    elif kind == "relative":
        which = groups["which"].lower().replace("'", "")
        if which in ("first", "earliest", "oldest"):
            found.days.append(days[0])
        elif which in ("previous", "yesterdays"):
            found.days.append(days[-2] if len(days) > 1 else days[-1])
        elif which.startswith("this week"):
            found.narrow(_shift(days[-1], -6), days[-1])
        else:
            found.days.append(days[-1])
    else:  # week: the seven days up to the newest feed
        found.narrow(_shift(days[-1], -6), days[-1])
    return True


def _read_month(groups: dict, days: list[int], found: _Found) -> bool:
    month_text = groups["month"].lower()
    month = _MONTHS.get(month_text[:4] if month_text.startswith("sept") else month_text[:3])
    if month is None:
        return False
    if month_text == "may" and groups["part"] is None and groups["op"].lower() in ("in",):
        return False  # "in may" is rarely "in May"
    year = _latest_year_of(month, days)
    last = calendar.monthrange(year or 2000, month)[1]
    base = year * 10000 + month * 100
    part, op = (groups["part"] or "").lower(), groups["op"].lower()
    first_day, last_day = _PARTS.get(part, (1, last))
    last_day = min(last_day, last)
    if op in ("since", "from"):
        found.narrow(base + _SINCE_PART.get(part, 1), None)
    elif op == "after":
        found.narrow(base + last_day + (1 if last_day < last else 0) if part else base + 100 + 1, None)
    elif op in ("before",):
        found.narrow(None, _shift(base + first_day, -1))
    elif op in ("until", "till"):
        found.narrow(None, base + last_day)
    else:
        found.narrow(base + first_day, base + last_day)
    return True


def _latest_year_of(month: int, days: list[int]) -> int:
    """The newest year with a feed in that month (0 when the feeds carry no year)."""
    years = [d // 10000 for d in days if d // 100 % 100 == month]
    return max(years) if years else 0


def _split_days(text: str) -> list[str]:
    return [p for p in re.split(r"\s*(?:,|\band\b|\bor\b|&)\s*", text, flags=re.IGNORECASE) if p.strip()]


def _day(text: str) -> int | None:
    text = re.sub(r"^the\s+", "", text.strip(), flags=re.IGNORECASE)
    text = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"\s+of\s+", " ", text, flags=re.IGNORECASE)
    parsed = parse_feed_date(text)
    return parsed[1] if parsed else None


def _shift(day: int, by: int) -> int:
    """day +/- calendar days, keeping 'no year' as year 0 (leap-safe: year 2000 stands in)."""
    year = day // 10000
    moved = dt.date(year or 2000, day // 100 % 100, day % 100) + dt.timedelta(days=by)
    return (moved.year if year else 0) * 10000 + moved.month * 100 + moved.day


def describe(flt: SearchFilter, kind: Kind | None = None) -> list[str]:
    """Each restriction of a filter (and the kind of paper asked for) in plain words, for the surfaces:
    ['feed Mar 13', 'with code', 'surveys only']."""
    out = []
    if flt.days:
        out.append(("feed " if len(flt.days) == 1 else "feeds ") + ", ".join(day_label(d) for d in flt.days))
    if flt.since_day is not None and flt.until_day is not None:
        out.append(f"feeds from {day_label(flt.since_day)} to {day_label(flt.until_day)}")
    elif flt.since_day is not None:
        out.append(f"feeds from {day_label(flt.since_day)} on")
    elif flt.until_day is not None:
        out.append(f"feeds up to {day_label(flt.until_day)}")
    if flt.all_days:
        out.append("in each of the feeds " + ", ".join(day_label(d) for d in flt.all_days))
    if flt.min_feeds > 1:
        out.append(f"in at least {flt.min_feeds} feeds")
    if flt.has_code:
        out.append("with code")
    if kind is not None:
        out.append(kind.label)
    return out


def combine(stated: SearchFilter | None, read: SearchFilter) -> SearchFilter:
    """The filter set by the caller (options, flags) and the one read from the words: the caller's wins
    wherever it says something; the words fill in the rest."""
    if stated is None or stated.empty:
        return read
    dates_set = stated.since_day is not None or stated.until_day is not None or stated.days or stated.all_days
    return replace(stated, has_code=stated.has_code or read.has_code,
                   min_feeds=stated.min_feeds or read.min_feeds,
                   **({} if dates_set else {"since_day": read.since_day, "until_day": read.until_day,
                                             "days": read.days, "all_days": read.all_days}))


def day_label(day: int) -> str:
    """313 -> 'Mar 13'; 20240313 -> 'Mar 13, 2024'."""
    year, month, mday = day // 10000, day // 100 % 100, day % 100
    label = f"{calendar.month_abbr[month]} {mday}"
    return f"{label}, {year}" if year else label


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " + text[end:]
    return text


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([?.!,;:])", r"\1", text)
    text = re.sub(r"^[,;:]\s*|\s*[,;:]$", "", text)
    text = re.sub(r"\b(?:and|or|with|from|in|on|of)\s*([?.!]?)$", r"\1", text, flags=re.IGNORECASE).strip()
    return text


_NOT_TOPIC = set("""what which whats any anything the are there was were have has had did does show shown showed
list all
new about everything give tell that this these those also appeared appear appears came come out been being ones some
please and with from for into papers paper work works studies articles latest recent collection kept coming back
again you can could would me in on of to at by or an is it be do as up any summarize summarise summary newest
overview highlights recap happened""".split())


def has_topic(text: str, also_not: AbstractSet[str] = frozenset()) -> bool:
    """Whether a topic is left once the filter words are gone ("Papers that were?" has none); ``also_not``: more
    words that are no topic here."""
    return bool(topic_words(text, also_not))


def topic_words(text: str, also_not: AbstractSet[str] = frozenset()) -> list[str]:
    """The words of ``text`` that say what it is about (not "papers", "which", "show me" ...)."""
    words = (w.lower().replace("'", "") for w in re.findall(r"[A-Za-z][A-Za-z'-]+", text))
    return [w for w in words if w not in _NOT_TOPIC and w not in also_not]


# Questions about the collection itself ("How many papers are there?", "What feeds do you have?", "What can I
# ask?"): every paper matches "papers" a little, so searching answered them with whichever paper came first.
_COLLECTION_ASKED = re.compile(
    r"(?<![\w-])(?:how\s+many\s+(?:papers|abstracts|articles|feeds)|collection|corpus|database|library|feeds"
    r"|what\s+can\s+(?:i|you)\s+(?:ask|do)(?:\s+(?:here|for\s+me))?(?=\s*[?.!]*\s*$))(?![\w-])", re.IGNORECASE)
_ABOUT_IT = set("""how many much number count total size big large contain contains hold holds cover covers covered
topics topic subjects areas fields dates date days span spans range ask can do does abstracts articles feed feeds
collection corpus database library i""".split())


def about_collection(question: str, feed_days: Sequence[int] = ()) -> bool:
    """Whether the question asks about the collection itself (its size, feeds, topics, what to ask) rather than
    for papers: it says so ("how many papers", "collection", "feeds") and names no topic once its filter words
    ("in the Aug 20 feed") are read. "How many papers use diffusion?" names one, and is searched."""
    if not _COLLECTION_ASKED.search(question):
        return False
    reading = read_filters(question, feed_days)  # "Which papers were in all five feeds?" is only a filter
    rest = reading.query if reading.topic else ""
    if not _COLLECTION_ASKED.search(rest):
        return False
    return not has_topic(_COLLECTION_ASKED.sub(" ", rest), _ABOUT_IT)


# What a paper's record holds, asked about one paper ("Who wrote GPTQ?", "Where is the code for SliceGPT?"):
# answered from the record, not from the abstract (which says none of it).
RECORD_FIELDS = {
    "authors": re.compile(r"(?<![\w-])(?:who\s+(?:wrote|authored|made|created|developed|published|proposed)"
                          r"|authors?|authored|written\s+by)(?![\w-])", re.IGNORECASE),
    "code": re.compile(r"(?<![\w-])(?:code|github|repo|repository|implementation)(?![\w-])", re.IGNORECASE),
    "date": re.compile(r"(?<![\w-])(?:when|what\s+(?:date|year)|published|released|came\s+out|how\s+(?:old|recent))"
                       r"(?![\w-])", re.IGNORECASE),
    "feeds": re.compile(r"(?<![\w-])(?:feeds?)(?![\w-])", re.IGNORECASE),
    "link": re.compile(r"(?<![\w-])(?:link|url|arxiv|pdf|where\s+(?:can\s+i\s+|do\s+i\s+|to\s+)?(?:find|read|get))"
                       r"(?![\w-])", re.IGNORECASE),
}
_RECORD_WORDS = set("""where find read get link url page published released come came out available open source
public paper was were is does do has have any there its it give me show who whose""".split())


def record_asked(question: str, name: str) -> list[str]:
    """The record fields a question asks of the paper it names (``name``: its title's lead name), when that is
    all it asks ("When was GPTQ published?"; not "How does GPTQ quantize weights?"), else []."""
    fields = [key for key, rule in RECORD_FIELDS.items() if rule.search(question)]
    if not fields:
        return []
    rest = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", " ", question, flags=re.IGNORECASE)
    for rule in RECORD_FIELDS.values():
        rest = rule.sub(" ", rest)
    return [] if has_topic(rest, _RECORD_WORDS) else fields


# "Which paper is the most cited?", "How many citations does GPTQ have?": no feed carries such figures, and
# searching the words found whichever abstract says "cited".
_POPULARITY = re.compile(
    r"(?<![\w-])(?:(?:most|least|highly|widely|best)[\s-]+(?:cited|popular|influential|upvoted|liked|starred"
    r"|downloaded)|how\s+(?:popular|influential)|(?:citation|upvote)\s+counts?|number\s+of\s+(?:citations|upvotes)"
    r"|how\s+many\s+(?:citations|upvotes|likes)"
    r"|how\s+(?:often|many\s+times)(?=\s+(?:is|was|has)\s+(?:\S+\s+){1,4}?(?:been\s+)?cited(?![\w-]))"
    r"|(?:ranked|rank(?:\s+them)?|sorted|sort(?:\s+them)?)\s+by\s+(?:citations|popularity|upvotes|impact))(?![\w-])",
    re.IGNORECASE)
_POPULARITY_WORDS = set("""cited popular influential upvoted liked starred downloaded citations citation upvotes likes
count counts number many times often been rank ranked sort sorted popularity impact has have does do is was are
one most""".split())


def asks_popularity(question: str) -> str:
    """Whether the question asks how cited or popular papers are: "" if not, else "topic" when it also names a
    topic ("the most cited paper on diffusion") and "only" when that is all it asks."""
    if not _POPULARITY.search(question):
        return ""
    return "topic" if has_topic(_POPULARITY.sub(" ", question), _POPULARITY_WORDS | _ABOUT_IT) else "only"


# "Which papers mention ImageNet?", "What work evaluates on COCO?", "Papers that use LoRA": every paper whose
# title or abstract says the name, not the ten closest to it. A name has a capital or digit past its first
# letter, or is quoted ("Stable Diffusion" counts as two capitalised words).
_NAME_WORD = r"(?:[A-Z][\w.+-]*[A-Z0-9][\w.+-]*|[A-Z]{2,}[\w.+-]*|[A-Z][a-z]+(?=\s+[A-Z]))"
_SAYS = r"mention(?:s|ed|ing)?|cit(?:e|es|ed|ing)|refer(?:s|red|ring)?\s+to"  # any capitalised word is a name here
_USES = (r"us(?:e|es|ed|ing)|(?:are\s+|were\s+|is\s+|was\s+)?(?:evaluat(?:e|es|ed|ing)|test(?:s|ed|ing)?"
         r"|train(?:s|ed|ing)?|benchmark(?:s|ed|ing)?|experiment(?:s|ed|ing)?)\s+on"
         r"|report(?:s|ed|ing)?\s+(?:results\s+)?on|compar(?:e|es|ed|ing)\s+(?:with|to|against)")
_MENTION = re.compile(
    rf"(?<![\w-])(?:(?:{_SAYS})\s+(?:the\s+)?(?P<said>[A-Z][\w.+-]*(?:\s+[A-Z0-9][\w.+-]*){{0,2}})"
    rf"|(?:{_SAYS}|{_USES})\s+(?:the\s+)?(?:\"(?P<quoted>[^\"]{{2,40}})\""
    rf"|(?P<name>{_NAME_WORD}(?:\s+[A-Z0-9][\w.+-]*){{0,2}})))"
    r"(?P<rest>.*)$")


def mentions_asked(question: str) -> tuple[str, str] | None:
    """The name a listing asks to be mentioned ("Which papers mention ImageNet?": "ImageNet") and what the question
    asks besides (``rest``, e.g. "for pretraining"; "" when nothing), or None."""
    match = _MENTION.search(question)
    if not match:
        return None
    name = (match["said"] or match["quoted"] or match["name"]).strip().rstrip(".")
    return name, _tidy(match["rest"])


def mentions(name: str, text: str) -> bool:
    """Whether ``text`` says ``name`` (any case, as a whole word: "ImageNet-1K" says ImageNet)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


# "What's the newest paper on text-to-video?": the topic's papers, the most recently listed first.
_NEWEST = re.compile(r"(?<![\w-])(?:newest|latest|most\s+recent|freshest)\s+(?:papers?|works?|studies|articles"
                     r"|research|publications?)(?![\w-])", re.IGNORECASE)


def asks_newest(question: str) -> bool:
    """Whether the question asks for the newest papers on its topic (not for a feed: "the latest feed")."""
    return bool(_NEWEST.search(question))


# Words about the collection rather than the topic: "Which papers in the collection are surveys?" searches
# "surveys". Left in, they pull the question's vector toward nothing and its BM25 terms match no abstract.
_ABOUT_COLLECTION = [re.compile(p, re.IGNORECASE) for p in [
    r"(?<![\w-])(?:in|from|of|among)\s+(?:the|this|your|our|my|these)\s+(?:collection|corpus|index|database|library"
    r"|abstracts|papers)(?![\w-])",
    r"^\s*(?:(?:so|ok|okay|hi|hey),?\s+)?(?:(?:which|what)\s+(?:other\s+)?(?:papers?|works?|studies|articles"
    r"|publications|research)(?:\s+(?:are\s+there|is\s+there|do\s+you\s+have|exist))?"
    r"|(?:are|is)\s+there\s+(?:any\s+)?(?:papers?|works?|studies|articles|research)"
    r"|(?:list|show(?:\s+me)?|give\s+me|find(?:\s+me)?)\s+(?:all\s+)?(?:the\s+)?(?:papers?|works?|studies|articles))"
    r"(?![\w-])",
    _NEWEST.pattern,  # "the newest paper on X" orders the papers on X (`asks_newest`)
    r"(?<![\w-])(?:papers?|articles|publications)(?![\w-])",  # "Medical papers?" is about medicine
]]


def search_text(query: str) -> str:
    """The query's topic words for searching: phrases about the collection itself are dropped.

    The query shown to the user keeps them; only what is embedded and matched changes. A query that is
    nothing but such phrases is searched as it is.
    """
    text = _POPULARITY.sub(" ", query)
    for rule in _ABOUT_COLLECTION:
        text = rule.sub(" ", text)
    text = _tidy(text)
    return text if has_topic(text) else query


# A long message is often a pasted thread or notes with the question at the end ("So my actual question: …").
# Searching the whole of it reads the chatter: its dates become feed filters ("the bags from last week"), its
# errands become topic words, and the embedders cut it off before the question (MiniLM reads 256 word pieces).
LONG_MESSAGE_WORDS = 80
_ASKING = re.compile(
    r"(?<![\w-])(?:(?:so|ok|okay|anyway|anyways|basically)\s*,?\s+)?(?:my|our|the)\s+(?:(?:actual|real|main|specific"
    r"|concrete|core|key|own)\s+)?question(?:\s+(?:is|would\s+be|here|for\s+you))?\s*(?:[:\-\u2013\u2014]|is\b)"
    r"|(?<![\w-])(?:tl;?\s*dr|q)\s*[:\-\u2013\u2014]", re.IGNORECASE)
_QUESTION_WORDS = 12  # a last paragraph shorter than this ("Any ideas?", "Is there a faster one?") takes the one before


def asking_part(question: str) -> str:
    """The part of a long message that asks: what follows its last "my question:" / "TL;DR:", else its last
    paragraph when that asks something (with the paragraph before when it is a few words only: "Any ideas?").

    A message of at most `LONG_MESSAGE_WORDS` words, or one where no such part has a topic, is returned as it is.
    """
    if len(question.split()) <= LONG_MESSAGE_WORDS:
        return question
    marks = list(_ASKING.finditer(question))
    if marks and has_topic(after := question[marks[-1].end():].strip()):
        return after
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", question) if p.strip()]
    if len(paragraphs) == 1:  # a thread pasted line by line
        paragraphs = [p.strip() for p in question.splitlines() if p.strip()]
    if len(paragraphs) < 2 or "?" not in paragraphs[-1]:
        return question
    part = paragraphs[-1]
    if len(part.split()) < _QUESTION_WORDS:
        part = f"{paragraphs[-2]}\n\n{part}"
    return part if has_topic(part) else question
