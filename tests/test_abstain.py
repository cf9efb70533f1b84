"""Near misses: a question about a named paper or method the collection lacks abstains, listing the nearest uncited."""

from __future__ import annotations

from conftest import GPTQ_TITLE

from assistant.answer.abstain import may_name_a_paper, missing_names, named_paper, papers_named
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
    # ... nor a generic one joined to plain words (users' fresh list l025 abstained for "3D-printable"), while a
    # name joined to them still is one.
    described = "Which papers invent new molecules, crystals or 3D-printable structures, or do text-to-3D?"
    assert missing_names(described, titles, texts) == []
    assert missing_names("How does BERT-base compare with GPT-4 here?", titles, texts) == ["BERT-base", "GPT-4"]


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


def test_a_name_only_one_found_paper_has_points_at_it():
    titles = ["PIXART-δ: Fast and Controllable Image Generation with Latent Consistency Models",
              "Informer: Beyond Efficient Transformer for Long Sequence Time-Series Forecasting",
              "The Neglected Tails of Vision-Language Models"]
    texts = [titles[0] + ". It integrates the Latent Consistency Model (LCM) and ControlNet; CLIP scores rise.",
             titles[1] + ". A ProbSparse self-attention mechanism achieves O(L log L) time complexity.",
             titles[2] + ". CLIP fails on rare concepts such as \"night snake\"; we retrieve better prompts."]
    assert named_paper("Tell me about LCM.", titles, texts) == 0  # the initials of title words
    assert named_paper("有没有论文提出用 ProbSparse 自注意力来做长序列时间序列预测？", titles, texts) == 1
    assert named_paper('Warum erkennt CLIP seltene Konzepte wie "night snake" so schlecht?', titles, texts) == 2
    # A name several found papers have, or none has, or names pointing at two papers, decide nothing.
    assert named_paper("Warum ist CLIP so gut?", titles, texts) is None
    assert named_paper("How does Mamba's selective SSM scan work?", titles, texts) is None
    assert named_paper("Compare ProbSparse with the LCM.", titles, texts) is None


def test_the_papers_a_question_names_by_their_titles_are_found_in_its_order():
    titles = ["GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers",
              "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows",
              "SliceGPT: Compress Large Language Models by Deleting Rows and Columns",
              "CSWin Transformer: A General Vision Transformer Backbone with Cross-Shaped Windows",
              "Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet",
              "Informer: Beyond Efficient Transformer for Long Sequence Time-Series Forecasting"]
    assert papers_named("Compare SliceGPT and GPTQ.", titles) == [2, 0]
    assert papers_named("How does the Informer differ from Swin Transformer?", titles) == [5, 1]
    assert papers_named("is slicegpt better than GPTQ?", titles) == [2, 0]  # unmistakable names, any case
    # A part of a lead name, a plain-word name in other case, or words that only contain one name nothing.
    assert papers_named("A ViT block beating CSWin on ImageNet?", titles) == []
    assert papers_named("Does an informer model use swin transformer windows?", titles) == []
    assert papers_named("Which GPTQ-like methods quantize LLMs?", titles) == []
    # The cheap test before looking for a named paper.
    assert may_name_a_paper("Does Informer have code?") and not may_name_a_paper("Which papers have code on GitHub?")
    assert not may_name_a_paper("Which papers in the Mar 13 feed have code?")
    sit = "SiT: Self-supervised vIsion Transformer"
    assert papers_named("Keep where things sit and compare GPTQ", [*titles, sit]) == [0]


def test_a_question_in_another_language_that_names_its_paper_is_answered_from_it(seed):
    engine = Assistant(seed.settings, index=seed.assistant.index, embedder=seed.assistant.embedder,
                       sparse=seed.assistant.sparse, chat_model=None)
    found = engine.retrieve("有没有论文提出用 ProbSparse 自注意力来做长序列时间序列预测？它的时间复杂度是多少？")
    assert found.relevant and found.named and found.hits[0].title.startswith("Informer:")
    short = engine.ask("Tell me about LCM.")
    assert not short.abstained and short.citations[0].title.startswith("PIXART-δ")
    # An off-topic question names nothing a paper has, and still abstains.
    assert engine.ask('What is the best "sourdough rye" hydration?').abstained


def test_a_name_written_out_in_an_abstract_is_mentioned():
    from assistant.answer.abstain import names_unmentioned

    abstract = ("It combines Swin features with an Autoencoder and a Variational Autoencoder, like masked language "
                "models.")
    assert names_unmentioned("Does it use a VAE and masked-LM pretraining, unlike AWQ?", [abstract]) == ["AWQ"]
    # Small words spell nothing, and three letters need capitalised words: "applies weight quantization" is not AWQ.
    for text in ("GPTQ applies a weight quantization.", "GPTQ applies weight quantization."):
        assert names_unmentioned("Compare GPTQ and AWQ", [text]) == ["AWQ"]
    assert names_unmentioned("Compare GPTQ and AWQ", ["GPTQ; Activation-aware Weight Quantization"]) == []
