"""Every generated sentence is checked against the abstracts it cites: invented figures and names are removed."""

from __future__ import annotations

import re

from conftest import GPTQ_TITLE

from assistant.answer.attribute import ONE_PAPER_QUOTES, _figures
from assistant.answer.llm import ChatModel
from assistant.answer.support import NAMES_ONLY, check_sentences, restated_words
from assistant.core.models import Citation, Paper
from assistant.core.settings import LLMSettings
from assistant.engine import Assistant
from assistant.surfaces.web import views

QUESTION = "How can a 175-billion-parameter GPT model be quantized to 3 or 4 bits per weight in a few GPU hours?"
SOURCE = ("GPTQ: Accurate Post-Training Quantization. We propose GPTQ, a one-shot weight quantization method based on "
          "approximate second-order information. It quantizes GPT models with 175 billion parameters in about four "
          "GPU hours, reducing the bitwidth down to 3 or 4 bits per weight.")


def test_numbers_and_names_must_occur_in_the_cited_abstract(sparse):
    checks = check_sentences(
        "GPTQ quantizes 175 billion parameters to 3 or 4 bits [1]. It reaches a BLEU score of 28.4 on WMT14 [1]. "
        "Training took 12 days on TPUs.", {1: SOURCE}, sparse)
    assert [c.supported for c in checks] == [True, False, False]
    assert checks[0].cited == [1] and "175 billion parameters" in checks[0].evidence
    assert "28.4" in checks[1].reason and "BLEU" in checks[1].reason and "WMT14" in checks[1].reason
    assert "no source holds" in checks[2].reason  # a figure with no citation and no source is not kept either
    assert check_sentences("GPTQ quantizes 13.5 billion parameters [1].", {1: SOURCE}, sparse)[0].supported is False
    # A size such as 66B or 530B is a name made of digits: found as written, not as the number 66.
    sliced = "SliceGPT removes 25% of the parameters of LLAMA2-70B, OPT 66B and Phi-2 models."
    assert check_sentences("It removes 25% of OPT 66B [1].", {1: sliced}, sparse)[0].supported is True
    assert check_sentences("It removes 25% of OPT 67B [1].", {1: sliced}, sparse)[0].supported is False


def test_an_uncited_sentence_is_attributed_by_the_system_to_the_source_that_holds_its_facts(sparse):
    other = "Sliced Recursive Transformer. Recursion gains about 2% on ImageNet without extra parameters."
    checks = check_sentences("This can be achieved using GPTQ [1]. GPTQ quantizes 175 billion parameters to 3 or 4 "
                             "bits in about four GPU hours. Recursion adds about 2% on ImageNet.",
                             {1: SOURCE, 2: other}, sparse)
    assert [c.supported for c in checks] == [True, True, True]
    assert checks[1].text.endswith("GPU hours [1].") and checks[1].cited == [1]  # the neighbour's source
    assert checks[2].text.endswith("ImageNet [2].") and checks[2].cited == [2]  # the one source that holds it


OCCUPATIONS = ("LABOR-LLM: Language-Based Occupational Representations with Large Language Models. Many empirical "
               "studies of labor market questions rely on estimating relationships between occupations. This paper "
               "considers an alternative where the fine-tuning of the CAREER foundation model is replaced by "
               "fine-tuning LLMs on career trajectories from resumes.")
PRIVACY = "Which papers do federated learning with differential privacy for fine-tuning language models on phones?"


def test_a_sentence_that_only_restates_the_question_is_unsupported(sparse):
    echo = "The paper discusses federated learning with differential privacy for fine-tuning language models [1]."
    checks = check_sentences(echo, {1: OCCUPATIONS}, sparse, question=PRIVACY)
    assert checks[0].supported is False
    assert checks[0].reason.startswith("restates the question (federated, learning, differential, privacy)")
    assert restated_words(echo, OCCUPATIONS, PRIVACY, sparse) == ["federated", "learning", "differential", "privacy"]
    # A claim that says what the abstract says, even in the question's words, stands.
    claim = "It replaces fine-tuning of the CAREER foundation model by fine-tuning LLMs on resumes [1]."
    assert check_sentences(claim, {1: OCCUPATIONS}, sparse, question=PRIVACY)[0].supported is True
    # Without the question only numbers and names are checked (the old verdict).
    assert check_sentences(echo, {1: OCCUPATIONS}, sparse)[0].supported is True
    # Naming the paper is no claim about it: its title's words do not count as the abstract's (seen in an eval).
    title = "LABOR-LLM: Language-Based Occupational Representations with Large Language Models"
    named = f'The paper "{title}" discusses federated learning with differential privacy for fine-tuning [1].'
    assert check_sentences(named, {1: OCCUPATIONS}, sparse, question=PRIVACY)[0].supported is True  # without titles
    check = check_sentences(named, {1: OCCUPATIONS}, sparse, question=PRIVACY, titles={1: title})[0]
    assert check.supported is False and check.reason.startswith("restates the question")


def test_a_statement_that_only_names_its_paper_says_nothing(sparse):
    """Dev u013: the embedded model's whole statement was its paper's title, which its abstract "supports"."""
    title = "KV Prediction for Improved Time to First Token"
    abstract = (f"{title}. Inference with transformer-based language models begins with a prompt processing step. "
                "We introduce KV Prediction, which uses a small auxiliary model to predict the KV cache.")
    question = "Which paper introduced speculative decoding with a small draft model?"
    for said in (f"{title} [1].", f'The paper is titled "{title}" [1].'):
        check = check_sentences(said, {1: abstract}, sparse, question, {1: title})[0]
        assert check.supported is False and check.reason == NAMES_ONLY, said
    # The title's words as a claim of what the paper does, or the title with a claim of the abstract, stand.
    slice_title = "SliceGPT: Compress Large Language Models by Deleting Rows and Columns"
    for said, text, name in (
            ("SliceGPT compresses large language models by deleting rows and columns [1].", slice_title, slice_title),
            (f"{title} uses a small auxiliary model to predict the KV cache [1].", abstract, title)):
        assert check_sentences(said, {1: text}, sparse, question, {1: name})[0].supported is True, said
    assert check_sentences(f"{title} [1].", {1: abstract}, sparse, question)[0].supported is True  # no titles given


def test_a_reply_that_only_names_its_paper_is_no_answer(seed):
    """The model's title-only statement is not shown as the answer: it counts as a decline, and a close match
    quotes its paper's evidence instead (a weak one abstains)."""
    title_only = RepliesByPaper(lambda prompt: re.search(r'Abstract of "(.+)":', prompt)[1] + ".")
    answer = with_chat(seed, title_only).ask(QUESTION)
    assert [c.reason for c in answer.sentences if not c.supported] == [NAMES_ONLY]
    assert not answer.abstained and answer.citations[0].title == GPTQ_TITLE
    assert f"{GPTQ_TITLE}: {GPTQ_TITLE}" not in answer.answer  # the lead and the title-only statement
    assert answer.answer.startswith("The most relevant papers in the collection:")  # its evidence, quoted


def test_a_yes_that_answers_in_the_question_words_the_abstract_holds_stands(sparse):
    """Dev s001: the reply repeats the question, but the abstract says most of those words itself."""
    question = ("Is there a one-shot way to shrink the weights of a 175-billion-parameter language model down to 3 "
                "or 4 bits, without retraining, so it can run generative inference on one GPU?")
    abstract = ("Generative Pre-trained Transformer models, known as GPT or OPT, set themselves apart through "
                "breakthrough performance. We propose GPTQ, a new one-shot weight quantization method based on "
                "approximate second-order information. GPTQ can quantize GPT models with 175 billion parameters in "
                "approximately four GPU hours, reducing the bitwidth down to 3 or 4 bits per weight. This allows us "
                "for the first time to execute an 175 billion-parameter model inside a single GPU for generative "
                "inference.")
    reply = ("Yes, GPTQ is a one-shot weight quantization method that can shrink the weights of a "
             "175-billion-parameter language model down to 3 or 4 bits, without any retraining, so that it can run "
             "generative inference on a single GPU [1].")
    assert restated_words(reply, abstract, question, sparse, GPTQ_TITLE) == []
    assert check_sentences(reply, {1: abstract}, sparse, question, {1: GPTQ_TITLE})[0].supported is True
    # The same yes put on a paper that says none of it stays unsupported.
    check = check_sentences(reply.replace("GPTQ", "It"), {1: OCCUPATIONS}, sparse, question)[0]
    assert check.supported is False


class RepliesByPaper(ChatModel):
    """The LiteLLM mock, with the reply chosen per paper from the prompt (one call per paper)."""

    def __init__(self, reply_for) -> None:
        super().__init__(LLMSettings(model="openai/gpt-4o-mini", num_retries=0, timeout=30))
        self.reply_for = reply_for

    def stream(self, system: str, user: str, **overrides):
        return super().stream(system, user, mock_response=self.reply_for(user), **overrides)


TOKENIZERS = "Which papers propose new image tokenizers designed to make downstream image generation better or cheaper?"
ECHO = "The paper proposes new image tokenizers designed to make downstream image generation better or cheaper."


def test_a_list_entry_that_restates_the_question_is_replaced_by_a_sentence_of_its_abstract(seed):
    calls = []

    def reply(prompt: str) -> str:  # the first paper gets a sentence of its evidence, the others the echo
        calls.append(prompt)
        return prompt.split("\n- ")[1].splitlines()[0] if len(calls) == 1 else ECHO

    answer = with_chat(seed, RepliesByPaper(reply), list_sure_margin=0.12).ask(TOKENIZERS)  # every paper stated
    assert not answer.abstained and not answer.generation_failed and len(calls) >= 3
    assert "better or cheaper" not in answer.answer
    lines = answer.answer.split("\n\n")
    assert len(lines) == len(calls) == len(answer.citations)  # every paper stays listed
    # a quote of its abstract, marked with its source number (the stated papers need not be sources 1, 2, 3)
    assert all(line.endswith(f"” [{c.n}]") for line, c in zip(lines[1:], answer.citations[1:], strict=True))
    restated = [c for c in answer.sentences if not c.supported]
    assert len(restated) == len(calls) - 1 and all(c.reason.startswith("restates the question") for c in restated)
    for citation in answer.citations[1:]:  # each quote is its paper's own sentence, highlighted as the evidence
        abstract = seed.assistant.paper(citation.paper_id).abstract
        assert citation.evidence and citation.evidence[0] in abstract and citation.evidence[0] in answer.answer


def test_an_answer_that_only_restates_a_weakly_matched_question_abstains(seed):
    question = "Which papers in the collection do federated learning with differential privacy for fine-tuning " \
               "language models on mobile phones?"
    echo = "The paper discusses federated learning with differential privacy for fine-tuning language models."
    answer = with_reply(seed, echo).ask(question)
    assert answer.abstained and "doesn't cover this" in answer.answer and not answer.citations
    assert answer.sentences and all(not c.supported for c in answer.sentences)


def with_reply(seed, reply: str) -> Assistant:
    return with_chat(seed, ChatModel(LLMSettings(model="openai/gpt-4o-mini", num_retries=0, timeout=30),
                                     extra={"mock_response": reply}))


def with_chat(seed, chat: ChatModel, **llm) -> Assistant:
    """An assistant on the shared seed index answering with ``chat`` (and the ``llm`` settings given)."""
    base = seed.assistant
    settings = seed.settings.model_copy(update={"llm": seed.settings.llm.model_copy(update=llm)})
    return Assistant(settings, index=base.index, embedder=base.embedder, sparse=base.sparse, chat_model=chat)


def test_an_invented_figure_is_removed_and_the_kept_sentence_shows_its_evidence(seed):
    answer = with_reply(seed, "GPTQ quantizes GPT weights using approximate second-order information [1]. "
                              "It reports a BLEU score of 41.8 on WMT14 [1].").ask(QUESTION)
    assert not answer.generation_failed and answer.unsupported_removed == 1
    assert "41.8" not in answer.answer and "second-order information [1]" in answer.answer
    model_said, quoted = answer.sentences[:2], answer.sentences[2:]
    assert [c.supported for c in model_said] == [True, False]
    citation = answer.citations[0]
    assert citation.title == GPTQ_TITLE and citation.evidence and "second-order" in citation.evidence[0]
    paper = seed.assistant.paper(citation.paper_id)
    # What the statement left out follows it in the abstract's own words: here the speed-up figures, taken
    # from anywhere in the abstract (to_quote).
    assert 1 <= len(quoted) <= ONE_PAPER_QUOTES and all(c.supported and c.cited == [1] for c in quoted)
    assert all(c.evidence in paper.abstract and f"“{c.evidence}” [1]" in answer.answer for c in quoted)
    assert any(_figures(c.evidence) - _figures(model_said[0].text) for c in quoted)  # a figure it had left out
    panel = views.citation_panel(citation, paper)
    assert "**What the answer rests on**" in panel and "second-order" in panel
    assert "**" + views.literal(citation.evidence[0]) + "**" in panel  # highlighted inside the abstract


def test_a_reply_with_no_supported_sentence_falls_back_with_the_reason(seed):
    answer = with_reply(seed, "GPTQ was introduced by DeepMind in 2015 [1].").ask(QUESTION)
    assert answer.generation_failed and "no sentence of the reply is supported" in answer.answer
    assert answer.citations and "[1]" in answer.answer  # the extractive answer, cited


def test_citation_panel_without_evidence_keeps_the_supporting_passage():
    citation = Citation(n=1, paper_id="t:1", title="T", snippet="A passage.")
    panel = views.citation_panel(citation, Paper(paper_id="t:1", title="T", abstract="A passage. More."))
    assert "**Supporting passage**" in panel
