"""The user-style evaluation set (issue 12): questions worded the way people ask, not the way abstracts read.

`python -m evals.user_set` writes `evals/datasets/user.jsonl` from the seed feeds and the question specs
below, deterministically; `python -m evals.user_set --check` writes nothing, says whether that file is up to
date and prints the overlap distribution of the single-paper questions and the recall@1 BM25 alone gets on them.

Four kinds of case:
- single: one paper, asked about by someone who has not read it (synonyms, everyday words, no paper name).
  Each stores `overlap`, the share of its content words found in the gold title+abstract; a single at
  or above `MAX_SINGLE_OVERLAP` is refused.
- list: "which papers ..."; the gold set is computed by a `Topic` rule over every title+abstract.
- filter: a question whose wording states a filter (a feed date, "with code", "since mid-March"); the gold
  set is every paper that passes the filter and, when the question names one, the topic rule.
- filter, as a conversation (`turns`, ids c001…): a listing narrowed by follow-ups in words ("Which of those
  have code?", "And which of them were in the Mar 14 feed?"); the gold set is every paper of the first question's
  topic that passes the filters said since. Written after the engine learnt to keep such filters (README).
Every third case of each type is held out of tuning (`split: "heldout"`).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assistant.core.models import Paper
from assistant.core.text import normalise_title
from evals.dataset import EvalCase
from ingest import dedupe, iter_records, iter_source_files, parse_feed_date

__all__ = [
    "FILTERS",
    "NARROWINGS",
    "LISTS",
    "MAX_SINGLE_OVERLAP",
    "OUTPUT",
    "SINGLES",
    "STOPWORDS",
    "TOPICS",
    "Topic",
    "UserSetError",
    "bm25_ranks",
    "build_cases",
    "build_filters",
    "build_narrowings",
    "build_lists",
    "build_singles",
    "check_report",
    "content_words",
    "describe_filters",
    "find_paper",
    "light_stem",
    "load_seed_papers",
    "passes_filters",
    "question_overlap",
    "render_dataset",
]

REPO = Path(__file__).resolve().parents[1]
FEEDS_DIR = REPO / "data" / "feeds"
OUTPUT = REPO / "evals" / "datasets" / "user.jsonl"
MAX_SINGLE_OVERLAP = 0.35
LIST_SIZE = (3, 10)
FILTER_SIZE = (1, 15)


class UserSetError(ValueError):
    """A spec that cannot become a case: names no paper, too close to its abstract, wrong gold size."""


# ---------------------------------------------------------------------------------------------
# The papers


def load_seed_papers(folder: Path = FEEDS_DIR) -> list[Paper]:
    """The seed feeds parsed by the project's own ingest parser, one Paper per paper with every feed it was in."""
    records = []
    for path in iter_source_files([folder]):
        for record in iter_records(path):
            if not isinstance(record, Paper):
                raise UserSetError(f"the seed feeds do not parse cleanly: {record}")
            records.append(record)
    return list(dedupe(records).values())


def find_paper(papers: Sequence[Paper], title_start: str) -> Paper:
    """The one paper whose title starts with ``title_start`` (compared normalised)."""
    key = normalise_title(title_start)
    found = [p for p in papers if normalise_title(p.title).startswith(key)]
    if len(found) != 1:
        raise UserSetError(f"{title_start!r} names {len(found)} papers, not one")
    return found[0]


# ---------------------------------------------------------------------------------------------
# Content words and overlap

# English function words (NLTK's list plus contraction pieces); never counted as content words.
STOPWORDS = frozenset("""
a about above after again against ain all am an and any are aren as at be because been before being below
between both but by can couldn d did didn do does doesn doing don down during each few for from further had
hadn has hasn have haven having he her here hers herself him himself his how i if in into is isn it its itself
just ll m ma me mightn more most mustn my myself needn no nor not now o of off on once only or other our ours
ourselves out over own re s same shan she should shouldn so some such t than that the their theirs them
themselves then there these they this those through to too under until up ve very was wasn we were weren what
when where which while who whom why will with won wouldn y you your yours yourself yourselves
""".split())

_TOKEN_RE = re.compile(r"[a-z0-9]+")


def light_stem(word: str) -> str:
    """Strip one inflection, then a final 'e': 'trained', 'training', 'trains' and 'train' all become 'train'.

    Only '-ing' (stem of 3+ letters left), '-ed' (3+), a plural '-s' (not '-ss', 3+) and then a final '-e'
    (3+) are removed, so 'images'/'imaging'/'image' meet at 'imag'. Numbers are left alone.
    """
    if word.isdigit():
        return word
    if word.endswith("ing") and len(word) >= 6:
        word = word[:-3]
    elif word.endswith("ed") and len(word) >= 5:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) >= 4:
        word = word[:-1]
    if word.endswith("e") and len(word) >= 4:
        word = word[:-1]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased alphanumeric tokens, minus `STOPWORDS`, each passed through `light_stem`."""
    return {light_stem(token) for token in _TOKEN_RE.findall(text.lower()) if token not in STOPWORDS}


def question_overlap(question: str, paper: Paper) -> float:
    """|content words of the question ∩ those of the title+abstract| / |content words of the question|."""
    asked = content_words(question)
    if not asked:
        raise UserSetError(f"question {question!r} has no content words")
    return len(asked & content_words(f"{paper.title}\n{paper.abstract}")) / len(asked)


# ---------------------------------------------------------------------------------------------
# Topic rules and filters


@dataclass(frozen=True)
class Topic:
    """A gold-set rule: a regex over the title (or title+abstract), with hand overrides where it is wrong.

    ``include``/``exclude`` map a title start to the reason for the override; the reasons are part of the
    written rule so that a reader of the dataset sees them too.
    """

    pattern: str
    where: Literal["title", "text"] = "text"  # "text" is title + abstract
    min_hits: int = 1
    also: str | None = None  # a second regex that title+abstract must match too
    include: dict[str, str] = field(default_factory=dict)
    exclude: dict[str, str] = field(default_factory=dict)

    def matches_rule(self, paper: Paper) -> bool:
        full = f"{paper.title}\n{paper.abstract}"
        text = paper.title if self.where == "title" else full
        if self.also and not re.search(self.also, full, flags=re.IGNORECASE):
            return False
        return len(re.findall(self.pattern, text, flags=re.IGNORECASE)) >= self.min_hits

    def papers(self, papers: Sequence[Paper]) -> list[Paper]:
        """The papers of the topic, in collection order."""
        included = {find_paper(papers, t).paper_id for t in self.include}
        excluded = {find_paper(papers, t).paper_id for t in self.exclude}
        # An override the rule no longer needs is stale: say so rather than carry it silently.
        for title in self.exclude:
            if not self.matches_rule(find_paper(papers, title)):
                raise UserSetError(f"exclude {title!r}: the rule does not match it anyway")
        for title in self.include:
            if self.matches_rule(find_paper(papers, title)):
                raise UserSetError(f"include {title!r}: the rule matches it already")
        return [p for p in papers
                if p.paper_id not in excluded and (self.matches_rule(p) or p.paper_id in included)]

    def describe(self) -> str:
        where = "the title" if self.where == "title" else "title+abstract"
        times = f" at least {self.min_hits} times" if self.min_hits > 1 else ""
        text = f"regex /{self.pattern}/i matches {where}{times}"
        if self.also:
            text += f", and /{self.also}/i matches title+abstract"
        text += "".join(f"; plus {t!r} ({why})" for t, why in self.include.items())
        text += "".join(f"; minus {t!r} ({why})" for t, why in self.exclude.items())
        return text


def _feed_day(label: str) -> int:
    parsed = parse_feed_date(label)
    if parsed is None:
        raise UserSetError(f"{label!r} is not a feed date")
    return parsed[1]


def passes_filters(paper: Paper, filters: dict[str, Any]) -> bool:
    """True when the paper passes every stated filter.

    ``feeds``: seen in at least one of these feeds; ``all_feeds``: seen in every one of them; ``min_feeds``:
    seen in at least that many feeds; ``since``/``before``: seen in a feed dated on or after / before that
    day (feeds carry no year, so 'Aug 20' counts as after 'Mar 17', as the index's sortable day does);
    ``has_code``: the paper links its code (or does not).
    """
    days = [s.day for s in paper.sightings if s.day is not None]
    checks = {
        "feeds": lambda wanted: bool(set(paper.feeds) & set(wanted)),
        "all_feeds": lambda wanted: set(wanted) <= set(paper.feeds),
        "min_feeds": lambda count: len(paper.feeds) >= count,
        "since": lambda label: any(day >= _feed_day(label) for day in days),
        "before": lambda label: any(day < _feed_day(label) for day in days),
        "has_code": lambda wanted: bool(paper.code_url) == wanted,
    }
    unknown = set(filters) - set(checks)
    if unknown:
        raise UserSetError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    return all(checks[name](value) for name, value in filters.items())


def describe_filters(filters: dict[str, Any]) -> str:
    """The filter in words, e.g. 'seen in the Mar 13 feed and links its code'."""
    words = {
        "feeds": lambda v: "seen in the " + " or ".join(v) + " feed",
        "all_feeds": lambda v: "seen in every one of the " + ", ".join(v) + " feeds",
        "min_feeds": lambda v: f"seen in at least {v} feeds",
        "since": lambda v: f"seen in a feed dated {v} or later",
        "before": lambda v: f"seen in a feed dated before {v}",
        "has_code": lambda v: "links its code" if v else "links no code",
    }
    return " and ".join(words[name](value) for name, value in filters.items())


# ---------------------------------------------------------------------------------------------
# The specs

# (title start, question). Worded by someone who has not read the paper: everyday words and synonyms
# instead of the abstract's terms, never the paper's name.
SINGLES: list[tuple[str, str]] = [
    ("GPTQ:", "Can I squeeze a huge chatbot into fewer bits per number after it has already been built, with no "
              "retraining, so it fits on one graphics card?"),
    ("FuseGPT:", "When you cut whole layers out of a big text model to slim it down, can what those layers knew be "
                 "folded into their neighbours instead of thrown away?"),
    ("Group Diffusion Transformers", "Is there a picture generator that picks up lots of jobs, like comic pages, "
                                     "lettering or colouring in sketches, just by making sets of matching pictures "
                                     "together, without labelled examples for each job?"),
    ("TEMPO:", "Could a chatbot-style pretrained net predict next month's sales by pulling apart the long-run drift "
               "and the yearly cycles?"),
    ("TED-VITON:", "I want to see how a shirt would look on me in a photo, with the logo lettering on the shirt "
                   "staying sharp. Anything newer built on the latest picture generators?"),
    ("DiffFashion:", "A tool that designs new clothes by taking the look of any reference picture, say a leopard "
                     "painting, and putting it on a garment while keeping the garment's cut?"),
    ("IconShop:", "Can I type a description and get back a small editable drawing for an app, made of strokes rather "
                  "than pixels?"),
    ("Stretching Each Dollar", "How cheaply can someone train their own text-to-picture generator from nothing, like "
                               "under two thousand bucks, by hiding most of each picture while it learns?"),
    ("MaskGCT:", "Voice cloning read-aloud system that needs no lining up of letters with sounds and no guessing how "
                 "long each sound lasts, filling blanks in parallel instead?"),
    ("Future Token Prediction", "Rather than betting on one following piece of text, can a chatbot's inner "
                                "representation look several steps ahead so what it writes stays coherent?"),
    ("SpecMaskGIT:", "Fast sound-effect maker from a written description that runs live on a laptop processor, in "
                     "about a dozen refinement rounds?"),
    ("MoDeGPT:", "Can I shrink an open chatbot using only textbook linear-algebra factorisations, with no backprop "
                 "pass afterwards?"),
    ("StyleSinger:", "Can a vocal synthesizer copy the manner of a singer it has never heard, from one sample clip?"),
    ("Automating Human Tutor-Style", "Using one strong chatbot to write tips for students stuck on broken homework "
                                     "and a weaker one to check whether those tips actually help?"),
    ("One-Step Diffusion Distillation", "Turning a slow many-pass denoiser into a one-shot picture maker without any "
                                        "of the original photos?"),
    ("Tell What You Hear", "Given a silent clip, can a system produce matching noises and also say in words what the "
                           "sound should be, steerable by a written hint?"),
    ("Large Language Models (GPT) Struggle", "Do chatbots like ChatGPT do worse on quiz questions from intro coding "
                                             "classes when the question shows a piece of a program?"),
    ("Alfie:", "How can I get a picture generator to output clip-art with a see-through backdrop that I can drop into"
               " my slides, without paying for extra training?"),
    ("LLM Teacher-Student", "Can a big chatbot sort newspaper stories in Balkan languages by subject, so a cheaper "
                            "little one learns from its tags with no people involved?"),
    ("PhiP-G:", "Typing a description of a room and getting a 3D arrangement where furniture doesn't float or sink "
                "into each other, respecting gravity?"),
    ("FlexTok:", "Turn a picture into a short list of codes whose length adapts to how busy it is, a plain one "
                 "needing just a couple?"),
    ("ITI-GEN:", "My picture generator keeps drawing mostly light-skinned people for 'a doctor'; can a few example "
                 "photos steer it toward a fair spread of groups?"),
    ("EfficientFormer:", "Attention-style photo recognisers that are as snappy on a phone as the lightweight convnets"
                         " made for handsets?"),
    ("SANSformers:", "Predicting how often people will need to see a doctor from their past records, with a net that "
                     "skips attention altogether?"),
    ("GEO:", "If AI search assistants answer questions directly, how can a website owner make their page more likely "
             "to be quoted in those answers?"),
    ("In-Context LoRA", "Can a picture generator make a consistent set of related pictures, like a storyboard, if I "
                        "just stitch them into one canvas and fine-tune a small adapter on a few dozen examples?"),
    ("Plug-and-Play Diffusion Features", "Turn my doodle into a lifelike photo from a text instruction while keeping "
                                         "where things sit, by reusing the generator's internal maps, no extra "
                                         "learning?"),
    ("Scaling Diffusion Transformers to 16", "What happens when a picture denoiser is split into many specialist "
                                             "sub-networks with a router, grown to over 16 billion weights?"),
    ("TransHuman:", "Rendering people from new camera angles, even people the system never saw, from multi-camera "
                    "footage and a body template?"),
    ("Multi-subject Open-set", "Can I make a clip that features my dog and my friend together somewhere, just from a "
                               "few photos of each, without tuning per person?"),
    ("SADM:", "Guessing how someone's body scans will look next year from a series of earlier scans with gaps in it?"),
    ("LABOR-LLM:", "Can a chatbot fine-tuned on people's work histories guess what job someone moves to next better "
                   "than economists' usual tools?"),
    ("GenerateCT:", "Is there something that makes realistic volumetric lung scans from a radiology report?"),
    ("MotionLab:", "One system that can both create and tweak animated character movement, e.g. turn a walk into a "
                   "jog, instead of separate tools per job?"),
    ("Modeling and design of heterogeneous", "Can AI invent new printable lattices modelled on what arachnids weave?"),
    ("Pretraining Language Models with Human", "Instead of fixing a chatbot's bad habits at the end, can you teach it"
                                               " manners from the very start by tagging its reading material with a "
                                               "good/bad score?"),
    ("Paraformer:", "Is there a speech-to-text system for Mandarin that writes out the whole sentence at once instead"
                    " of word by word, without losing accuracy?"),
    ("Pointer Networks", "Which neural net answers by picking items from its own input, e.g. to solve the shortest "
                         "round trip between cities or wrap dots in a hull?"),
    ("A ConvNet for the 2020s", "Can an old-school ResNet, updated with modern design tricks, beat the "
                                "attention-based vision backbones?"),
    ("Towards Revealing the Mystery", "Why does making a chatbot write out its working before answering help on sums?"
                                      " Is there a formal argument?"),
    ("What Algorithms can Transformers", "When can a net taught on short sums still add much longer numbers? Is there"
                                         " a rule of thumb based on how short a program for the job is?"),
    ("Long Range Arena", "Is there a standard test suite to compare the many cheap attention variants on really long "
                         "inputs, up to 16 thousand symbols?"),
    ("LayoutPrompter:", "Can ChatGPT arrange the elements of a poster or an app screen if I show it a few good "
                        "examples, with no training?"),
    ("Theme Transformer:", "An AI composer that keeps coming back to a melody I give it, repeating and developing it "
                           "through the piece rather than just carrying on from it?"),
    ("Improving Length-Generalization", "A net that learned to put lists of up to 20 numbers in order falls apart on "
                                        "lists of 100; does practising an easier side job at the same time help?"),
    ("Generative Teaching Networks", "Could a net learn to make fake practice examples that let other nets learn "
                                     "super fast, to speed up automatic design search?"),
    ("RealRAG:", "Picture generators botch brand-new vehicles they've never seen; is there a method that looks up "
                 "real photos before drawing?"),
    ("Regression Transformer:", "One network that both guesses a chemical's traits and suggests fresh chemicals "
                                "hitting a target value, treating numbers like words?"),
    ("RAFT:", "Is there a simpler alternative to the RL step in chatbot alignment: generate lots of answers, keep the"
              " best-scoring ones and fine-tune on them?"),
    ("Rewards Are Enough", "Can a fast few-pass picture maker be trained purely by chasing a scoring model's "
                           "approval, dropping the usual denoising losses?"),
    ("Adapt then Unlearn:", "How do I stop a face-making adversarial net from producing, say, people with glasses, "
                            "when I no longer have its original photos?"),
    ("You Only Submit One Image", "With thousands of picture-making checkpoints on community sites, can I give a "
                                  "single sample and be told which checkpoint would produce pictures like it?"),
    ("Self-Consuming Generative Models", "If people keep picking their favourite AI pictures, those get posted online"
                                         " and the next system learns from them, does that loop end up tuning it "
                                         "toward what people like?"),
    ("Prompting Forgetting:", "Can I make a face generator forget a particular person, or beards, just by describing "
                              "it in words?"),
    ("Evaluating Prompt-based Question", "Can a chatbot complete missing entries in a catalogue of academic results?"),
    ("Probabilistic Programming with", "A Bayesian modelling toolkit that lets me plug in my own fitting criteria for"
                                       " approximate inference instead of a built-in list?"),
    ("Transformers Struggle to Learn to Search", "Can a small attention net learn to tell whether one node can reach "
                                                 "another in a network, and does making it bigger help?"),
    ("EnergonAI:", "What software helps me serve a model with tens of billions of weights split over a few graphics "
                   "cards, with less delay?"),
    ("KV Prediction", "My on-device chatbot takes ages before it prints its first word on long prompts; can a smaller"
                      " helper model prefill the memory for the big one?"),
    ("GameGen-X:", "AI that produces gameplay footage of sandbox titles and lets you steer the hero with a "
                   "controller?"),
    ("Few-shot learning for automated content", "Are a handful of labelled examples enough to teach a system to spot "
                                                "pro and con arguments in German press coverage of sending weapons to"
                                                " Kyiv?"),
    ("Brain Captioning:", "Can scans of someone's head while they look at pictures be turned into a written "
                          "description of what they saw?"),
    ("LTX-Video:", "Is there a text-to-clip generator that makes footage faster than it takes to watch it, by "
                   "squeezing the frames extremely hard?"),
    ("Robust Training Using Natural", "How do I make a photo recogniser stop breaking when the scene gets darker or "
                                      "brighter, by having a generator invent realistic versions of its examples?"),
    ("FlatFormer:", "Quickest attention-based lidar perception for robo-taxis, real-time on a small in-car chip?"),
    ("LMUFormer:", "Is there a brain-like, energy-frugal network that digests data bit by bit as it arrives yet "
                   "rivals transformers?"),
    ("Contrastive Latent Space Reconstruction", "How do I search a library of sound clips by typing a description? "
                                                "What's a good way to match clips with captions?"),
    ("HyperStyle:", "How can I quickly put my own photo into a face generator so I can edit age or smile, without "
                    "hours of per-photo tuning?"),
    ("Extreme Image Compression", "How can I store photos at an incredibly tiny file size, a few hundredths of a bit "
                                  "per pixel, and still have them look OK?"),
    ("RestoreFormer++:", "How do I repair old, blurry, damaged portraits when we don't know what damaged them?"),
    ("Delving into Masked Autoencoders", "Can self-supervised warm-up on a quarter-million lung radiographs make "
                                         "attention-based vision nets as good as CNNs at spotting several chest "
                                         "illnesses at once?"),
    ("ID Preserving Generative Adversarial", "Rebuilding smudged partial finger marks lifted at crime scenes so they "
                                             "can be matched to a suspect?"),
    ("Optimizing ViViT Training", "Cheaper way to teach a clip classifier to recognise actions by freezing the "
                                  "per-frame part and only training the part that looks across time?"),
    ("MemoryFormer:", "Could an LLM skip most of its multiply-adds by looking results up in memory buckets instead of"
                      " dense layers?"),
    ("Denoising Vision Transformers", "Why are there strange checkerboard blotches in the per-patch features of "
                                      "pretrained vision backbones, and can I strip them out after the fact?"),
    ("Deep Optimal Transport", "My deblurring net's results look smooth and fake; with only a handful of them, can I "
                               "make it look more photographic without retraining?"),
    ("RecurrentGPT:", "Can a chatbot write an endless story that never forgets earlier chapters, by keeping a running"
                      " notebook a person can tweak?"),
    ("GenConViT:", "Best model to tell whether a face-swap clip is fake?"),
    ("Keyformer:", "During long replies, can an assistant drop most of what it has cached and keep only the few "
                   "positions that matter?"),
    ("CodeCoT and Beyond", "Getting a chatbot to write its own unit tests for the function it wrote and to fix the "
                           "function when those tests fail?"),
    ("mGPT:", "An autoregressive chatbot covering sixty tongues, including small ethnic ones of the former Soviet "
              "Union?"),
    ("How Does Generative Retrieval Scale", "Can a neural net memorise a whole search collection and output document "
                                            "IDs directly, and does that still work with millions of web snippets?"),
    ("Accountable Textual-Visual Chat", "A picture-editing chatbot that says no, and explains why, when an "
                                        "instruction can't be done?"),
    ("NLEBench+NorGLM:", "How good are text generators in a small Scandinavian language spoken in Oslo? Any test "
                         "suite?"),
    ("Beyond the Imitation Game:", "Is there a giant crowd-sourced collection of hundreds of tasks, written by "
                                   "hundreds of contributors, meant to probe what chatbots can't do yet?"),
    ("Using DeepSpeed and Megatron", "How was the half-trillion-weight text network from two big US tech firms put "
                                     "together, hardware-wise?"),
    ("AriEL:", "Storing each utterance as a whole chunk of a smooth hidden area instead of a single dot, so that "
               "picking at random gives grammatical output?"),
    ("A Methodology for Generative Spelling", "Teaching a writing assistant to fix typos by sprinkling realistic "
                                              "fat-finger slips into clean prose, for Russian too?"),
    ("Teaching Arithmetic to Small", "How do tiny nets taught from nothing learn to add and multiply numbers, and "
                                     "does writing out the carry steps help?"),
    ("Set-Based Prompting:", "Chatbots change their pick when I reorder the options in a quiz; can that sensitivity "
                             "be removed for sure?"),
    ("The Neglected Tails", "Why do image-text matchers flop on obscure animals, and does tallying how rarely they're"
                            " mentioned online explain it?"),
    ("Large Concept Models:", "Can an AI write by forecasting whole ideas, one statement at a time, instead of "
                              "subword units?"),
    ("AlphaViT:", "One self-taught player for several classic tabletop games that copes with grids of any dimension?"),
    ("SliceGPT:", "Can I cut a quarter of the hidden width of a huge chatbot after the fact so it fits on smaller "
                  "graphics cards?"),
    ("Neuroformer:", "Something like GPT for recordings of rodent neurons firing, which can forecast what the animal "
                     "does?"),
    ("Branch-Train-Merge:", "Instead of one giant synchronised training run, train separate small text models per "
                            "field (law, science) and merge them later?"),
    ("Yi:", "Tell me about the open bilingual chat models from Kai-Fu Lee's startup, the thirty-four billion one with"
            " a huge memory window?"),
    ("An Image is Worth 32 Tokens", "Can a photo be boiled down to just thirty-two codes in a single row, not a grid,"
                                    " and still be redrawn well?"),
    ("HAT: Hybrid Attention", "Best way to upscale low-res photos by combining two kinds of attention so more of the "
                              "surrounding pixels get used?"),
    ("Align your Latents", "Turning an existing still-picture generator into one that makes coherent high-res "
                           "dashcam-style clips by adding a time layer?"),
    ("kMaX-DeepLab:", "Borrowing classic centroid clustering to decide which pixel goes with which object slot when "
                      "labelling every thing and stuff in a scene?"),
    ("LARP:", "A way to turn footage into discrete codes, shaped while it learns so that a left-to-right generator "
              "finds them easy to produce?"),
    ("HiFi-SR:", "How do I make a muffled phone-quality voice recording sound crisp and full-band?"),
    ("LatentSpeech:", "Reading text aloud with a denoising generator working in a compact hidden space instead of "
                      "spectrogram pictures?"),
    ("Controlling the Latent Diffusion Model", "Removing shadows from photos with a pretrained picture generator but "
                                               "without it hallucinating changes to the rest of the picture?"),
    ("GridFormer:", "Turn a scan of scattered 3D dots into a smooth watertight surface, mixing a regular voxel "
                    "lattice with the raw dots?"),
    ("GraphGPT:", "Turning molecules and networks into token strings by walking each edge exactly once, so a "
                  "chatbot-style net can be pretrained on them?"),
    ("Generative Modeling of Regular and Irregular", "Making up realistic sensor logs, even with patchy timestamps, "
                                                     "from a probabilistic encoder-decoder whose hidden state evolves"
                                                     " by a fixed matrix?"),
    ("Scaling Laws for Autoregressive", "Does bigger-is-better follow the same predictable curve for pictures, clips "
                                        "and maths as it does for text?"),
    ("Distribution Transformers:", "Can a neural net instantly update beliefs when new sensor readings arrive, even "
                                   "if my starting assumptions change, without re-fitting?"),
    ("Gateformer:", "Predicting many interlinked meter readings at once, electricity or road traffic, with gates "
                    "controlling how much each signal shares?"),
    ("Augmentation-Aware Self-Supervision", "Training a GAN on only a few hundred photos: the judge net overfits; "
                                            "does asking it to guess which augmentation was applied help?"),
    ("Subject-driven Text-to-Image", "A cheaper way to put my own pet into new generated scenes, using a learned "
                                     "liking score that tells you when to stop?"),
    ("Generative Causal Representation", "Predicting where pedestrians will walk in a new city the model wasn't "
                                         "trained on, using cause-and-effect modelling?"),
    ("Visual Autoregressive Modeling:", "Picture making that guesses a blurry thumbnail first and then ever sharper "
                                        "versions, instead of patch by patch, and beats denoisers?"),
    ("One-Shot Generative Domain Adaptation", "Adapting a face generator to a fresh painting look from a single "
                                              "sample?"),
    # Seventeenth session: 48 more, written after every tuning choice so far (none tuned on them).
    ("3D representation in 512-Byte", "Roughly how far can a one-megabyte 3D mesh be squeezed into codes for a "
                                      "next-piece shape generator, and how accurate is it afterwards?"),
    ("A Multi-Level Framework for Accelerating", "Can I cut the bill for pretraining a BERT-sized encoder by first "
                                                 "training a squashed, narrower copy and then unfolding its weights "
                                                 "into the full one? How much does it save?"),
    ("ACDiT:", "Is there a picture and clip generator that sits halfway between writing the output piece by piece and "
               "denoising all of it at once, with an adjustable chunk size?"),
    ("Analyzing Transformer Dynamics", "Is there a theory that a chatbot's cleverness is nothing but the odds of the "
                                       "trails it walks through its embedding geometry, with the prompt only narrowing "
                                       "which trails get picked?"),
    ("Best of Both Worlds:", "Should I use attention or a state-space style recurrence when treating a graph as "
                             "sequences, and is mixing them better?"),
    ("Bridging Different Language Models", "Can I swap the text-understanding part of a picture generator for a newer "
                                           "chatbot like Llama, without touching either one's original weights?"),
    ("Channel Vision Transformers", "Microscope and satellite pictures come with lots of separate bands, and some may "
                                    "be missing at test time; is there an attention-based classifier that treats each "
                                    "band on its own?"),
    ("Conditional Cross Attention Network", "Fashion photo search on one attribute at a time, like only the sleeve cut "
                                            "or only the colour, without training a separate net per attribute?"),
    ("CorpusBrain:", "For fact checking and open-domain QA, can the search step be replaced by one pretrained model "
                     "that writes out the relevant Wikipedia page's name directly, with no index at all?"),
    ("DDMI:", "One generator for pictures, 3D objects, NeRFs and clips alike, treating each as a smooth "
              "coordinate-to-value mapping instead of a pixel grid?"),
    ("Diffscaler:", "Can a single pretrained image denoiser be stretched to several new datasets at once by learning "
                    "only a tiny set of extra weights per job?"),
    ("Disentanglement via Latent Quantization", "How do I get an autoencoder to keep factors like colour, size and "
                                                "position in separate codes? Would rounding each hidden coordinate to "
                                                "a few learned values help?"),
    ("DSFormer:", "How much further can a BERT-style model be shrunk if each weight matrix is written as a small full "
                  "matrix times a partly-zero one, compared with plain low-rank?"),
    ("Efficient Long-Range Transformers", "Global mixing in just a handful of layers of a long-text model, local "
                                          "elsewhere: how much cheaper does that get?"),
    ("Examining User-Friendly", "Review of lightweight, freely downloadable alternatives to the big closed chatbots?"),
    ("Fine-Tuning Visual Autoregressive", "Teaching a coarse-to-fine, resolution-by-resolution picture generator my "
                                          "own teddy bear from a handful of photos, quicker than with denoisers?"),
    ("FMViT:", "Which deployment-friendly image backbone blends fine and coarse detail and beats ResNet-101 by a "
               "couple of points at equal speed on Nvidia's inference engine? What's its score?"),
    ("Generative AI for Autonomous Driving", "Any overview of how the new content-making models, from GANs to "
                                             "chatbots, could help robot cars, like faking rare road situations for "
                                             "testing?"),
    ("Generative Pretrained Hierarchical", "A single pretrained predictor for electricity and traffic logs that rolls "
                                           "forward one chunk at a time so any look-ahead length works, trained on a "
                                           "pile of varied sources?"),
    ("GPT4Video:", "How much does a chatbot that both watches and makes clips beat earlier ones at video Q&A?"),
    ("High-Resolution Image Synthesis", "Where did the idea come from of having the noise-removal picture maker work "
                                        "in a compressed code instead of raw pixels, to slash what it costs to train?"),
    ("Hybrid Distillation:", "Can one network get the crisp overall features of contrastive pretraining plus the "
                             "varied local focus of hide-and-rebuild pretraining, by imitating two different "
                             "pretrained nets at once?"),
    ("In-Context Learning through the Bayesian", "Do attention nets that pick up a mapping from examples in the prompt "
                                                 "behave like the textbook optimal Bayes estimator, even for sums of "
                                                 "sines?"),
    ("iTransformer:", "Is there a forecaster that keeps the standard transformer parts untouched and simply swaps the "
                      "axes, one token per variable instead of per time step, so longer look-back windows actually "
                      "help?"),
    ("LaVin-DiT:", "How many vision jobs can one big denoising generalist do just from demo input/output pairs, and up "
                   "to how many weights was it grown?"),
    ("LiT:", "Picture denoiser whose cost grows only linearly with image size, initialised from a full one: what "
             "fraction of the training time does it save?"),
    ("Lumina-mGPT:", "Can a plain decoder-only chatbot architecture, trained on mixed text and pictures, draw "
                     "photoreal pictures of any size and also do depth estimation?"),
    ("MatterGPT:", "Inventing new inorganic crystals that hit several targets at once, like conductivity and "
                   "stability, by having a chatbot-style generator spell them out character by character?"),
    ("MiniGPT-4:", "Roughly how much caption data did it take to bolt a locked photo encoder onto an open chatbot with "
                   "a single bridging layer?"),
    ("NViST:", "Can I render unseen angles of an object from one casual snapshot with clutter behind it, in a single "
               "shot with no per-scene fitting?"),
    ("Pix2Shape:", "Recovering a scene's 3D geometry from a lone picture without any depth or shape labels, by "
                   "rendering tiny surface discs and training adversarially?"),
    ("Position Prediction as an Effective", "Pretraining by having the net guess where each patch belongs, instead of "
                                            "filling in blanks?"),
    ("Pyramid Vision Transformer:", "How much better than a ResNet-50 is an all-attention backbone with multi-scale "
                                    "outputs for spotting objects in COCO with a standard one-stage detector, at the "
                                    "same size?"),
    ("Reinforcement Learning for Generative AI", "Is there a broad review of using reward-driven tuning on generators "
                                                 "of prose, pictures and more, as opposed to just maximising "
                                                 "likelihood?"),
    ("RepQuant:", "Compressing big attention models to fewer bits after training without redoing it: can elaborate "
                  "rounding schemes be folded into simple chip-friendly rounding at run time, so the normalisation and "
                  "softmax outputs survive?"),
    ("RestoreX-AI:", "By how much does checking whether de-weathered photos actually help a car's object detector "
                     "raise mAP in dust storms and snow?"),
    ("Scaling Diffusion Transformers Efficiently", "How much faster does a picture denoiser converge when the learning "
                                                   "rate tuned on a tiny version is reused on the big one with the "
                                                   "right parametrisation?"),
    ("SimVLG:", "By what factor can you speed up pretraining a picture-to-words generator that sits on a locked "
                "chatbot, by fusing lookalike visual pieces progressively?"),
    ("Sparse then Prune:", "How many points does a sparsity-encouraging penalty before trimming an image transformer "
                           "buy on the hundred-class CIFAR set?"),
    ("StudioGAN:", "Is there a toolkit to retrain well-known adversarial picture makers under one recipe? How many "
                   "designs?"),
    ("Taming Feed-forward Reconstruction", "Can a pretrained single-photo 3D reconstructor double as the compressor "
                                           "for a text-to-3D generator, saving me from training one?"),
    ("The Need for Speed:", "How much worse does BERT get if I trim a pretrained transformer in one go, no fine-tuning "
                            "afterwards, under a fixed compute budget? Does the same trick work for image "
                            "classifiers?"),
    ("Token Reduction Should Go Beyond", "Opinion piece arguing that trimming the number of input pieces a generative "
                                         "model sees matters beyond speed, like reducing made-up facts?"),
    ("Towards Multi-Task Multi-Modal", "A doctoral dissertation on making clips with matching audio, where an "
                                       "LLM-style generator outdoes denoisers and a learned video compressor beats "
                                       "H.265-type formats?"),
    ("Transformers as Decision Makers", "Is there math explaining which explore-exploit algorithms, like "
                                        "confidence-bound bandit rules, a sequence model ends up copying after being "
                                        "taught on logged runs, and how badly a mismatch between the logged and ideal "
                                        "policies hurts?"),
    ("Understanding In-Context Learning in", "Can attention nets pick up true/false logic rules from prompt examples, "
                                             "and do attention-free models manage the same?"),
    ("VDT:", "One clip model that forecasts, fills in between frames, animates stills and completes footage, depending "
             "on which parts you hide?"),
    ("VSTAR:", "Text-to-clip models make near-static footage for prompts like a flower blooming; can I get longer, "
               "more changing clips without retraining, e.g. by having a chatbot write a storyline?"),
]

# Topics shared by the list and filter questions. Each rule was checked by reading the abstracts it selects;
# the include/exclude overrides carry the reason the regex alone is wrong there.
TOPICS: dict[str, Topic] = {
    "quantization": Topic(
        r"post-training quantization|low-bit|\bternary\b|\b\d-bit\b|quantiz\w* (of )?(the )?(weights|activations)"
        r"|adaptive quantization",
        exclude={"PIXART-δ": "uses an existing 8-bit inference feature in passing; not about quantization"}),
    "video generation": Topic(r"video (generation|synthesis|diffusion|latent diffusion|generative)|text-to-video",
                              where="title"),
    "mixture of experts": Topic(r"mixture[- ]of[- ]experts|\bMoE\b|expert language models"),
    "preference alignment": Topic(
        r"reward model|RLHF|human preferences?|reward (function|signal|maximization)|preference optimization",
        exclude={"Scaling Rectified Flow": "human preference ratings are only an evaluation measure",
                 "Transformers in Reinforcement Learning": "reward functions of RL environments, not preferences",
                 "Direct Discriminative Optimization": "borrows the form of DPO for likelihood models; no preferences",
                 "Yi:": "a human preference rate is only an evaluation measure",
                 "Reinforcement Learning for Generative AI": "a survey; reward models are one item among many"}),
    "speech and audio generation": Topic(
        r"text-to-speech|speech synthesis|singing voice|audio (synthesis|generation)|speech super-resolution"
        r"|video-to-audio|text-to-audio"),
    "medical": Topic(r"medical|clinical|health|patients?\b|X-rays?|radiolog|\bCT\b", min_hits=2),
    "retrieval": Topic(
        r"retriev|search engines?", min_hits=2,
        exclude={"MemoryFormer:": "'retrieves' vectors from hash tables inside a layer; not search",
                 "AriEL:": "'retrieving' sequences by sampling a latent space; not search"}),
    "time series": Topic(r"time[- ]series"),
    "in-context learning": Topic(
        r"in-context|mesa-optimi", where="title",
        include={"Pretraining Data Mixtures": "its subject is in-context learning; the title does not say so"},
        exclude={"In-Context LoRA": "image generation; 'in-context' there means images side by side"}),
    "code": Topic(
        r"programming|code snippets|code generation", min_hits=2,
        exclude={"Probabilistic Programming": "probabilistic programming languages, not LLMs and code"}),
    "length generalization": Topic(
        r"length[- ]generali|arithmetic", min_hits=2,
        include={"Towards Revealing the Mystery": "proves what transformers can do on arithmetic with and without "
                                                  "chain of thought; 'arithmetic' appears once"}),
    "style transfer": Topic(
        r"style transfer|style synthesis|style-specific",
        exclude={"Brain Captioning:": "names style transfer only as a possible application"}),
    "super-resolution": Topic(r"super-resolution", min_hits=2),
    "other languages": Topic(
        r"multilingual|cross-lingual|Norwegian|Russian|Slovenian|German",
        exclude={"DiffuSIA:": "says only that its architecture could extend to multilingual tasks"}),
    "kv cache": Topic(r"\bKV[- ]cache|key-value \(KV\) cache"),
    "retention networks": Topic(r"retentive|retention network|RetNet"),
    "3d generation": Topic(
        r"3D.*(generat|synthes)|(generat|synthes).*3D|text-to-3D|image-to-3D", where="title",
        exclude={"GenerateCT:": "CT volumes of the chest, not 3D shapes or scenes"}),
    "visual tokenizers": Topic(
        r"tokeniz|\d+ tokens|token sequences", where="title",
        exclude={"Todyformer:": "tokenizes dynamic graphs, not images or video"}),
    "gan inversion": Topic(r"GAN inversion"),
    "llm compression": Topic(
        r"prun|low-rank|decompos|slic|sparsif|factoriz", min_hits=2,
        also=r"language model|natural language|\bLLMs?\b|\bGPT|\bNLP\b|\bBERT\b",
        exclude={"Sparse then Prune:": "prunes vision transformers; language models are only mentioned"}),
    "surveys": Topic(
        r"survey", where="title",
        include={"Generative AI for Autonomous Driving": "a survey, though its title does not say so"}),
    # Seventeenth session: the topics of l022-l030.
    "graph learning": Topic(r"graph transformer|graph neural|message[- ]passing|graph generative|graph sequence model"),
    "distillation": Topic(r"distill|teacher-student", where="title"),
    "autonomous driving": Topic(
        r"autonomous (driving|vehicles?)|self-driving|driving(-scene| data| videos)",
        exclude={"VDT:": "driving clips are one of several test scenarios of a general video model"}),
    "chemistry and materials": Topic(
        r"molecul|chemical|crystal|solid-state|additive manufacturing|3D printing|bio-?inspired", min_hits=2),
    "multimodal llms": Topic(
        r"vision[- ](and[- ])?language|language[- ]vision|visual language|multi-?modal large language", where="title",
        include={"Lumina-mGPT:": "a GPT-style multimodal model that also answers questions about images",
                 "Yi:": "its family includes vision-language chat models built on the Yi LLMs"},
        exclude={"BUS:": "vision-language pretraining without a large language model",
                 "The Neglected Tails": "CLIP-style zero-shot recognition; no language model talks about images"}),
    "representation alignment": Topic(r"representation alignment|\bREPA\b|vision foundation model aligned"),
    "3d reconstruction": Topic(
        r"view synthesis|3D reconstruction|surface reconstruction|human rendering|3D scenes from images",
        where="title"),
    "self-supervised vision": Topic(
        r"self-supervised vision|masked (autoencoders?|modeling)|pretraining strategy", where="title",
        include={"LMD:": "a faster masked-autoencoder-style pretraining method; its title says only image "
                         "reconstruction"}),
    "benchmarks": Topic(
        r"benchmark", where="title",
        include={"Beyond the Imitation Game": "introduces the BIG-bench benchmark; the title does not say so"}),
}

# (question, topic): "which papers ..." questions; every paper of the topic is a right answer.
LISTS: list[tuple[str, str]] = [
    ("Which papers are about storing a model's weights in fewer bits so it runs cheaper?", "quantization"),
    ("What work in the collection generates videos?", "video generation"),
    ("Which papers split a model into expert sub-networks, mixture-of-experts style?", "mixture of experts"),
    ("Which papers tune generative models toward what people prefer, with reward models or human feedback?",
     "preference alignment"),
    ("Which papers generate speech, singing or other audio?", "speech and audio generation"),
    ("What work in the collection deals with medicine or health care?", "medical"),
    ("Which papers are about search and retrieval, including retrieval-augmented generation?", "retrieval"),
    ("Which papers work on time series, like forecasting sensor or sales data?", "time series"),
    ("Which papers try to explain in-context learning, how transformers pick up a task from examples in the "
     "prompt?", "in-context learning"),
    ("What work in the collection looks at LLMs and programming: writing code, tutoring students, answering "
     "questions about code?", "code"),
    ("Which papers study whether transformers can do arithmetic or handle longer inputs than they were trained on?",
     "length generalization"),
    ("Which papers do style transfer?", "style transfer"),
    ("Which papers do super-resolution, for pictures or for sound?", "super-resolution"),
    ("What work in the collection is about languages other than English?", "other languages"),
    ("Which papers do something with the KV cache?", "kv cache"),
    ("Which papers build on retention networks (RetNet)?", "retention networks"),
    ("Which papers generate 3D shapes, objects or scenes?", "3d generation"),
    ("Which papers propose tokenizers that turn images, videos or 3D shapes into discrete tokens?",
     "visual tokenizers"),
    ("Which papers map real photos into a GAN's latent space to edit them?", "gan inversion"),
    ("Which papers shrink trained language models by pruning, slicing or factorising their weights?",
     "llm compression"),
    ("Which papers in the collection are surveys?", "surveys"),
    # Seventeenth session: 9 more, written after every tuning choice (none tuned on them).
    ("What work in the collection builds general-purpose neural networks for graph data (nodes and edges), like graph "
     "transformers or large pretrained graph models?", "graph learning"),
    ("Which papers are mainly about teacher-student training, where a student network learns to do the job of an "
     "already-trained teacher network?", "distillation"),
    ("What work in the collection is aimed at self-driving cars, such as street-scene perception or simulating driving "
     "footage?", "autonomous driving"),
    ("Which papers use generative models for chemistry or materials science, like inventing new molecules, crystals or "
     "3D-printable structures?", "chemistry and materials"),
    ("Which papers hook a large language model up to images or video, so that it can look at them and answer "
     "questions or chat about them?", "multimodal llms"),
    ("Which papers make image diffusion models train faster by aligning their features or latent space with a "
     "pretrained vision encoder such as DINO?", "representation alignment"),
    ("What work in the collection recovers real objects, people or scenes in 3D from photos, video or scanned points, "
     "or renders them from new viewpoints? Not generators that make up new 3D assets.", "3d reconstruction"),
    ("Which papers pretrain image models without labels, masked-autoencoder style or with some other self-supervised "
     "task?", "self-supervised vision"),
    ("What work in the collection mainly puts forward a benchmark, a shared test suite for comparing many models?",
     "benchmarks"),
]

# (question, filters, topic or None). "Mid-March" is read as the 15th.
FILTERS: list[tuple[str, dict[str, Any], str | None]] = [
    ("Which papers in the Mar 13 feed are about generating speech or audio?", {"feeds": ["Mar 13"]},
     "speech and audio generation"),
    ("Anything since mid-March on video generation?", {"since": "Mar 15"}, "video generation"),
    ("Papers with code on GitHub about time series?", {"has_code": True}, "time series"),
    ("What did the Aug 20 feed have on aligning generators with human preferences?", {"feeds": ["Aug 20"]},
     "preference alignment"),
    ("Super-resolution papers from the Mar 14 feed?", {"feeds": ["Mar 14"]}, "super-resolution"),
    ("Which in-context learning papers were in the Mar 11 feed?", {"feeds": ["Mar 11"]}, "in-context learning"),
    ("Since mid-March, anything on languages other than English?", {"since": "Mar 15"}, "other languages"),
    ("Which KV cache papers showed up in the Aug 20 feed?", {"feeds": ["Aug 20"]}, "kv cache"),
    ("3D generation papers from the Mar 14 feed, please.", {"feeds": ["Mar 14"]}, "3d generation"),
    ("Which image or video tokenizer papers come with code?", {"has_code": True}, "visual tokenizers"),
    ("Were there any surveys in the Aug 20 feed?", {"feeds": ["Aug 20"]}, "surveys"),
    ("Which surveys link a GitHub repo?", {"has_code": True}, "surveys"),
    ("What was in the Aug 20 feed about compressing language models?", {"feeds": ["Aug 20"]}, "llm compression"),
    ("What video generation work appeared in the Mar 14 feed?", {"feeds": ["Mar 14"]}, "video generation"),
    ("Medical papers that have their code available?", {"has_code": True}, "medical"),
    ("Quantization papers in the Mar 13 feed?", {"feeds": ["Mar 13"]}, "quantization"),
    ("Mixture-of-experts papers with code on GitHub?", {"has_code": True}, "mixture of experts"),
    ("Anything on arithmetic or length generalization since mid-March?", {"since": "Mar 15"},
     "length generalization"),
    ("Which papers showed up in both the Mar 11 and the Aug 20 feeds?", {"all_feeds": ["Mar 11", "Aug 20"]}, None),
    ("Which papers were in all five feeds?", {"min_feeds": 5}, None),
    ("Which papers kept coming back, in at least four different feeds?", {"min_feeds": 4}, None),
    ("Papers with code on GitHub that were in both the Mar 13 and the Mar 17 feeds?",
     {"all_feeds": ["Mar 13", "Mar 17"], "has_code": True}, None),
    ("Which papers in the Aug 20 feed have code and also showed up in another feed?",
     {"feeds": ["Aug 20"], "has_code": True, "min_feeds": 2}, None),
    ("Time series papers from the Aug 20 feed?", {"feeds": ["Aug 20"]}, "time series"),
    ("Style transfer papers with code I can run?", {"has_code": True}, "style transfer"),
    ("What's new on search and retrieval since mid-March?", {"since": "Mar 15"}, "retrieval"),
]


# Conversations that narrow a listing in words ("Which of those have code?"): (turns, filters of the whole
# conversation, topic of its first question). Scored as filter cases on the last turn.
NARROWINGS: list[tuple[tuple[str, ...], dict[str, Any], str]] = [
    (("Which papers are about storing a model's weights in fewer bits so it runs cheaper?",
      "Which of those have code?"), {"has_code": True}, "quantization"),
    (("What work in the collection generates videos?", "And which of them were in the Mar 14 feed?"),
     {"feeds": ["Mar 14"]}, "video generation"),
    (("Which papers do style transfer?", "Only the ones with code, please."), {"has_code": True}, "style transfer"),
    (("Which papers generate 3D shapes, objects or scenes?", "Which of these came out since mid-March?"),
     {"since": "Mar 15"}, "3d generation"),
    (("Which papers tune generative models toward what people prefer, with reward models or human feedback?",
      "Which of those were in the Aug 20 feed?"), {"feeds": ["Aug 20"]}, "preference alignment"),
    (("Which papers do something with the KV cache?", "And which of them have code on GitHub?"),
     {"has_code": True}, "kv cache"),
    (("Which papers work on time series, like forecasting sensor or sales data?", "Which of those have code?",
      "And which of them were in the Aug 20 feed?"), {"has_code": True, "feeds": ["Aug 20"]}, "time series"),
    (("Which papers generate speech, singing or other audio?", "What about just the Mar 13 feed?"),
     {"feeds": ["Mar 13"]}, "speech and audio generation"),
    (("Which papers split a model into expert sub-networks, mixture-of-experts style?",
      "Which of them link a GitHub repo?"), {"has_code": True}, "mixture of experts"),
]


# ---------------------------------------------------------------------------------------------
# Building the cases


def _split(index: int) -> str:
    return "heldout" if index % 3 == 2 else "tune"


def _paper_names(title: str) -> set[str]:
    """Name-like words of the part before a title's colon ('GPTQ', 'StyleSwin', 'TED-VITON')."""
    head, colon, _ = title.partition(":")
    if not colon:
        return set()
    return {w.lower() for w in re.findall(r"[\w-]+", head) if sum(c.isupper() for c in w) >= 2}


def build_singles(papers: Sequence[Paper]) -> list[dict[str, Any]]:
    """The single-paper cases; raises UserSetError for a question naming its paper or too close to its abstract."""
    cases = []
    for index, (title_start, question) in enumerate(SINGLES):
        case_id = f"u{index + 1:03d}"
        paper = find_paper(papers, title_start)
        named = {n for n in _paper_names(paper.title) if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])",
                                                                    question.lower())}
        if named:
            raise UserSetError(f"{case_id}: the question names its paper ({', '.join(sorted(named))})")
        overlap = question_overlap(question, paper)
        if overlap >= MAX_SINGLE_OVERLAP:
            raise UserSetError(f"{case_id}: overlap {overlap:.3f} with its abstract is not below "
                               f"{MAX_SINGLE_OVERLAP}; reword it")
        cases.append({"id": case_id, "type": "single", "question": question, "gold_titles": [paper.title],
                      "split": _split(index), "overlap": round(overlap, 3)})
    return cases


def build_lists(papers: Sequence[Paper]) -> list[dict[str, Any]]:
    """The topic-list cases: gold = every paper of the topic, 3 to 10 of them."""
    cases = []
    for index, (question, topic_name) in enumerate(LISTS):
        case_id = f"l{index + 1:03d}"
        topic = TOPICS[topic_name]
        gold = topic.papers(papers)
        _check_size(case_id, gold, LIST_SIZE)
        cases.append({"id": case_id, "type": "list", "question": question,
                      "gold_titles": [p.title for p in gold], "split": _split(index),
                      "rule": f"{topic_name}: {topic.describe()}"})
    return cases


def build_filters(papers: Sequence[Paper]) -> list[dict[str, Any]]:
    """The filter cases: gold = every paper passing the stated filter (and the topic rule, if any)."""
    cases = []
    for index, (question, filters, topic_name) in enumerate(FILTERS):
        case_id = f"f{index + 1:03d}"
        gold = [p for p in papers if passes_filters(p, filters)]
        rule = describe_filters(filters)
        if topic_name is not None:
            topic = TOPICS[topic_name]
            on_topic = {p.paper_id for p in topic.papers(papers)}
            gold = [p for p in gold if p.paper_id in on_topic]
            rule += f"; and topic {topic_name}: {topic.describe()}"
        _check_size(case_id, gold, FILTER_SIZE)
        cases.append({"id": case_id, "type": "filter", "question": question,
                      "gold_titles": [p.title for p in gold], "split": _split(index),
                      "rule": rule, "filters": filters})
    return cases


def build_narrowings(papers: Sequence[Paper]) -> list[dict[str, Any]]:
    """The conversation cases: gold = every paper of the first question's topic passing the filters said since."""
    cases = []
    for index, (turns, filters, topic_name) in enumerate(NARROWINGS):
        case_id = f"c{index + 1:03d}"
        topic = TOPICS[topic_name]
        on_topic = {p.paper_id for p in topic.papers(papers)}
        gold = [p for p in papers if p.paper_id in on_topic and passes_filters(p, filters)]
        _check_size(case_id, gold, FILTER_SIZE)
        cases.append({"id": case_id, "type": "filter", "turns": list(turns), "gold_titles": [p.title for p in gold],
                      "split": _split(index), "rule": f"{describe_filters(filters)}; and topic {topic_name}: "
                                                      f"{topic.describe()}", "filters": filters})
    return cases


def _check_size(case_id: str, gold: list[Paper], size: tuple[int, int]) -> None:
    if not size[0] <= len(gold) <= size[1]:
        raise UserSetError(f"{case_id}: {len(gold)} gold papers, expected {size[0]} to {size[1]}")


def build_cases(papers: Sequence[Paper]) -> list[dict[str, Any]]:
    """Every case of the set, singles then lists then filters then conversations, each validated as an EvalCase."""
    cases = build_singles(papers) + build_lists(papers) + build_filters(papers) + build_narrowings(papers)
    for case in cases:
        EvalCase.model_validate(case)
    return cases


def render_dataset(cases: Iterable[dict[str, Any]]) -> str:
    """The JSONL text of the cases, one per line, in a stable form."""
    return "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases)


# ---------------------------------------------------------------------------------------------
# BM25 alone on the singles


def bm25_ranks(questions: Sequence[str], gold_titles: Sequence[str], papers: Sequence[Paper],
               encoder: Any = None) -> list[int]:
    """The 1-based rank of each question's gold paper when every title+abstract is scored by BM25 alone.

    Uses the project's sparse encoder (Qdrant Edge `Bm25`) for the term weights and Qdrant's IDF,
    ln(1 + (N - n + 0.5) / (n + 0.5)), which the index applies at query time; ties go to collection order.
    """
    if encoder is None:
        from assistant.index.sparse import sparse_encoder

        encoder = sparse_encoder()
    docs = [_as_dict(encoder.embed_document(f"{p.title}\n{p.abstract}")) for p in papers]
    frequency = Counter(term for doc in docs for term in doc)
    idf = {term: math.log(1 + (len(docs) - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}
    position = {normalise_title(p.title): i for i, p in enumerate(papers)}
    ranks = []
    for question, title in zip(questions, gold_titles, strict=True):
        query = _as_dict(encoder.embed_query(question))
        scores = [sum(idf.get(t, 0.0) * w * doc.get(t, 0.0) for t, w in query.items()) for doc in docs]
        gold = position[normalise_title(title)]
        ranks.append(1 + sum(1 for i, s in enumerate(scores) if s > scores[gold] or (s == scores[gold] and i < gold)))
    return ranks


def _as_dict(vector: Any) -> dict[int, float]:
    return dict(zip(vector.indices, vector.values, strict=True))


def check_report(cases: Sequence[dict[str, Any]], papers: Sequence[Paper]) -> str:
    """Counts per type and split, the overlap distribution of the singles and BM25-only recall@1/@5 on them."""
    lines = []
    for kind in ("single", "list", "filter"):
        of_kind = [c for c in cases if c["type"] == kind]
        tune = sum(c["split"] == "tune" for c in of_kind)
        sizes = [len(c["gold_titles"]) for c in of_kind]
        lines.append(f"{kind}: {len(of_kind)} cases ({tune} tune, {len(of_kind) - tune} heldout), "
                     f"gold papers {min(sizes)}-{max(sizes)}")
    singles = [c for c in cases if c["type"] == "single"]
    overlaps = sorted(c["overlap"] for c in singles)
    quartiles = [overlaps[round(q * (len(overlaps) - 1))] for q in (0, 0.25, 0.5, 0.75, 1)]
    lines.append("single overlap: min {:.3f}, q1 {:.3f}, median {:.3f}, q3 {:.3f}, max {:.3f}, mean {:.3f}".format(
        *quartiles, sum(overlaps) / len(overlaps)))
    buckets = [(0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, MAX_SINGLE_OVERLAP)]
    lines.append("single overlap histogram: " + ", ".join(
        f"[{lo:.2f}, {hi:.2f}): {sum(lo <= o < hi for o in overlaps)}" for lo, hi in buckets))
    ranks = bm25_ranks([c["question"] for c in singles], [c["gold_titles"][0] for c in singles], papers)
    for name, group in (("all", range(len(singles))),
                        ("tune", [i for i, c in enumerate(singles) if c["split"] == "tune"]),
                        ("heldout", [i for i, c in enumerate(singles) if c["split"] == "heldout"])):
        group_ranks = [ranks[i] for i in group]
        lines.append(f"BM25 only, singles ({name}, {len(group_ranks)}): recall@1 "
                     f"{sum(r == 1 for r in group_ranks) / len(group_ranks):.3f}, recall@5 "
                     f"{sum(r <= 5 for r in group_ranks) / len(group_ranks):.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the set, or with --check report on it; 1 for a refused spec or an out-of-date file."""
    parser = argparse.ArgumentParser(prog="python -m evals.user_set", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUTPUT, help="The dataset file (default: %(default)s).")
    parser.add_argument("--check", action="store_true",
                        help="Write nothing: say whether the file is up to date, print the overlap distribution "
                             "and BM25-only recall@1 of the singles.")
    args = parser.parse_args(argv)
    papers = load_seed_papers()
    try:
        text = render_dataset(cases := build_cases(papers))
    except UserSetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.check:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {len(cases)} cases to {args.out}")
        return 0
    current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
    print(f"{args.out}: " + ("up to date" if current == text else "OUT OF DATE, run python -m evals.user_set"))
    print(check_report(cases, papers))
    return 0 if current == text else 1


if __name__ == "__main__":
    raise SystemExit(main())
