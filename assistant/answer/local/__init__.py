"""The embedded chat model: weights verification, the llama.cpp runner, and the LiteLLM provider over it.

Import after the process has set its offline switches (``LITELLM_LOCAL_MODEL_COST_MAP``): it imports LiteLLM.
"""

from assistant.answer.local.provider import LocalLLMHandler, local_chat_model, register_local_llm
from assistant.answer.local.verify import GGUF_SHA256, LOCAL_PROVIDER, LocalModelUnavailable, verify_gguf

__all__ = ["GGUF_SHA256", "LOCAL_PROVIDER", "LocalLLMHandler", "LocalModelUnavailable", "local_chat_model",
           "register_local_llm", "verify_gguf"]
