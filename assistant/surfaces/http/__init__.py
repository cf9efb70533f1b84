"""The HTTP server: one FastAPI app with the API routes, the Slack endpoint and the web chat."""
