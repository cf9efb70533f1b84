"""Text clean-up and identifiers, on snippets copied from the real Daily Papers dumps."""

from __future__ import annotations

import re

import pytest

from ingest.normalize import clean_text, extract_code_url, normalise_title, paper_id_for, parse_feed_date


@pytest.mark.parametrize(
    ("dump_text", "expected"),
    [
        ("a reduction of 30\\% in Floating Point Operations", "a reduction of 30% in Floating Point Operations"),
        ("This technical report introduces PIXART-{\\delta}, a text-to-image synthesis framework",
         "This technical report introduces PIXART-δ, a text-to-image synthesis framework"),
        ("into the advanced PIXART-{\\alpha} model.", "into the advanced PIXART-α model."),
        ("However, na\\\"{\\i}ve fine-tuning VAR leads to", "However, naïve fine-tuning VAR leads to"),
        ("algorithms -- Nystr\\\"om approximation", "algorithms -- Nyström approximation"),
        ("from Cityscapes to Dark Z\\\"urich.", "from Cityscapes to Dark Zürich."),
        ("to the ViT architecture (\\ie shift, scale", "to the ViT architecture (i.e. shift, scale"),
        ("information, \\eg, simple concatenation", "information, e.g., simple concatenation"),
        ("incurring 118\\times lower cost", "incurring 118× lower cost"),
        ("in image resolution 384times384 on ImageNet", "in image resolution 384×384 on ImageNet"),
        ("tokens\\textemdash discrete units", "tokens— discrete units"),
        ("Code Chain-of-Thought~(CodeCoT), which", "Code Chain-of-Thought (CodeCoT), which"),
        ("are publicly available at~https://github.com/microsoft/Swin-Transformer.",
         "are publicly available at https://github.com/microsoft/Swin-Transformer."),
        ("can reach O(L^{{4}/{3}}) globally", "can reach O(L^{4/3}) globally"),
        ("bound of mathcal{O}(1/n). Empirically", "bound of O(1/n). Empirically"),
        ("conditional image generation} on ImageNet 256x256", "conditional image generation on ImageNet 256x256"),
        ("GPT-4 as a ``tutor'' model", 'GPT-4 as a "tutor" model'),
    ],
)
def test_latex_residue_from_the_dumps_becomes_plain_text(dump_text, expected):
    assert clean_text(dump_text) == expected


@pytest.mark.parametrize(
    "kept",
    [
        "from its first debut in 2017 from ~100 million parameters",  # "~" meaning "about"
        "3.4~10% for clinical abbreviation",  # "~" in a range
        "Alfie: Democratising RGBA Image Generation With No $$$",  # a real title, not math
        "costs $5 and $10 per run",  # prices, not math
        "an AR process x_{t+1} = W x_t.",  # a subscript group
    ],
)
def test_text_that_only_looks_like_latex_is_kept(kept):
    assert clean_text(kept) == kept


def test_latex_from_arxiv_metadata_is_unwrapped():
    assert clean_text("\\textbf{Fast} $\\alpha$-nets in $\\mathcal{O}(n)$ \\cite{x}.") == "Fast α-nets in O(n)."
    assert clean_text("\\href{https://x.org/p}{project page}") == "project page (https://x.org/p)"
    assert clean_text("Caf\\'e \\c{c}a \\emph{PIXART-{\\delta}}") == "Café ça PIXART-δ"


def test_a_url_followed_by_a_flattened_href_label_keeps_the_url_whole():
    dumped = "Our project page is available https://anonymous0x233.github.io/ReuseAndDiffuse/{here}."
    assert "https://anonymous0x233.github.io/ReuseAndDiffuse/ here." in clean_text(dumped)


def test_whitespace_and_hard_line_breaks_collapse_and_unicode_is_nfkc():
    assert clean_text("  Calculation of prompt diphoton\n  production\tat ﬁve  energies ") == (
        "Calculation of prompt diphoton production at five energies"
    )
    assert clean_text("") == ""


@pytest.mark.parametrize(
    ("glued", "fixed"),
    [
        ("retrieve the lost information back.To keep input", "retrieve the lost information back. To keep input"),
        ("termed GPT-Talker.We transform the", "termed GPT-Talker. We transform the"),
        ("lower latency.Codes are publicly available", "lower latency. Codes are publicly available"),
    ],
)
def test_missing_space_after_a_sentence_is_restored(glued, fixed):
    assert clean_text(glued) == fixed


@pytest.mark.parametrize(
    "untouched",
    [
        "abbreviations e.g.The and i.e.We stay",
        "scores of 3.5 and 1.80 stay",
        "see https://github.com/apple/corenet.Projects/tree and www.example.org/Deep.Learning",
        "write to first.Last@example.org",
        "the U.S.Army and ASP.NET stay",
    ],
)
def test_dots_inside_numbers_urls_and_abbreviations_get_no_space(untouched):
    assert clean_text(untouched) == untouched


@pytest.mark.parametrize(
    ("abstract", "code_url"),
    [
        ("we will release the source code (https://github.com/alibaba/graph-gpt) and pre-trained checkpoints.",
         "https://github.com/alibaba/graph-gpt"),
        ("The implementation is available at https://github.com/IST-DASLab/gptq.", "https://github.com/IST-DASLab/gptq"),
        ("Our code will be available at https://github.com/VinAIResearch/LFM.git.",
         "https://github.com/VinAIResearch/LFM.git"),
        ("(Code: https://github.com/yitu-opensource/T2T-ViT)", "https://github.com/yitu-opensource/T2T-ViT"),
        ("code at https://github.com/apple/corenet/tree/main/projects/kv-prediction",
         "https://github.com/apple/corenet/tree/main/projects/kv-prediction"),
        ("weights on huggingface.co/org/model; code on gitlab.com/a/b.", "https://huggingface.co/org/model"),
        ("Project page: https://techmonsterwang.github.io/LiT/", None),  # a project page, not code
        ("No link at all.", None),
    ],
)
def test_first_code_link_is_extracted_without_trailing_punctuation(abstract, code_url):
    assert extract_code_url(abstract) == code_url


def test_title_normalisation_ignores_case_width_and_spacing():
    assert normalise_title("  PIXART-δ:  Fast and\nControllable ") == "pixart-δ: fast and controllable"
    assert normalise_title("Scaling Diffusion Transformers Efficiently via µP") == normalise_title(
        "scaling diffusion transformers efficiently via μP"
    )  # MICRO SIGN and GREEK MU are one letter after NFKC


@pytest.mark.parametrize(
    "reference",
    ["2210.17323", "2210.17323v2", "arXiv:2210.17323", "https://arxiv.org/abs/2210.17323v1",
     "http://arxiv.org/pdf/2210.17323v3.pdf"],
)
def test_every_form_of_an_arxiv_reference_gives_one_id(reference):
    assert paper_id_for("GPTQ", reference) == "arxiv:2210.17323"


def test_old_style_arxiv_ids_are_recognised():
    assert paper_id_for("x", "hep-th/9901001v2") == "arxiv:hep-th/9901001"
    assert paper_id_for("x", "math.GT/0309136") == "arxiv:math.GT/0309136"


def test_without_an_arxiv_id_the_id_hashes_the_normalised_title():
    paper_id = paper_id_for("Pointer Networks")
    assert re.fullmatch(r"t:[0-9a-f]{16}", paper_id)
    assert paper_id_for("  pointer   NETWORKS ") == paper_id
    assert paper_id_for("Pointer Networks", "not-an-arxiv-id") == paper_id
    assert paper_id_for("Pointer Nets") != paper_id


@pytest.mark.parametrize(
    ("line", "year", "expected"),
    [
        ("Mar 13", None, ("Mar 13", 313)),
        ("Aug 20", 2024, ("Aug 20", 20240820)),
        ("March 13, 2024", None, ("March 13, 2024", 20240313)),
        ("2024-03-13", None, ("2024-03-13", 20240313)),
        ("2024-03-13T09:30:00Z", None, ("2024-03-13T09:30:00Z", 20240313)),
        ("Mon, 2 Apr 2007 19:18:42 GMT", None, ("Mon, 2 Apr 2007 19:18:42 GMT", 20070402)),
        (" Feb 29 ", None, ("Feb 29", 229)),
    ],
)
def test_feed_dates_parse_to_a_sortable_day(line, year, expected):
    assert parse_feed_date(line, year) == expected


@pytest.mark.parametrize(
    "line", ["Pointer Networks", "Subscribe", "Feb 30", "2023-02-29", "Mar 13 and more", "Attention 12", ""]
)
def test_lines_that_are_not_dates_give_none(line):
    assert parse_feed_date(line) is None
