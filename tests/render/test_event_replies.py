"""The replies to /queue split and /queue merge."""

from __future__ import annotations

from bot.desk.moderation import Regrouped
from bot.ingest.parsing import article_from_mapping
from bot.render.replies import moderation_reply
from tests import command_fakes as fx

TITLE = "IBM quits facial recognition business"


def test_split_and_merge_replies() -> None:
    article = article_from_mapping(fx.story("ibm-2", TITLE)).article
    split = moderation_reply(Regrouped(article, fx.AI, ("aaaaaaaa", "bbbbbbbb"), None))
    assert split.content == (
        f"✂️ Split `{article.id}` **{TITLE}** from its event (`aaaaaaaa`, `bbbbbbbb`): it is"
        " posted on its own, and no load merges them again."
    )
    merged = moderation_reply(Regrouped(article, fx.AI, ("aaaaaaaa",), "aaaaaaaa"))
    assert merged.content == (
        f"🔗 Merged `{article.id}` **{TITLE}** with `aaaaaaaa`: one event, posted once in each"
        " channel as `aaaaaaaa`."
    )
