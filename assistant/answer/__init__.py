"""From a question to a cited answer: retrieve, rerank, context, citations, the LLM (and the embedded one)."""
