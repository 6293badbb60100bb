"""Turning pydantic's validation errors into one readable sentence for a 400 or a reject record."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only an annotation here: importing this module must not import pydantic
    from pydantic import ValidationError


def validation_message(exc: ValidationError, max_errors: int = 5) -> str:
    parts = []
    for err in exc.errors()[:max_errors]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
