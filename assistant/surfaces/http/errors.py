"""Every /v1 failure leaves in OpenAI's error shape, ``{"error": {"message", "type", "param", "code"}}``.

The handlers are installed on the app by ``install_error_handlers(app)`` (a router cannot carry them). The
engine's errors carry their own HTTP status (``AssistantError.http_status``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.core.errors import AssistantError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers with ``status`` and an OpenAI-style JSON body."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.headers = status, message, param, headers


def _error_type(status: int) -> str:
    names = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
             503: "service_unavailable"}
    return names.get(status, "invalid_request_error" if status < 500 else "server_error")


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error object every API failure uses (OpenAI clients read ``error.message``)."""
    return {"error": {"message": message, "type": _error_type(status), "param": param, "code": None}}


def _error_response(status: int, message: str, param: str | None = None,
                    headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param), status_code=status, headers=headers)


def is_api_path(path: str) -> bool:
    return path in ("/v1", "/healthz", "/readyz") or path.startswith("/v1/")


def _is_api_path(request: Request) -> bool:
    return is_api_path(request.url.path)


class ApiBodyLimit:
    """Refuse an API request whose Content-Length is over the limit with a JSON 413 in the API's error shape.

    FastAPI's own limiter answers such a request with a plain-text "Content Too Large" before any handler
    runs, so this check sits outside it; bodies without a Content-Length still reach that limiter, whose
    error our handlers shape.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_api_path(scope["path"]) and self._declared(scope) > self.max_body_bytes:
            message = f"request body over {self.max_body_bytes} bytes"
            await _error_response(413, message)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _declared(scope: Scope) -> int:
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return _error_response(exc.status, exc.message, exc.param, exc.headers)


async def _on_core_error(request: Request, exc: AssistantError) -> JSONResponse:
    return _error_response(exc.http_status, str(exc))


async def _on_validation_error(request: Request, exc: RequestValidationError):
    if not _is_api_path(request):  # the Slack endpoint and the web chat keep FastAPI's own shape
        return await request_validation_exception_handler(request, exc)
    problems = []
    for error in exc.errors()[:3]:
        loc = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "json_invalid":  # its loc is a character offset, not a field
            problems.append(("body", f"not valid JSON ({error.get('ctx', {}).get('error', 'decode error')})"))
            continue
        problems.append((".".join(loc[1:]) or ".".join(loc), error.get("msg", "invalid")))
    message = "; ".join(f"{where}: {msg}" if where else msg for where, msg in problems) or "invalid request"
    return _error_response(422, message, problems[0][0] if problems else None)


async def _on_http_error(request: Request, exc: StarletteHTTPException):
    if not _is_api_path(request):
        return await http_exception_handler(request, exc)
    return _error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _on_unexpected_error(request: Request, exc: Exception):
    log.exception("unhandled error on %s", request.url.path)
    if not _is_api_path(request):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return _error_response(500, f"internal error ({type(exc).__name__}); the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Make /v1 failures (ours, the engine's, FastAPI's own 401/404/413/422) answer in the OpenAI error shape."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(AssistantError, _on_core_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
