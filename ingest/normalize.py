"""Text clean-up and identifiers shared by every source format.

The rules are tuned on the LaTeX residue the Hugging Face Daily Papers dumps and arXiv metadata
actually carry (``\\%``, ``{\\delta}``, ``\\"o``, ``~``, ``$x$``); anything unrecognised is left as
written, because a visible oddity is better than silently rewritten text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from assistant.core.dates import parse_feed_date
from assistant.core.text import normalise_title

__all__ = ["arxiv_id_from", "clean_text", "extract_code_url", "normalise_title", "paper_id_for", "parse_feed_date",
           "replace_lone_surrogates"]


_GREEK = dict(
    zip(
        "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
        "pi rho sigma tau upsilon phi varphi chi psi omega "
        "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split(),
        "αβγδεεζηθθικλμνξπρστυφφχψωΓΔΘΛΞΠΣΥΦΨΩ",
        strict=True,
    )
)
_SYMBOLS = {
    "times": "×", "cdot": "·", "pm": "±", "mp": "∓", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥",
    "neq": "≠", "ne": "≠", "approx": "≈", "sim": "~", "infty": "∞", "rightarrow": "→", "to": "→",
    "leftarrow": "←", "Rightarrow": "⇒", "ell": "ℓ", "partial": "∂", "nabla": "∇", "sum": "∑",
    "in": "∈", "circ": "°", "ldots": "...", "dots": "...", "cdots": "...",
    "textemdash": "—", "textendash": "–", "textasciitilde": "~", "textbackslash": "\\",
    "eg": "e.g.", "ie": "i.e.", "etal": "et al.", "vs": "vs.",
    "LaTeX": "LaTeX", "TeX": "TeX", "i": "ı", "l": "ł", "o": "ø", "ss": "ß", "ae": "æ", "oe": "œ",
}
# Spacing commands become a space; a backslash-space ("\ ") is LaTeX's explicit inter-word space.
_SPACES = {",": " ", ";": " ", ":": " ", "!": "", " ": " ", "\\": " ", "quad": " ", "qquad": " ",
           "-": "", "/": ""}
_ACCENTS = {'"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303", "=": "\u0304",
            ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328"}
# Commands whose single argument is plain text to keep (font and emphasis changes).
_TEXT_COMMANDS = ("textbf|textit|textsc|textsf|texttt|textrm|textup|textnormal|emph|underline|text|"
                  "mathrm|mathbf|mathit|mathsf|mathtt|mathcal|mathbb|mathfrak|boldsymbol|bm|"
                  "operatorname|url|mbox|hbox")

_ACCENT_RE = re.compile(r"""\\(["'`^~=.]|[uvHck](?=[{\s]))\s*(?:\{\s*(\\i|\\j|[A-Za-z])\s*\}|(\\i|[A-Za-z]))""")
_HREF_RE = re.compile(r"\\href\{([^{}]*)\}\{([^{}]*)\}")
# "\href{https://x/}{here}" flattened by the dump into "https://x/{here}": keep the URL whole.
_URL_THEN_GROUP_RE = re.compile(r"(https?://[^\s{}]+)\{([^{}]*)\}")
_REFERENCE_RE = re.compile(r"\s*\\(?:cite[pt]?|citep|citet|ref|eqref|label)\{[^{}]*\}")
# The math-font names also match without their backslash: the Daily Papers dump lost some ("mathcal{O}").
_TEXT_COMMAND_RE = re.compile(
    rf"\\(?:{_TEXT_COMMANDS})\s*\{{([^{{}}]*)\}}|(?<![A-Za-z])(?:mathcal|mathbb|mathrm|mathbf)\{{([^{{}}]*)\}}"
)
_TEXT_COMMAND_NAMES = frozenset(_TEXT_COMMANDS.split("|"))
_LEFTOVER_COMMAND_RE = re.compile(rf"\\({_TEXT_COMMANDS})\b")
_ESCAPED_DOLLAR = "\x00"
_DISPLAY_MATH_RE = re.compile(r"\$\$([^$]+?)\$\$")
# Inline math needs content hugging both dollars, so prices ("$5 and $10") and "$$$" stay as written.
_INLINE_MATH_RE = re.compile(r"(?<!\$)\$(?!\s)([^$]*?[^$\s])\$(?!\$)")
_MACRO_RE = re.compile(r"\\([A-Za-z]+|[^A-Za-z])")
# Braces around one token ("{δ}", "{4}") are grouping residue; sub/superscript groups stay.
_SINGLE_GROUP_RE = re.compile(r"(?<![\w^_])\{([^{}\s]*)\}")
_TIMES_RE = re.compile(r"(?<=\d)times(?=\d)")  # "384times384": a \times whose backslash was lost
# "~" is a non-breaking space after a word ("Thought~(CoT)"); "~100" and "3.4~10%" mean "about".
_TIE_RE = re.compile(r"(?<=[A-Za-z.,;:)])~(?=\S)")
_BRACE_RE = re.compile(r"[{}]")
_LATEX_QUOTES_RE = re.compile(r"``|''")
_WHITESPACE_RE = re.compile(r"\s+")
# A sentence end glued to the next sentence: two lowercase letters, a period, then a capitalised
# word. Requiring two letters keeps "e.g.The", "U.S.A" and "3.5" out of it.
_GLUED_SENTENCE_RE = re.compile(r"(?<=[a-z]{2})\.(?=[A-Z][a-z])")
_URLISH_RE = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S*|\S+@\S+|\S*/\S*", re.IGNORECASE)
_NEEDS_LATEX_PASS = re.compile(r"[\\$~{}]|times|``|''")


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(s: str) -> str:
    """Replace each lone surrogate (a JSON "\\ud800" escape, an undecodable file name byte) with U+FFFD.

    Such text cannot be encoded as UTF-8, so it would fail hashing and storage; the record is kept with a
    visible replacement character rather than refused, as for invalid bytes elsewhere in a line.
    """
    return s if s.isascii() else _SURROGATE_RE.sub("\ufffd", s)


def clean_text(s: str) -> str:
    """Turn LaTeX residue into plain Unicode text, NFKC-normalise it and collapse whitespace."""
    if not s:
        return ""
    s = replace_lone_surrogates(s)
    if _NEEDS_LATEX_PASS.search(s):
        s = _strip_latex(s)
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s)
    s = _WHITESPACE_RE.sub(" ", s).strip()
    return _space_glued_sentences(s)


def _strip_latex(s: str) -> str:
    s = _ACCENT_RE.sub(_compose_accent, s)
    s = s.replace("\\$", _ESCAPED_DOLLAR)
    s = _DISPLAY_MATH_RE.sub(r"\1", s)
    s = _INLINE_MATH_RE.sub(r"\1", s)
    s = _HREF_RE.sub(r"\2 (\1)", s)
    s = _URL_THEN_GROUP_RE.sub(r"\1 \2", s)
    s = _REFERENCE_RE.sub("", s)
    s = _MACRO_RE.sub(_replace_macro, s)
    s = _unwrap_groups(s)
    s = _drop_unmatched_closing_braces(s)
    s = _TIMES_RE.sub("×", s)
    s = _TIE_RE.sub(" ", s)
    s = _LATEX_QUOTES_RE.sub('"', s)
    return s.replace(_ESCAPED_DOLLAR, "$")


def _compose_accent(match: re.Match[str]) -> str:
    letter = (match.group(2) or match.group(3)).lstrip("\\")
    # NFKC later composes letter + combining mark into one character ("o" + U+0308 -> "ö").
    return letter + _ACCENTS[match.group(1)]


def _replace_macro(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _TEXT_COMMAND_NAMES:
        return match.group()  # unwrapped with its argument by _unwrap_groups
    for table in (_GREEK, _SYMBOLS, _SPACES):
        if name in table:
            return table[name]
    # An unknown command is most often a paper's own macro ("\model"): keep its name as the word.
    # An escaped character ("\%", "\&") is that character.
    return name


def _unwrap_groups(s: str) -> str:
    # Nested groups ("\textbf{\emph{x}}", "{{4}/{3}}") unwrap one level per pass.
    while True:
        new = _TEXT_COMMAND_RE.sub(lambda m: m.group(1) or m.group(2) or "", s)
        new = _SINGLE_GROUP_RE.sub(r"\1", new)
        if new == s:
            return _LEFTOVER_COMMAND_RE.sub(r"\1", s)
        s = new


def _drop_unmatched_closing_braces(s: str) -> str:
    # The dumps lost some opening commands ("generation}"); a "}" with no "{" before it is noise.
    depth, unmatched = 0, []
    for brace in _BRACE_RE.finditer(s):
        if brace.group() == "{":
            depth += 1
        elif depth:
            depth -= 1
        else:
            unmatched.append(brace.start())
    for position in reversed(unmatched):
        s = s[:position] + s[position + 1:]
    return s


def _space_glued_sentences(s: str) -> str:
    if not _GLUED_SENTENCE_RE.search(s):
        return s
    # URLs, e-mail addresses and paths keep their dots: fix only the text between them.
    parts, last = [], 0
    for url in _URLISH_RE.finditer(s):
        parts.append(_GLUED_SENTENCE_RE.sub(". ", s[last:url.start()]))
        parts.append(url.group())
        last = url.end()
    parts.append(_GLUED_SENTENCE_RE.sub(". ", s[last:]))
    return "".join(parts)


_CODE_URL_RE = re.compile(
    r"(?<![\w.-])(?:https?://)?(?:(?:www|gist)\.)?(?:github\.com|gitlab\.com|huggingface\.co)/[^\s<>\"'`\\{}|^]+",
    re.IGNORECASE,
)
_TRAILING_PUNCTUATION = ".,;:!?)]}>'\"*"


def extract_code_url(s: str) -> str | None:
    """Return the first github.com / gitlab.com / huggingface.co link in ``s``, without trailing punctuation."""
    if not s:
        return None
    for match in _CODE_URL_RE.finditer(s):
        url = _strip_trailing_punctuation(match.group())
        if url.rstrip("/").lower().endswith((".com", ".co")):
            continue  # a bare domain ("github.com/") points at no repository
        return url if "://" in url else f"https://{url}"
    return None


def _strip_trailing_punctuation(url: str) -> str:
    while url and url[-1] in _TRAILING_PUNCTUATION:
        # Keep a ")" that closes a "(" inside the URL (wiki-style paths), drop one that closes the prose.
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


_ARXIV_ID_RE = re.compile(
    r"""(?:^|arxiv[:\s]\s*|arxiv\.org/(?:abs|pdf|html)/)
        (?P<id>\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})
        (?:v\d+)?(?:\.pdf)?/?$""",
    re.IGNORECASE | re.VERBOSE,
)


def arxiv_id_from(text: str | None) -> str | None:
    """Return the bare arXiv id (no version) in an id, ``arXiv:`` reference or abs/pdf URL, else None."""
    if not text:
        return None
    match = _ARXIV_ID_RE.search(text.strip())
    return match.group("id") if match else None


def paper_id_for(title: str, arxiv_id: str | None = None) -> str:
    """``arxiv:<id>`` when ``arxiv_id`` holds a recognisable arXiv id or URL, else ``t:`` + a title hash."""
    bare_id = arxiv_id_from(arxiv_id)
    if bare_id:
        return f"arxiv:{bare_id}"
    return "t:" + hashlib.sha1(normalise_title(title).encode()).hexdigest()[:16]
