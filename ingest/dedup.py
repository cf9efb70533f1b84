"""Fold the records of one paper, seen in several feeds or files, into a single Paper."""

from __future__ import annotations

from collections.abc import Iterable

from assistant.core.models import FeedSighting, Paper
from assistant.core.text import normalise_title

__all__ = ["dedupe", "is_title_id", "merge_paper"]


def merge_paper(old: Paper, new: Paper) -> Paper:
    """Combine two records of one paper: the newer record's non-empty fields win, lists are unioned in order.

    An ``arxiv:`` id beats a title-hash ``t:`` id, whichever record carries it.
    """
    return Paper(
        paper_id=new.paper_id if is_title_id(old.paper_id) and not is_title_id(new.paper_id) else old.paper_id,
        title=new.title or old.title,
        abstract=new.abstract or old.abstract,
        url=new.url or old.url,
        code_url=new.code_url or old.code_url,
        authors=_union(old.authors, new.authors),
        categories=_union(old.categories, new.categories),
        published=new.published or old.published,
        sightings=_union_sightings(old.sightings, new.sightings),
    )


def dedupe(records: Iterable[Paper]) -> dict[str, Paper]:
    """One Paper per paper_id, in first-seen order, with every sighting of it.

    A record without an arXiv id also joins an arXiv-identified paper of the same normalised title,
    so a feed dump and an arXiv export of one paper end up as one Paper under the arXiv id.
    """
    merged: dict[str, Paper] = {}  # keyed by the first id seen, to keep first-seen order
    slot_of_id: dict[str, str] = {}
    slot_of_title: dict[str, str] = {}
    for paper in records:
        title_key = normalise_title(paper.title)
        slot = slot_of_id.get(paper.paper_id) or _slot_by_title(paper, slot_of_title.get(title_key), merged)
        if slot is None:
            slot = paper.paper_id
            merged[slot] = paper
        else:
            merged[slot] = merge_paper(merged[slot], paper)
        slot_of_id[paper.paper_id] = slot_of_id[merged[slot].paper_id] = slot
        slot_of_title.setdefault(title_key, slot)
    return {paper.paper_id: paper for paper in merged.values()}


def _slot_by_title(paper: Paper, slot: str | None, merged: dict[str, Paper]) -> str | None:
    # Two different arXiv ids with one title are two papers; a title-hash id can join either.
    if slot is None:
        return None
    return slot if is_title_id(paper.paper_id) or is_title_id(merged[slot].paper_id) else None


def is_title_id(paper_id: str) -> bool:
    """A ``t:`` id, made from the title because the record had no arXiv id."""
    return paper_id.startswith("t:")


def _union(first: list[str], second: list[str]) -> list[str]:
    seen = {normalise_title(item) for item in first}
    extra = []
    for item in second:
        if normalise_title(item) not in seen:
            seen.add(normalise_title(item))
            extra.append(item)
    return first + extra


def _union_sightings(first: list[FeedSighting], second: list[FeedSighting]) -> list[FeedSighting]:
    seen = {(s.feed, s.date) for s in first}
    extra = []
    for sighting in second:
        if (sighting.feed, sighting.date) not in seen:
            seen.add((sighting.feed, sighting.date))
            extra.append(sighting)
    return first + extra
