"""One access policy for the whole server: once any credential is configured, every surface asks for one.

Credentials are the API keys (``ASSISTANT_API_KEYS``) and the web password (``ASSISTANT_WEB_PASSWORD``).
With none configured the server is a local single-user tool and everything is open. With any, the HTTP
API and its docs want ``Authorization: Bearer <credential>``, and the web chat its login (the web user and
password, or any API key as the password); ``ASSISTANT_WEB_PUBLIC=true`` opens the web chat on purpose.
Slack requests are checked by their own signing secret.
"""

from __future__ import annotations

import hmac

from assistant.core.settings import Settings


def credentials(settings: Settings) -> list[str]:
    """Every secret that grants access (API keys, then the web password)."""
    keys = [key.get_secret_value() for key in settings.api.keys]
    return keys + ([settings.web.password.get_secret_value()] if settings.web.password else [])


def is_open(settings: Settings) -> bool:
    """True when no credential is configured: a local, single-user server."""
    return not credentials(settings)


def web_is_public(settings: Settings) -> bool:
    """The web chat needs no login: nothing is configured, or the operator said so."""
    return settings.web.public or is_open(settings)


def accepts(secret: str, settings: Settings) -> bool:
    """Whether ``secret`` is one of the credentials; every one is compared in constant time (no early exit)."""
    given = secret.encode()
    matches = [hmac.compare_digest(given, known.encode()) for known in credentials(settings)]
    return any(matches)


def web_login_ok(username: str, password: str, settings: Settings) -> bool:
    """The web user's password with its user name, or any API key whatever the user name."""
    keys = [key.get_secret_value().encode() for key in settings.api.keys]
    by_key = [hmac.compare_digest(password.encode(), key) for key in keys]
    by_password = bool(settings.web.password) and (
        hmac.compare_digest(username.encode(), settings.web.username.encode())
        & hmac.compare_digest(password.encode(), settings.web.password.get_secret_value().encode()))
    return any(by_key) or by_password


def describe(settings: Settings, *, web: bool) -> list[str]:
    """One line per surface saying whether it is open, for the start-up log."""
    api = "open to anyone who can reach it" if is_open(settings) else "needs a bearer credential"
    lines = [f"HTTP API /v1 and /docs, /openapi.json: {api}"]
    if web:
        if is_open(settings):
            chat = "open (no credential configured: single-user)"
        elif settings.web.public:
            chat = "open (ASSISTANT_WEB_PUBLIC=true)"
        else:
            chat = "needs a login (the web password, or an API key as the password)"
        lines.append(f"web chat /: {chat}")
    if settings.slack.bot_token:
        lines.append("Slack /slack/events: requests must carry Slack's signature")
    return lines
