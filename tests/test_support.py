"""Every generated sentence is checked against the abstracts it cites: invented figures and names are removed."""

from __future__ import annotations

from conftest import GPTQ_TITLE

from assistant.answer.llm import ChatModel
from assistant.answer.support import check_sentences
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


def with_reply(seed, reply: str) -> Assistant:
    chat = ChatModel(LLMSettings(model="openai/gpt-4o-mini", num_retries=0, timeout=30), extra={"mock_response": reply})
    base = seed.assistant
    return Assistant(seed.settings, index=base.index, embedder=base.embedder, sparse=base.sparse, chat_model=chat)


def test_an_invented_figure_is_removed_and_the_kept_sentence_shows_its_evidence(seed):
    answer = with_reply(seed, "GPTQ quantizes GPT weights using approximate second-order information [1]. "
                              "It reports a BLEU score of 41.8 on WMT14 [1].").ask(QUESTION)
    assert not answer.generation_failed and answer.unsupported_removed == 1
    assert "41.8" not in answer.answer and "second-order information [1]" in answer.answer
    assert [c.supported for c in answer.sentences] == [True, False]
    citation = answer.citations[0]
    assert citation.title == GPTQ_TITLE and citation.evidence and "second-order" in citation.evidence[0]
    paper = seed.assistant.paper(citation.paper_id)
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
