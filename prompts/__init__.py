"""Prompt templates shipped with the assistant (plain text files beside this module)."""
