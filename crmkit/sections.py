"""Several read-only sections about one record in one RPC (the customer 360° view).

The gateway used to make one RPC per section — eleven for the 360° view, six of them to the
one sales process — and every Nameko RPC costs about as much CPU as the read behind it.
A service now answers all the sections it owns in one call; each section is still read in
its own unit of work and fails on its own::

    {"opportunities": {"available": true, "data": {...}},
     "quotes": {"available": false, "error": {"code": "...", "message": "..."}}}
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from crmkit.errors import DomainError, ValidationFailed

log = logging.getLogger(__name__)


def unavailable(code: str, message: str) -> dict:
    return {"available": False, "error": {"code": code, "message": message}}


def read_sections(db, readers: dict[str, Callable[[Any], Any]],
                  wanted: Iterable[str] | None) -> dict[str, dict]:
    """``{name: {"available": True, "data": readers[name](uow)}}`` for each wanted section
    (all when ``wanted`` is None); a section that raises is ``available: false`` with its
    error, the others are served."""
    names = list(readers) if wanted is None else list(wanted)
    unknown = [name for name in names if name not in readers]
    if unknown:
        raise ValidationFailed("validation_error", f"unknown sections: {', '.join(unknown)}",
                               [{"field": "sections", "message": f"one of {', '.join(readers)}"}])
    out: dict[str, dict] = {}
    for name in names:
        try:
            with db.unit() as uow:
                out[name] = {"available": True, "data": readers[name](uow)}
        except DomainError as exc:
            out[name] = unavailable(exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - one section never fails the others
            log.exception("section %s failed", name)
            out[name] = unavailable("internal_error", type(exc).__name__)
    return out
