"""Prepare Chainlit's app folder under the data dir and mount the chat at "/" of the FastAPI app.

Chainlit reads its folder, config and auth secret when first imported, so all of it is written
before the import. The page is served from a copy of Chainlit's frontend without its Google Fonts
and CDN stylesheet links: the chat must load with no internet.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
from importlib import metadata
from pathlib import Path

from fastapi import FastAPI

from assistant.core.settings import Settings
from assistant.engine import AsyncAssistant

CONFIG_TOML = """\
[project]
user_env = []
session_timeout = 3600
allow_origins = ["*"]

[features]
unsafe_allow_html = false
latex = false
edit_message = false
auto_tag_thread = false

[features.spontaneous_file_upload]
enabled = false

[UI]
name = "Paper assistant"
description = "Cited answers from a collection of paper abstracts."
cot = "full"
confirm_new_chat = false
custom_js = "/public/citations.js"
custom_meta_image_url = "/logo?theme=light"
custom_build = "offline_build"

[meta]
generated_by = "{version}"
"""
_EXTERNAL_LINKS = re.compile(r'\s*<link[^>]*?href="https://[^"]*"[^>]*/?>', re.DOTALL)


def app_root(settings: Settings) -> Path:
    return (settings.data_dir / "web").resolve()


def prepare_app_root(settings: Settings) -> Path:
    """Write config.toml, the offline frontend and the public assets into the Chainlit folder."""
    root = app_root(settings)
    (root / ".chainlit").mkdir(parents=True, exist_ok=True)
    version = metadata.version("chainlit")
    (root / ".chainlit" / "config.toml").write_text(CONFIG_TOML.format(version=version), encoding="utf-8")
    (root / "public").mkdir(exist_ok=True)
    for asset in Path(__file__).with_name("public").iterdir():  # citations.js, our logos and favicon
        shutil.copy(asset, root / "public" / asset.name)
    _offline_frontend(root / "offline_build", version)
    return root


def mount_web(app: FastAPI, settings: Settings, service: AsyncAssistant) -> None:
    """Mount the chat at "/" (after every other route: a root mount shadows routes added later)."""
    from assistant.surfaces.web import runtime

    root = prepare_app_root(settings)
    os.environ["CHAINLIT_APP_ROOT"] = str(root)
    os.environ["CHAINLIT_AUTH_SECRET"] = _auth_secret(settings, root)
    runtime.configure(settings, service, root)
    from chainlit.utils import mount_chainlit

    mount_chainlit(app=app, target=str(Path(__file__).with_name("app.py")), path="/")


def _offline_frontend(target: Path, version: str) -> None:
    marker = target / ".chainlit-version"
    if marker.is_file() and marker.read_text() == version:
        return
    # find_spec, not importlib.resources: importing chainlit now would freeze its folder to the working directory.
    dist = Path(next(iter(importlib.util.find_spec("chainlit").submodule_search_locations))) / "frontend" / "dist"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(dist, target)
    html = (target / "index.html").read_text(encoding="utf-8")
    (target / "index.html").write_text(_EXTERNAL_LINKS.sub("", html), encoding="utf-8")
    marker.write_text(version)


def _auth_secret(settings: Settings, root: Path) -> str:
    """The session-signing key: from settings, else generated once and kept (0600) so logins survive restarts."""
    if settings.web.auth_secret:
        return settings.web.auth_secret.get_secret_value()
    path = root / ".auth_secret"
    if not path.is_file():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
