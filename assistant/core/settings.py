"""One pydantic-settings object, built once at start-up and passed down.

Environment variables use the ``ASSISTANT_`` prefix and one ``_`` between a part and its field:
``ASSISTANT_LLM_MODEL`` sets ``llm.model``, ``ASSISTANT_QDRANT_URL`` sets ``qdrant.url``. A ``.env``
file in the working directory is read too.

State lives in one known place, never wherever a command happens to run: the data dir defaults to the
per-user data folder (``~/.local/share/paper-assistant`` on Linux, see `default_home`), and the embedded
model's weights to ``models/`` under that same folder. Relative paths a user sets are made absolute once,
at load, so every message names the full path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from platformdirs import user_data_path
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

APP_NAME = "paper-assistant"
LOCAL_MODEL = "local/qwen2.5-coder-1.5b-instruct"
GGUF_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
READER_FOLDER = "all-mpnet-base-v2-int8"


def default_home() -> Path:
    """The per-user folder holding the index, chat history and models (XDG_DATA_HOME is honoured)."""
    return user_data_path(APP_NAME, appauthor=False)


def _absolute(path: Path) -> Path:
    return path.expanduser().absolute()


class IngestSettings(BaseModel):
    chunk_tokens: int = Field(200, ge=32, description="Chunk size in tiktoken tokens (title prefix not counted).")
    chunk_overlap: int = Field(32, ge=0, description="Tokens shared by consecutive chunks of one abstract.")
    tokenizer: str = Field("cl100k_base", description="tiktoken encoding used to size chunks and context.")
    batch_size: int = Field(64, ge=1, description="Chunks embedded and upserted per batch.")
    sparse_scope: Literal["paper", "chunk"] = Field(
        "paper", description="BM25 vector of the whole paper on every chunk ('paper') or of the chunk alone."
    )


class EmbedSettings(BaseModel):
    batch_size: int = Field(1, ge=1, description="Texts per ONNX run (sorted by length); 1 measured fastest here.")
    threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads; 0 means one per CPU.")
    max_tokens: int = Field(256, ge=16, le=512, description="Word pieces per text fed to the model.")
    paper_reader: bool = Field(
        True, description="Store a second, stronger embedder's vector per paper at ingest (all-mpnet-base-v2, "
                          "int8) and read it in the blend rerank; false skips it (no model needed).",
    )
    reader_dir: Path = Field(
        default_factory=lambda: default_home() / "models" / READER_FOLDER,
        description="The paper reader's model.onnx + tokenizer.json (built there by scripts/setup.sh).",
    )

    @field_validator("reader_dir")
    @classmethod
    def _absolute_reader(cls, value: Path) -> Path:
        return _absolute(value)


class QdrantSettings(BaseModel):
    url: str | None = Field(None, description="Qdrant server/cluster URL; unset means embedded Qdrant Edge.")
    api_key: SecretStr | None = Field(None, description="API key for the Qdrant server.")
    collection: str = Field("papers", description="Collection (server) or shard folder name (embedded).")
    timeout: float = Field(10.0, gt=0, description="Seconds before a server request fails.")


class RetrievalSettings(BaseModel):
    mode: Literal["hybrid", "dense", "sparse"] = Field(
        "hybrid", description="Rank by fused dense + BM25 ('hybrid'), or by one of them alone (ablations)."
    )
    top_k: int = Field(5, ge=1, le=50, description="Papers returned by search and used to answer.")
    list_k: int = Field(
        10, ge=1, le=50, description="Papers searched and read for a listing ('which papers ...', or a question "
                                     "stating a filter) when no k is given (calibrated: bench/README.md).",
    )
    filter_papers: int = Field(
        50, ge=1, le=200, description="A question that is only filters ('which papers were in all five feeds?') "
                                      "lists every paper passing them, up to this many, when no k is given.",
    )
    understand_filters: bool = Field(
        True, description="Read filters said in the question ('in the Mar 13 feed', 'with code') and search the "
                          "rest of it; options set explicitly win over the words.",
    )
    candidates: int = Field(40, ge=5, description="Chunks each of the dense and sparse prefetches return.")
    rrf_k: int = Field(60, ge=1, description="RRF constant; larger flattens the rank curve.")
    dense_weight: float = Field(2.0, ge=0, description="Weight of the dense ranking in RRF fusion (measured, README).")
    sparse_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in RRF fusion.")
    min_dense: float = Field(
        0.30, description="Abstain when the best cosine is below this and BM25 evidence is weak (calibrated)."
    )
    min_sparse_coverage: float = Field(
        0.75, description="Share of the query's BM25 terms the best paper must contain to answer despite a low cosine."
    )
    confident_dense: float = Field(
        0.45, description="When the chat model finds no paper's evidence answers the question, a best cosine at or "
                          "above this still gets the papers' evidence quoted; below it the answer abstains (dev "
                          "set: 5% of answerable questions are below, and all unanswerable ones passing min_dense).",
    )


class RerankSettings(BaseModel):
    kind: Literal["blend", "none", "cross-encoder", "litellm", "maxsim", "llm"] = Field(
        "blend", description="Rerank stage; 'blend' joins the fused order with the embedder's MaxSim, best-"
                             "sentence and dense-score rankings (measured best here, see README); 'none' keeps the "
                             "fused order."
    )
    maxsim_weight: float = Field(0.5, ge=0, description="blend: RRF weight of the MaxSim ranking (fused order: 1).")
    sentence_weight: float = Field(0.5, ge=0, description="blend: RRF weight of the best-abstract-sentence ranking.")
    dense_weight: float = Field(0.5, ge=0, description="blend: RRF weight of the ranking by the best chunk's cosine "
                                                         "from the dense search.")
    reader_weight: float = Field(0.5, ge=0, description="blend: RRF weight of the ranking by the paper reader's "
                                                          "cosine (embed.paper_reader) for a question in its best "
                                                          "candidate's words.")
    reworded_reader_weight: float = Field(
        8.0, ge=0, description="blend: the reader's weight for a question in other words: its best candidate holds "
                               "less than reworded_coverage of the question's BM25 terms, or the reader leads by "
                               "reader_lead (measured, README).",
    )
    reworded_coverage: float = Field(0.3, ge=0, le=1, description="blend: see reworded_reader_weight.")
    reader_lead: float = Field(
        0.1, ge=0, le=2, description="blend: the reader's weight is reworded_reader_weight too when its favourite "
                                     "paper's cosine is this much above that of the other readings' favourite "
                                     "(measured, README).",
    )
    blend_k: int = Field(10, ge=1, description="blend: RRF constant of the five rankings.")
    model: str | None = Field(
        None, description="cross-encoder: a directory with model.onnx + tokenizer.json; litellm: a rerank model string."
    )
    candidates: int = Field(20, ge=1, description="Papers passed to the reranker.")
    api_base: str | None = Field(None, description="Base URL for a self-served LiteLLM rerank endpoint.")


class LLMSettings(BaseModel):
    model: str = Field(LOCAL_MODEL, description="LiteLLM model string; 'none' answers extractively without an LLM.")
    fallbacks: list[str] = Field(default_factory=list, description="LiteLLM models tried if the main one fails.")
    api_base: str | None = Field(None, description="Base URL for self-hosted OpenAI-compatible servers.")
    api_key: SecretStr | None = Field(None, description="API key passed to LiteLLM (else provider env vars).")
    temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(400, ge=16, description="Most tokens generated per answer.")
    timeout: float = Field(180.0, gt=0, description="Seconds before a generation is abandoned.")
    num_retries: int = Field(1, ge=0, description="Retries of a failed LLM call before falling back.")
    context_tokens: int = Field(
        700, ge=200, description="Token budget for the sources in the prompt (prefill dominates CPU latency)."
    )
    gguf_path: Path = Field(
        default_factory=lambda: default_home() / "models" / GGUF_FILE,
        description="Embedded model weights (assembled there by scripts/setup_llm.sh).",
    )
    extra: dict[str, Any] = Field(
        default_factory=dict, description="More litellm.completion arguments (top_p, extra_headers, mock_response...)."
    )
    condense: Literal["auto", "llm", "heuristic"] = Field(
        "auto", description="Follow-ups become standalone queries by an LLM call ('llm'), or by joining the previous "
                            "question ('heuristic'); 'auto': joining with the embedded model (its rewrite took 8-72 s "
                            "before the sources on 2 cores, and found no more papers: bench/README.md), the LLM call "
                            "with any other."
    )
    answer_mode: Literal["attributed", "context"] = Field(
        "attributed",
        description="'attributed': the system picks the papers and their evidence sentences, the model writes one "
                    "short statement per paper from that paper's abstract alone, and the system sets its marker. "
                    "'context': one reply from all sources, the model placing the markers (slower on CPU).",
    )
    list_papers: int = Field(
        6, ge=1, description="Most papers a 'which papers ...' answer covers (each needs evidence close to the "
                             "best paper's); other questions are answered from the best paper.")
    list_close: float = Field(
        0.7, gt=0, le=1, description="A listing covers the papers whose best evidence sentence scores at least this "
                                     "share of the first paper's (calibrated, bench/README.md; without the paper "
                                     "reader).")
    list_close_read: float = Field(
        0.6, gt=0, le=1, description="list_close when the paper reader's vectors are there: a listed paper must then "
                                     "also be within list_reader_margin of the first paper's reader cosine.")
    list_reader_margin: float = Field(0.12, ge=0, description="See list_close_read (calibrated, README).")
    list_sure_margin: float = Field(
        0.06, ge=0, description="Of a listing's papers, those within this margin of the first paper's reader cosine "
                                "are stated and cited; the others list_reader_margin lets through are named after "
                                "them, uncited, as nearby papers (calibrated, README). list_reader_margin or more "
                                "states them all.")
    reader_sure: float = Field(
        0.04, ge=0, description="A one-paper answer the model declines is quoted, not abstained, when the paper reader "
                                "reads its paper at least this much (cosine) closer to the question than the next "
                                "one (calibrated on users' reworded questions, README). 0 turns this off.")
    reader_sure_cosine: float = Field(
        0.35, ge=0, le=1, description="... and reads it at least this close (the watermarking question, which the "
                                      "collection lacks, read 0.30; users' questions quoted so, 0.40 or more).")
    reread_papers: int = Field(
        4, ge=1, description="When the model declines a one-paper answer's paper (its probability of 'NOT COVERED' "
                             "at least 0.5), it reads that probability for up to this many of the papers found "
                             "first, in order, and answers from the first it is surer of by 0.2 or more (calibrated, "
                             "bench/README.md). Needs log-probabilities from the model (the embedded one gives "
                             "them). 1 turns this off.")
    paper_tokens: int = Field(70, ge=16, description="Most tokens generated per paper in an attributed answer.")
    n_ctx: int = Field(4096, ge=512, description="Context window of the embedded model.")
    n_threads: int = Field(2, ge=1, description="CPU threads of the embedded model.")
    flash_attn: bool = Field(
        True, description="llama.cpp's fused attention for the embedded model: reads prompts faster on CPU "
                          "(bench/llm_prefill.py), same text at temperature 0.")
    paper_states: bool = Field(
        True, description="Embedded model: save the part of each paper's one-paper prompt before the question, read "
                          "once, as a llama.cpp state (≈ 12 MB) and load it for every later question on that paper "
                          "(first model token ≈ 2.3 s from Enter instead of ≈ 9 s on 2 AVX2 cores, bench/README.md). "
                          "`assistant serve` builds the missing ones in the background, pausing while it answers; "
                          "`assistant states` builds them at once.")
    states_in_background: bool = Field(
        True, description="`assistant serve` builds the missing paper states after its warm-up (≈ 9 s a paper on "
                          "2 cores, paused while answering); false: only `assistant states` builds them.")
    states_max_mb: int = Field(4096, ge=0, description="Disk the saved states may take (the least recently used "
                                                       "go first); 0 turns them off.")
    states_dir: Path | None = Field(None, description="Where the saved states live; default <data_dir>/llm-states.")

    @field_validator("gguf_path")
    @classmethod
    def _absolute_gguf(cls, value: Path) -> Path:
        return _absolute(value)


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Interface `assistant serve` listens on (0.0.0.0 to expose it).")
    port: int = Field(8000, ge=0, le=65535, description="Port of the web chat, Slack endpoint and HTTP API.")
    max_concurrent_answers: int = Field(
        2, ge=1, description="Answers generated at once; more wait (the embedded model runs one at a time anyway)."
    )


class WebSettings(BaseModel):
    password: SecretStr | None = Field(
        None, description="Password of the web chat (and a bearer credential for the API); see surfaces/access.py."
    )
    username: str = Field("researcher", description="User name that goes with the password.")
    public: bool = Field(
        False, description="Serve the web chat without a login even when API keys or a password are configured."
    )
    models: list[str] = Field(
        default_factory=list,
        description="LiteLLM models a request may pick (web settings, API `model`), besides the configured one; "
                    "nothing else can be chosen. Default: 'none' (extractive answers).",
    )
    auth_secret: SecretStr | None = Field(
        None, description="Key signing web sessions; default: generated once and kept in the data dir."
    )


class ApiSettings(BaseModel):
    keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer tokens the HTTP API accepts (JSON list or comma list); none: open."
    )
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body the HTTP API accepts.")

    @field_validator("keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-...); the Slack bot is off without it.")
    signing_secret: SecretStr | None = Field(None, description="Signing secret verifying requests to /slack/events.")
    app_token: SecretStr | None = Field(None, description="App-level token (xapp-...) for Socket Mode.")
    api_base: str | None = Field(None, description="Slack Web API base URL (default Slack's; tests use a local stub).")
    command: str = Field("/papers", description="Slash command the bot answers.")
    update_every_s: float = Field(
        1.5, ge=0, description="Seconds between in-place edits of a streaming answer (chat.update is ~1/s/channel)."
    )
    history_turns: int = Field(12, ge=0, description="Thread messages read back as conversation history.")
    max_body_bytes: int = Field(
        1_000_000, ge=1024, description="Largest Slack request body (interactivity payloads repeat whole messages)."
    )


class Settings(BaseSettings):
    """Every knob of the assistant, grouped per pipeline stage."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Field(
        default_factory=default_home, description="Embedded state: Qdrant storage, chat history, web chat files."
    )
    max_question_chars: int = Field(
        4000, ge=10, description="Longest question any surface accepts (web, Slack, API, CLI)."
    )
    prompts_dir: Path | None = Field(None, description="Prompt templates; default: the shipped prompts/.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return _absolute(value)

    @model_validator(mode="after")
    def _states_beside_the_index(self) -> Settings:
        if self.llm.states_dir is None:
            self.llm.states_dir = self.data_dir / "llm-states"
        return self

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant" / self.qdrant.collection

    @property
    def chat_db(self) -> Path:
        """Web chat and Slack history, feedback, handled Slack events."""
        return self.data_dir / "chat.db"

    def resolved_paths(self) -> dict[str, str]:
        """Where this configuration reads and writes, as absolute paths (or the server URL)."""
        return {
            "data_dir": str(self.data_dir),
            "index": self.qdrant.url or str(self.qdrant_path),
            "chat_db": str(self.chat_db),
            "model": str(self.llm.gguf_path) if self.llm.model.startswith("local/") else self.llm.model,
            "paper_reader": str(self.embed.reader_dir) if self.embed.paper_reader else "off",
        }

    def masked(self) -> dict[str, Any]:
        """Effective values as JSON-able data, secrets masked by pydantic's SecretStr, plus the resolved paths."""
        return {**json.loads(self.model_dump_json()), "paths": self.resolved_paths()}


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and .env; a bad value is a ConfigError naming the variable."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from assistant.core.errors import ConfigError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "ASSISTANT_" + "_".join(str(p) for p in error["loc"][:2]).upper()
        raise ConfigError(f"{name}: {error['msg']}") from exc
    except (SettingsError, ValueError) as exc:
        raise ConfigError(f"settings: {str(exc).splitlines()[0]}") from exc
