"""Near misses: a question about a named paper, model or dataset that none of the retrieved papers is about.

Retrieval always finds *something* close to "the original ResNet paper" in a collection of newer papers
that build on it, and the model then answers about the wrong paper with a citation. So the names a
question relies on are checked against the papers found: a name it treats as a paper of its own ("the
original X", "the X paper", a quoted Title Case title) must be in a found title; and when every other name
it uses (CamelCase, short acronyms, capitals with digits: ERA5, WMT14, GPT-4) is absent from every found
title and abstract, the papers found are about something else. Conversely `named_paper` rescues a question
the embedder scores low (another language, a bare name) when a name in it points at one found paper.
Rules only, no model; measured on the dev set (README) for false abstentions.
"""

from __future__ import annotations

import re

# Names so common in this field that a question may use them for the topic, not for one paper.
GENERIC = {
    "ai", "llm", "llms", "vlm", "vlms", "mllm", "mllms", "lmm", "lmms", "nlp", "gpu", "gpus", "cpu", "cpus", "tpu",
    "3d", "2d", "4d", "rl", "ml", "dl", "api", "apis", "sota", "qa", "vqa", "cnn", "cnns", "rnn", "rnns", "gan",
    "gans", "moe", "kv", "rag", "cot", "ocr", "asr", "tts", "url", "pdf", "github", "arxiv", "english", "us", "uk",
}
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9]|[A-Za-z0-9]")
_SUBJECT = re.compile(r"\boriginal\s+([A-Z][\w\-.]*)|\b([A-Z][\w\-.]*[A-Z0-9][\w\-.]*)\s+paper\b")
_QUOTED = re.compile(r"(?:^|(?<=\s))[\"“'‘]([A-Za-z][^\"”’']{5,}?\s[^\"”’']+?)[\"”’']")
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "is", "of", "on", "or", "the", "to", "with"}
# "PPO-style", "DiT-based", "LLM-powered": a name used to describe something else, not asked about.
_DESCRIPTIVE = re.compile(r"-(?:style|based|like|powered|driven|guided|generated|manipulated|aware|free|only|"
                          r"level|scale|sized|specific|friendly|compatible|native|centric|inspired)$", re.I)


def missing_names(question: str, titles: list[str], texts: list[str]) -> list[str]:
    """Names the question relies on that the found papers lack (titles: theirs; texts: title + abstract each)."""
    found_titles = [_squash(t) for t in titles]
    found_texts = [_squash(t) for t in texts]
    missing = [s for s in _subjects(question) if not _in_any(s, found_titles)]
    names = [n for n in names_of(question) if n not in missing]
    if names and not any(_in_any(n, found_texts) for n in names):
        missing += names
    return missing


def names_unmentioned(question: str, texts: list[str]) -> list[str]:
    """The question's names (CamelCase, acronyms, capitals with digits) that none of the texts mentions: "Compare
    GPTQ and AWQ" answered from GPTQ alone says so, rather than leaving the user to notice AWQ is missing."""
    found_texts = [_squash(t) for t in texts]
    return [name for name in names_of(question) if not _in_any(name, found_texts)
            and not any(_spelled_out(name, text) for text in texts)]


def _spelled_out(name: str, text: str) -> bool:
    """Whether the text writes the name out: an acronym by the initials of consecutive capitalised words, small
    words left out ("VAE": "Variational Autoencoder"; any words for two letters, "LM": "language model"), a
    hyphenated name part by part ("masked-LM")."""
    parts = name.split("-")
    if len(parts) > 1:
        return all(_in_any(part, [_squash(text)]) or _spelled_out(part, text) for part in parts)
    if not _acronym(name):
        return False
    letters = name.removesuffix("s").lower()
    # Words in lower case spell two-letter acronyms only ("language model"): "applies weight quantization" is
    # not AWQ, "Activation-aware Weight Quantization" is.
    words = [w if len(letters) <= 2 or w[0].isupper() else "-" for w in re.findall(r"[A-Za-z][A-Za-z-]*", text)
             if w.lower() not in _SMALL_WORDS]
    words = [w.lower() for w in words]
    return any(_spells(letters, words, start) for start, word in enumerate(words) if word[0] == letters[0])


def _spells(letters: str, words: list[str], i: int) -> bool:
    """Whether words[i], words[i+1], … spell the letters: each word gives its initial and may give more of its own
    letters in order ("autoencoder" gives "ae")."""
    if not letters:
        return True
    if i >= len(words) or words[i][0] != letters[0]:
        return False
    for take in range(1, len(letters) + 1):
        rest = iter(words[i][1:])
        if all(letter in rest for letter in letters[1:take]) and _spells(letters[take:], words, i + 1):
            return True
    return False


def names_in(question: str) -> bool:
    """Whether the question names anything to check (most do not: then no abstract is read)."""
    return bool(_subjects(question) or names_of(question))


def _subjects(question: str) -> list[str]:
    subjects = [m[1] or m[2] for m in _SUBJECT.finditer(question)]
    subjects += [m[1] for m in _QUOTED.finditer(question) if _title_case(m[1])]
    return [s.strip(".-") for s in subjects if _squash(s) not in GENERIC]


def _title_case(text: str) -> bool:
    """'Attention Is All You Need' is a title; 'birds can fly' or 'Smith et al., 2031' is not."""
    words = text.split()
    return len(words) >= 3 and all(w[0].isupper() or w.lower() in _SMALL_WORDS for w in words)


def names_of(question: str) -> list[str]:
    """The names a text uses (CamelCase, short acronyms, capitals with digits), minus generic and descriptive ones."""
    names = []
    # Names in parentheses are examples ("3D assets (meshes, point clouds, SDFs)"), not what is asked about.
    for token in _TOKEN.findall(re.sub(r"\([^()]*\)", " ", question)):
        word = token.removesuffix("'s")
        if _DESCRIPTIVE.search(word) or (word.isupper() and word.isalpha() and len(word) > 5):
            continue  # a description, or a shouted word (SYSTEM OVERRIDE) rather than an acronym
        # ResNet, GPTQ, BLEU: a capital inside one hyphen-free part ("English-German" is two plain words).
        inner_capital = any(c.isupper() for part in word.split("-") for c in part[1:])
        # GPT-4, T5, ERA5, WMT14, YOLOv8; not "top-5", "152-layer", "fp16" or "17x", which describe, not name.
        letters_and_digits = (word[0].isalpha() and any(c.isupper() for c in word)
                              and any(c.isdigit() for c in word))
        if (inner_capital or letters_and_digits) and len(word) >= 2 and _squash(word) not in GENERIC \
                and not _generic_compound(word):
            names.append(word)
    return list(dict.fromkeys(names))


def _generic_compound(word: str) -> bool:
    """A generic name joined to plain words describes, it does not name: "3D-printable", "Text-to-3D", "GPU-hours"
    (a fresh user list question about materials abstained for "3D-printable", which no abstract spells so)."""
    parts = word.split("-")
    plain = [part.isalpha() and not any(c.isupper() for c in part[1:]) for part in parts]
    return len(parts) > 1 and all(ok or _squash(part) in GENERIC for part, ok in zip(parts, plain, strict=True))


def _in_any(name: str, squashed_texts: list[str]) -> bool:
    key = _squash(name)
    keys = {key, key.removesuffix("s")} if len(key) > 3 else {key}
    return any(k in text for k in keys for text in squashed_texts)


def named_paper(question: str, titles: list[str], texts: list[str]) -> int | None:
    """The one found paper a specific name of the question points at, when the question's wording does not.

    A question in another language ("Warum erkennt CLIP seltene Konzepte wie "night snake" …"), or one that is
    little more than a name ("Tell me about LCM."), scores low with an English embedder and few BM25 terms,
    yet names what it asks about. A name counts when exactly one found paper has it: a quoted phrase or a
    CamelCase/digit name (ProbSparse) in its title or abstract, or an acronym in its title, spelled out or as
    the initials of title words (LCM: "… with Latent Consistency Models"). Names pointing at two papers, or
    at none, decide nothing (None).
    """
    found_texts, initials = [_squash(t) for t in texts], [_title_initials(t) for t in titles]
    quoted = [q for m in _ANY_QUOTED.finditer(question) if len(_squash(q := m[1] or m[2])) >= 4]
    named = [n for n in names_of(question) if not _acronym(n)] + quoted
    picks = {i for name in named if len(hits := [i for i, t in enumerate(found_texts) if _in_any(name, [t])]) == 1
             for i in hits}
    for name in filter(_acronym, names_of(question)):
        key = _squash(name).removesuffix("s")
        hits = [i for i, title in enumerate(titles)
                if key in _squash(title) or (len(key) >= 3 and key in initials[i])]
        if len(hits) == 1:
            picks.add(hits[0])
    return picks.pop() if len(picks) == 1 else None


def may_name_a_paper(question: str) -> bool:
    """Whether a word after the first is capitalised and not one of the field's everyday names ("Does Informer have
    code?" may name a paper; "Which papers have code on GitHub?" or "… in the Mar 13 feed with code?" do not): a
    cheap test before looking."""
    words = _TOKEN.findall(question)[1:]
    return any(word[0].isupper() and _squash(word) not in _NOT_NAMES for word in words) or bool(names_of(question))


# "in the Mar 13 feed" names a day, not a paper.
_MONTHS = {m for name in ("january february march april may june july august september october november december"
                          .split()) for m in (name, name[:3])} | {"sept"}
_NOT_NAMES = GENERIC | _MONTHS


def lead_name(title: str) -> str:
    """The name a title leads with: the one to three words before its colon ("GPTQ", "Swin Transformer"), else ""."""
    head = title.split(":")[0].strip() if ":" in title else ""
    return head if len(head) >= 3 and len(head.split()) <= 3 else ""


def papers_named(question: str, titles: list[str]) -> list[int]:
    """The found papers a question names by their titles, in the order it names them ("Compare GPTQ and RepQuant"
    gives both). A paper is named by its title's lead name, the one to three words before the colon ("GPTQ",
    "Informer", "Swin Transformer"), standing as words of its own in the question: written as in the title, or in
    any case when the name is unmistakable (a capital inside it or a digit, and five characters or more unless
    written with a capital: "slicegpt", "hallo3"; "sit" is not "SiT"). A part of one ("CSWin" of "CSWin
    Transformer", "ViT" of "Tokens-to-Token ViT") does not count, and neither do abstracts: they name the
    baselines a paper beats, and a question naming a baseline is not about that paper.
    """
    at: dict[int, int] = {}  # paper -> where in the question it is first named
    for i, title in enumerate(titles):
        if not (head := lead_name(title)):
            continue
        distinct = any(c.isdigit() for c in head) or any(c.isupper() for word in head.split() for c in word[1:])
        pattern = r"[\s-]*".join(map(re.escape, re.findall(r"[A-Za-z0-9]+", head))) if distinct else re.escape(head)
        match = re.search(rf"(?<![\w-]){pattern}(?![\w-])", question, re.IGNORECASE if distinct else 0)
        if match and (len(_squash(head)) >= 5 or not match[0].islower()):  # "sit" is a word, not "SiT"
            at[i] = match.start()
    return sorted(at, key=lambda i: at[i])


_ANY_QUOTED = re.compile(r"[\"“«„]([^\"”»“]{2,60})[\"”»“]|(?:^|(?<=\s))['‘]([^'’]{2,60})['’]")


def _acronym(name: str) -> bool:
    """LCM, SSMs, DiT: short, mostly capitals, no digits (those are names such as GPT-4 or ERA5)."""
    letters = name.removesuffix("s")
    return 2 <= len(letters) <= 6 and letters.isalpha() and sum(c.isupper() for c in letters) >= len(letters) - 1


def _title_initials(title: str) -> set[str]:
    """Every run of consecutive title words' initials, with and without the small words ('Latent Consistency
    Models' gives 'lcm', among others)."""
    words = re.findall(r"[A-Za-z][A-Za-z0-9\-]*", title)
    runs = set()
    for kept in (words, [w for w in words if w.lower() not in _SMALL_WORDS]):
        first = "".join(w[0] for w in kept).casefold()
        runs |= {first[i:j] for i in range(len(first)) for j in range(i + 3, min(len(first), i + 6) + 1)}
    return runs


def _squash(text: str) -> str:
    """Lower case letters and digits only: 'LLaMA-2' and 'Llama 2' compare equal."""
    return re.sub(r"[^a-z0-9]", "", text.casefold())
