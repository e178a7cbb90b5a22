"""Approval mode's vocabulary: the review buttons' ids. Pure: no discord.py, no I/O.

A route with ``approval: true`` sends each candidate to its ``review_channel`` with an
Approve and a Reject button. The button ids carry everything needed to act on a click
(action, story, channel), so the buttons keep working after a restart.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

REVIEW_TEMPLATE = (
    r"newsdesk:review:(?P<action>approve|reject):(?P<article>[0-9a-z]+):(?P<channel>\d+)"
)
CUSTOM_ID_LIMIT = 100  # Discord's limit for a component's custom_id


class ReviewAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


def review_custom_id(action: ReviewAction | str, article_id: str, channel_id: int) -> str:
    """The custom_id of a review button; it matches :data:`REVIEW_TEMPLATE`."""
    custom_id = f"newsdesk:review:{ReviewAction(action).value}:{article_id}:{channel_id}"
    if len(custom_id) > CUSTOM_ID_LIMIT or not re.fullmatch(REVIEW_TEMPLATE, custom_id):
        raise ValueError(f"cannot make a review button for {article_id!r} in {channel_id}")
    return custom_id


def review_nonce(article_id: str, channel_id: int) -> str:
    """The nonce of a review request: the same on every attempt, at most 25 characters."""
    digest = hashlib.sha256(f"review/{article_id}/{channel_id}".encode()).hexdigest()
    return f"nr{digest[:23]}"
