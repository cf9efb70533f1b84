"""What every route needs: the shared engine, the settings, the API key check, question and model choice."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.core import questions
from assistant.core.errors import InvalidQuery
from assistant.core.settings import Settings
from assistant.engine import AsyncAssistant
from assistant.surfaces import access
from assistant.surfaces.http.errors import ApiError

MODEL_ALIAS = "paper-assistant"


def get_service(request: Request) -> AsyncAssistant:
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


Service = Annotated[AsyncAssistant, Depends(get_service)]
AppSettings = Annotated[Settings, Depends(get_settings)]
_bearer = HTTPBearer(auto_error=False, description="One of ASSISTANT_API_KEYS, or the web password "
                                                   "(not needed when no credential is configured).")


async def require_api_key(settings: AppSettings,
                          credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Let a request through when no credential is configured or its bearer token is one (see `access`)."""
    if access.is_open(settings):
        return
    if credentials is None or not access.accepts(credentials.credentials, settings):
        raise ApiError(401, "missing or invalid API key: send the header `Authorization: Bearer <key>`",
                       headers={"WWW-Authenticate": "Bearer"})


def check_question(text: str, field: str, settings: Settings) -> str:
    """The engine's question rule (`core.questions`), answered as a 422 that names the request field."""
    try:
        return questions.check_question(text, settings.max_question_chars, field)
    except InvalidQuery as exc:
        raise ApiError(422, str(exc), param=field) from exc


def model_choice(name: str | None) -> str | None:
    """None (the configured model) for the alias or nothing; else a LiteLLM model string for this request."""
    return None if not name or name.strip() in ("", MODEL_ALIAS) else name.strip()
