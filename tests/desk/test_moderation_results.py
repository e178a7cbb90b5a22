"""The /queue commands' results are one typed union, answered exhaustively.

mypy proves that :func:`bot.render.replies.moderation_reply` has a reply for every member
of :data:`bot.desk.moderation.QueueResult` (its match ends in ``assert_never``); this test
proves the union is what the desk returns, so a new action's result cannot go unanswered.
"""

from __future__ import annotations

import inspect
import typing

from bot.desk.moderation import Decided, Moderation, QueueResult


def test_the_union_is_what_the_desks_actions_return() -> None:
    returns = {
        name: typing.get_type_hints(method)["return"]
        for name, method in inspect.getmembers(Moderation, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    assert returns.pop("decide") is Decided  # edits the review message instead
    assert {name: cls.__name__ for name, cls in returns.items()} == {
        "add": "Pinned",
        "list_queue": "QueueListing",
        "merge": "Regrouped",
        "move": "Pinned",
        "pause": "RouteChanged",
        "post_now": "Posted",
        "remove": "Unpinned",
        "resume": "RouteChanged",
        "retry": "Retried",
        "skip": "Skipped",
        "split": "Regrouped",
        "submit": "Submitted",
        "why": "Explained",
    }
    assert set(typing.get_args(QueueResult)) == set(returns.values())
