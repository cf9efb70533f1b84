"""The rerank stage: a user-supplied ONNX cross-encoder, MaxSim, an LLM listwise ranker, and config errors.

No cross-encoder ships in a package, so a tiny randomly initialised one is built here with onnx.helper
(embedding lookup, pooling over the sequence, one logit) next to the MiniLM tokenizer.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from assistant.answer.rerank import (
    BlendReranker,
    CrossEncoderReranker,
    LLMListwiseReranker,
    MaxSimReranker,
    build_reranker,
    passage,
)
from assistant.core.errors import ConfigError, ModelUnavailable
from assistant.core.models import Hit
from assistant.core.settings import RerankSettings
from assistant.engine import Assistant

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

VOCAB, WIDTH = 30522, 16
QUERY = "post-training quantization of language model weights to 3 bits"
HITS = [
    Hit(paper_id="soup", title="French onion soup at home", score=0.9,
        snippet="Caramelise the onions slowly, add beef stock and bake with gruyere on top."),
    Hit(paper_id="gptq", title="GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers",
        score=0.5, snippet="GPTQ quantizes GPT weights to 3 or 4 bits using approximate second-order information."),
    Hit(paper_id="bikes", title="Maintaining a road bicycle", score=0.1,
        snippet="Clean the chain, check tyre pressure and adjust the brakes before each ride."),
]


def build_cross_encoder(folder: Path, pooling: str, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Write model.onnx + tokenizer.json; returns the embedding table and output weights used.

    pooling "sum": sum of token embeddings, with [PAD] (id 0) embedded as zeros, so padding cannot matter;
    pooling "masked-mean": mean over the tokens the attention mask marks as real, like a real encoder.
    """
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(VOCAB, WIDTH)).astype(np.float32)
    weights = rng.normal(size=(WIDTH, 1)).astype(np.float32)
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    types = helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "seq"])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    nodes = [helper.make_node("Gather", ["table", "input_ids"], ["tokens"], axis=0)]
    initializers = [axes]
    if pooling == "masked-mean":
        nodes += [
            helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask_f", "last"], ["mask_3d"]),
            helper.make_node("Mul", ["tokens", "mask_3d"], ["kept"]),
            helper.make_node("ReduceSum", ["kept", "axes"], ["summed"], keepdims=0),
            helper.make_node("ReduceSum", ["mask_3d", "axes"], ["counted"], keepdims=0),
            helper.make_node("Div", ["summed", "counted"], ["pooled"]),
        ]
        initializers.append(numpy_helper.from_array(np.array([2], dtype=np.int64), "last"))
        inputs = [ids, mask, types]
    else:
        table[0] = 0.0
        nodes.append(helper.make_node("ReduceSum", ["tokens", "axes"], ["pooled"], keepdims=0))
        inputs = [ids, types]
    nodes.append(helper.make_node("MatMul", ["pooled", "weights"], ["logits"]))
    graph = helper.make_graph(
        nodes, "tiny-cross-encoder", inputs, [logits],
        initializer=[numpy_helper.from_array(table, "table"), numpy_helper.from_array(weights, "weights"),
                     *initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    shutil.copy(Path(str(resources.files("assistant"))) / "data" / "minilm-tokenizer.json", folder / "tokenizer.json")
    return table, weights


def expected_logits(folder: Path, table: np.ndarray, weights: np.ndarray, hits: list[Hit], pooling: str) -> np.ndarray:
    """The model's logits computed by hand over the pair's real tokens (no padding)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(512)
    tokenizer.no_padding()
    pool = np.sum if pooling == "sum" else np.mean
    scores = [pool(table[tokenizer.encode(QUERY, passage(h)).ids], axis=0) @ weights[:, 0] for h in hits]
    return np.array(scores, dtype=np.float32)


def ascending_by(scores: np.ndarray) -> list[Hit]:
    """The hits ordered worst-first by the model, so a working reranker must reverse them."""
    return [HITS[i] for i in np.argsort(scores)]


def test_cross_encoder_reorders_hits_by_its_logits(tmp_path):
    folder = tmp_path / "ce"
    table, weights = build_cross_encoder(folder, pooling="sum")
    scores = expected_logits(folder, table, weights, HITS, pooling="sum")
    assert len(set(np.round(scores, 4))) == len(HITS)
    reranked = CrossEncoderReranker(folder).rerank(QUERY, ascending_by(scores))
    assert [h.paper_id for h in reranked] == [HITS[i].paper_id for i in np.argsort(-scores)]
    assert [h.score for h in reranked] == pytest.approx(sorted(scores.tolist(), reverse=True), abs=1e-4)


def test_cross_encoder_scores_ignore_padding_tokens(tmp_path):
    """A model that reads attention_mask must see 0 on padding; the MiniLM tokenizer pads short pairs to 128."""
    folder = tmp_path / "ce-masked"
    table, weights = build_cross_encoder(folder, pooling="masked-mean")
    scores = expected_logits(folder, table, weights, HITS, pooling="masked-mean")
    reranked = CrossEncoderReranker(folder).rerank(QUERY, list(HITS))
    by_id = {h.paper_id: h.score for h in reranked}
    assert [by_id[h.paper_id] for h in HITS] == pytest.approx(scores.tolist(), abs=1e-4)


def test_cross_encoder_from_settings_drives_assistant_search(tmp_path, seed):
    folder = tmp_path / "ce"
    build_cross_encoder(folder, pooling="sum", seed=11)
    settings = seed.settings.model_copy(update={"rerank": RerankSettings(kind="cross-encoder", model=str(folder),
                                                                       candidates=10)})
    base = seed.assistant
    bot = Assistant(settings, index=base.index, embedder=base.embedder, sparse=base.sparse, chat_model=None)
    assert isinstance(bot.reranker, CrossEncoderReranker)
    query = "diffusion models for image generation"
    fused = _fused_engine(seed).search(query, k=10)
    reranked = bot.search(query, k=10)
    assert {h.paper_id for h in reranked} == {h.paper_id for h in fused}
    assert [h.paper_id for h in reranked] == [h.paper_id for h in bot.reranker.rerank(query, fused)]
    assert [h.paper_id for h in reranked] != [h.paper_id for h in fused]
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)


def test_cross_encoder_directory_without_model_is_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="model.onnx"):
        CrossEncoderReranker(tmp_path / "empty")


def test_cross_encoder_kind_without_a_model_is_a_config_error():
    with pytest.raises(ConfigError, match="ASSISTANT_RERANK_MODEL"):
        build_reranker(RerankSettings(kind="cross-encoder"))


def test_maxsim_returns_the_same_hits_reordered_with_new_scores(embedder):
    reranked = MaxSimReranker(embedder).rerank(QUERY, list(HITS))
    assert sorted(h.paper_id for h in reranked) == sorted(h.paper_id for h in HITS)
    assert reranked[0].paper_id == "gptq"
    scores = [h.score for h in reranked]
    assert scores == sorted(scores, reverse=True)
    assert {h.score for h in reranked}.isdisjoint({h.score for h in HITS})


def test_llm_listwise_reranker_follows_the_models_ranking():
    prompts: list[str] = []

    def complete(prompt: str) -> str:
        prompts.append(prompt)
        return 'Here you go: {"ranking": [2, 1]}'

    first, second = HITS[0], HITS[1]
    reranked = LLMListwiseReranker(complete).rerank(QUERY, [first, second])
    assert [h.paper_id for h in reranked] == [second.paper_id, first.paper_id]
    assert QUERY in prompts[0] and "[1] " + first.title in prompts[0] and "[2] " + second.title in prompts[0]


def test_llm_listwise_reranker_ignores_unknown_numbers_and_keeps_every_hit():
    reranked = LLMListwiseReranker(lambda _prompt: '{"ranking": [7, 3, 3, 0]}').rerank(QUERY, list(HITS))
    assert [h.paper_id for h in reranked][0] == HITS[2].paper_id
    assert sorted(h.paper_id for h in reranked) == sorted(h.paper_id for h in HITS)


def _fused_engine(seed) -> Assistant:
    """The seed index searched without a rerank stage (the fused order)."""
    base = seed.assistant
    settings = seed.settings.model_copy(update={"rerank": RerankSettings(kind="none")})
    return Assistant(settings, index=base.index, embedder=base.embedder, sparse=base.sparse, chat_model=None)


def test_blend_keeps_the_fused_order_when_the_other_readings_agree_or_weigh_nothing(embedder):
    flat = BlendReranker(embedder, lambda _q, hits: [0.0] * len(hits), maxsim_weight=0.0, sentence_weight=0.0,
                         dense_weight=0.0)
    assert [h.paper_id for h in flat.rerank(QUERY, list(HITS))] == [h.paper_id for h in HITS]
    agreeing = BlendReranker(embedder, lambda _q, hits: [-i for i in range(len(hits))], maxsim_weight=0.0)
    in_dense_order = [h.model_copy(update={"dense_score": 0.9 - i / 10}) for i, h in enumerate(HITS)]
    assert [h.paper_id for h in agreeing.rerank(QUERY, in_dense_order)] == [h.paper_id for h in HITS]


def test_blend_reads_the_dense_score_and_ranks_a_hit_only_bm25_found_below_the_rest(embedder):
    """The dense reading is the search's own cosine: no embedding, and a hit without one (BM25 alone found it)
    counts as the weakest, not as an error."""
    dense = BlendReranker(embedder, lambda _q, hits: [0.0] * len(hits), maxsim_weight=0.0, sentence_weight=0.0,
                          dense_weight=2.0)
    soup, gptq, bikes = HITS
    hits = [soup, gptq.model_copy(update={"dense_score": 0.2}), bikes.model_copy(update={"dense_score": 0.6})]
    assert [h.paper_id for h in dense.rerank(QUERY, hits)] == ["bikes", "gptq", "soup"]


def test_blend_lifts_a_paper_the_sentence_reading_puts_first(embedder):
    last = HITS[-1].paper_id
    favour_last = BlendReranker(embedder, lambda _q, hits: [float(h.paper_id == last) for h in hits],
                                maxsim_weight=0.0, sentence_weight=2.0, dense_weight=0.0)
    reranked = favour_last.rerank(QUERY, list(HITS))
    assert reranked[0].paper_id == last
    assert sorted(h.paper_id for h in reranked) == sorted(h.paper_id for h in HITS)
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)


@pytest.mark.parametrize(("question", "gold"), [
    # users' wording, from the user set's tune split: the fused order puts another paper first. Both golds
    # lead the blend by a clear margin (>= 0.025 of score; first by MaxSim by >= 0.04 cosine and by the dense
    # reading): a case decided by 0.004 (u104, LatentSpeech) flipped on CI, whose fresh index scored it a
    # little differently (BM25 13.18 there, 13.16 here).
    ("How do I repair old, blurry, damaged portraits when we don't know what damaged them?", "RestoreFormer++"),
    ("Guessing how someone's body scans will look next year from a series of earlier scans with gaps in it?",
     "SADM:"),
])
def test_the_default_blend_finds_the_paper_a_reworded_question_means(seed, question, gold):
    fused = _fused_engine(seed).search(question, k=5)
    assert not fused[0].title.startswith(gold)
    assert isinstance(seed.assistant.reranker, BlendReranker)
    assert seed.assistant.search(question, k=5)[0].title.startswith(gold)
