"""What every stage shares: settings, the stage models, errors, prompts, offline switches, dates, state paths.

Imports nothing else of the project.
"""
