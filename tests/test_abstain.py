"""Near misses: a question about a named paper or method the collection lacks abstains, listing the nearest uncited."""

from __future__ import annotations

from conftest import GPTQ_TITLE

from assistant.answer.abstain import missing_names
from assistant.engine import Assistant


def test_a_name_is_missing_when_no_found_paper_has_it():
    titles = ["Deep Residual Learning Revisited: ResNet Strikes Back"]
    texts = [titles[0] + "\nWe revisit ResNet-50 training on ImageNet with modern recipes."]
    assert missing_names("What did the original ResNet paper report on ImageNet?", titles, texts) == []
    assert missing_names("What did the original ResNet paper report?", ["Scaling ViTs"], ["Scaling ViTs\nViTs"]) == [
        "ResNet"]
    assert missing_names("Which transformer models forecast weather from ERA5 data?", titles, texts) == ["ERA5"]
    quoted = "What BLEU score did 'Attention Is All You Need' get on WMT14 English-German?"
    assert missing_names(quoted, titles, texts) == ["Attention Is All You Need", "BLEU", "WMT14"]
    # Descriptions and the field's everyday acronyms are not names to check.
    everyday = "Which papers quantize LLMs to 4-bit on one GPU with top-5 accuracy kept?"
    assert missing_names(everyday, titles, texts) == []


def test_the_original_paper_of_something_newer_papers_mention_abstains(seed):
    engine = Assistant(seed.settings, index=seed.assistant.index, embedder=seed.assistant.embedder,
                       sparse=seed.assistant.sparse, chat_model=None)
    answer = engine.ask("In the original ControlNet paper, what are zero convolutions and why are they "
                        "initialized to zero?")
    # Abstracts mention ControlNet ("Unet-based diffusion models, such as ControlNet"), no title is it.
    assert answer.abstained and answer.citations == []
    assert "none of the papers found is about ControlNet" in answer.answer and "You may mean" in answer.answer
    named = engine.ask("How does the GPTQ paper quantize GPT models to 3 or 4 bits?")
    assert not named.abstained and named.citations[0].title == GPTQ_TITLE
