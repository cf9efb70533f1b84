"""The Chainlit web chat: mounted at "/" of `assistant serve`, thin handlers over the shared AsyncAssistant."""
