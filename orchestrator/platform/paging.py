"""Index-token paging, as the JSON services answer a listing: the token is the index of the next item, and
a token that is no such index is the service's own error (``invalid``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def index_page(items: list[T], token: str | None, size: int, *,
               invalid: Callable[[], Exception]) -> tuple[list[T], str | None]:
    """(the page of ``items`` from ``token``, the next page's token or None)."""
    start = 0
    if token:
        if not token.isdigit() or int(token) > len(items):
            raise invalid()
        start = int(token)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)
