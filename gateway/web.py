"""The web console (网页控制台): the built single-page app of ``web/`` served at ``/app/``.

The console is plain static files (``web/dist``, built by ``cd web && npm ci && npm run
build``) that speak only the public ``/api/v1``. It lives under its own prefix so it can never
shadow ``/api/v1``, ``/docs``, ``/openapi.json``, ``/metrics``, ``/healthz`` or ``/readyz``;
``GET /`` redirects to it. The folder is looked up on every request, so a console built after
the gateway started is served without a restart; when it is not built, ``/app/`` answers 404
with the command that builds it. ``CRM_WEB_DIST`` points at another build folder.
"""
from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PREFIX = "/app"
DEFAULT_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
BUILD_HINT = "the web console is not built: run `cd web && npm ci && npm run build`"

router = APIRouter(include_in_schema=False)


def dist_folder() -> Path:
    return Path(os.environ.get("CRM_WEB_DIST") or DEFAULT_DIST).resolve()


def resolve(path: str) -> Path:
    """The file to send for ``/app/<path>`` (pure but for the file system): a file of the
    build, or ``index.html`` for the app's own pages; 404 for a missing asset, for anything
    outside the folder and when the console is not built."""
    root = dist_folder()
    index = root / "index.html"
    if not index.is_file():
        raise StarletteHTTPException(404, BUILD_HINT)
    if path:
        candidate = (root / path).resolve()
        if not candidate.is_relative_to(root):
            raise StarletteHTTPException(404, "not found")
        if candidate.is_file():
            return candidate
        last = path.rsplit("/", 1)[-1]
        if path.startswith("assets/") or "." in last:
            raise StarletteHTTPException(404, "not found")   # a missing file, not a page
    return index


def _send(path: str) -> FileResponse:
    target = resolve(path)
    if target.name == "index.html":    # always fresh: it names the hashed assets of the build
        headers = {"Cache-Control": "no-cache"}
    else:                              # hashed file names: cache for a year
        headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    return FileResponse(target, headers=headers)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(PREFIX)
async def console_bare() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(PREFIX + "/{path:path}")
async def console(path: str) -> FileResponse:
    return _send(path)


def install_web(app: FastAPI) -> None:
    """Register the console's routes; call after the API routers."""
    app.include_router(router)
