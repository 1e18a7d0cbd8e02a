"""Static files under fingerprinted names: `static_url("app.css")` is `/static/app.<hash>.css`, a name whose content
never changes, so browsers keep it for a year; the plain name is revalidated every time. Served gzipped."""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_FINGERPRINTED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{12})(?P<suffix>\.[A-Za-z0-9]+)$")
_SCOPE_KEY = "incentives.static.fingerprinted"


@cache
def _files() -> frozenset[str]:
    return frozenset(path.name for path in STATIC_DIR.iterdir() if path.is_file())


@cache
def fingerprint(name: str) -> str:
    """The first 12 hex digits of the file's SHA-256; files do not change while a process runs."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The fingerprinted URL of a file in static/ ("app.css" or "/static/app.css")."""
    name = name.removeprefix(PREFIX)
    stem, dot, suffix = name.rpartition(".")
    return f"{PREFIX}{stem}.{fingerprint(name)}.{suffix}" if dot else PREFIX + name


class FingerprintedFiles(StaticFiles):
    """Serves `name.<hash>.ext` as `name.ext` with a year's cache when the hash is the file's; anything else (a
    plain name, an old hash during a deploy) is served as it is now and revalidated with its ETag."""

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        folder, base = os.path.split(path)
        found = _FINGERPRINTED.match(base)
        if found is None:
            return path
        plain = found["stem"] + found["suffix"]
        if folder or plain not in _files():  # only the files of static/ itself are ever read to hash them
            return path
        scope[_SCOPE_KEY] = fingerprint(plain) == found["digest"]
        return plain

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = IMMUTABLE if scope.get(_SCOPE_KEY) else REVALIDATE
        return response


def static_app() -> ASGIApp:
    """The app mounted at /static: fingerprinted files, gzipped (htmx's 51 KB travel as 17 KB)."""
    return GZipMiddleware(FingerprintedFiles(directory=STATIC_DIR), minimum_size=500)
