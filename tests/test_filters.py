"""Search filters on the embedded index, over the seed corpus."""

from __future__ import annotations

from conftest import GPTQ_TITLE

from assistant.index.base import SearchFilter


def test_has_code_keeps_only_papers_with_a_code_link(seed):
    hits = seed.assistant.search("post-training quantization of GPT models", k=10,
                                 search_filter=SearchFilter(has_code=True))
    assert hits, "the has-code filter removed everything"
    assert all(h.code_url for h in hits)
    assert hits[0].title == GPTQ_TITLE


def test_feed_date_range_keeps_only_papers_seen_in_it(seed):
    march_13 = SearchFilter(since_day=313, until_day=313)
    hits = seed.assistant.search("transformer", k=10, search_filter=march_13)
    assert hits and all("Mar 13" in h.feeds for h in hits)
    assert not seed.assistant.search("transformer", k=5, search_filter=SearchFilter(since_day=1201, until_day=1231))


def test_typed_dates_become_sortable_days_and_bad_ones_are_user_errors():
    import pytest

    from assistant.answer.retrieve import search_filter_from
    from assistant.core.errors import InvalidQuery

    flt = search_filter_from("Mar 13", "2024-03-20", has_code=True)
    assert (flt.since_day, flt.until_day, flt.has_code) == (313, 20240320, True)
    with pytest.raises(InvalidQuery, match="'Foo 3' is not a date"):
        search_filter_from(since="Foo 3")
