"""What the fake records about REST requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordedRequest:
    """One REST request as the fake saw it (``path`` is relative to ``/api/v10``)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    time: float
    status: int | None = None  # None while the request is still being answered
    response: Any = None
    route: str | None = None  # e.g. "POST /channels/{channel_id}/messages"
    response_headers: dict[str, str] = field(default_factory=dict)
