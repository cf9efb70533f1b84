"""The ways in: the CLI, the HTTP API (incl. OpenAI-compatible), the Slack bot, the web chat; each calls the engine."""
