"""What the Chainlit handlers share: set once by `mount_web` before Chainlit loads the app module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from assistant.core.models import CollectionSummary
from assistant.core.settings import Settings
from assistant.engine import AsyncAssistant
from assistant.surfaces.web.views import collection_line, render_welcome, starter_questions


@dataclass
class Runtime:
    settings: Settings
    service: AsyncAssistant
    root: Path
    summary: CollectionSummary
    starters: list[tuple[str, str]]

    @property
    def models(self) -> list[str]:
        """Models offered in the chat settings, the configured one first."""
        return self.service.offered_models


_current: Runtime | None = None


def configure(settings: Settings, service: AsyncAssistant, root: Path) -> Runtime:
    """Read the collection once (welcome page, starters) and publish the runtime to the handlers."""
    global _current
    summary = service.engine.summary()
    template = (Path(__file__).resolve().parents[3] / "chainlit.md")  # the repository root
    text = template.read_text(encoding="utf-8") if template.is_file() else "# Paper assistant\n"
    (root / "chainlit.md").write_text(render_welcome(text, summary), encoding="utf-8")
    (root / "public" / "collection.json").write_text(json.dumps({"line": collection_line(summary)}), encoding="utf-8")
    _current = Runtime(settings, service, root, summary, starter_questions(summary.titles))
    return _current


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the web chat runs inside `assistant serve` (mount_web configures it)")
    return _current
