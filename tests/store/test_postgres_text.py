"""The PostgreSQL store's search words, made in Python (bot.store.postgres.text): the
tsvector text a load writes for each story."""

from __future__ import annotations

from bot.store.postgres import text


def test_a_story_s_words_are_stems_with_their_positions_and_its_topics_tags() -> None:
    assert text.search_words("Reefs reef, running", "The reefs", ["AI", "Café"], "Prov") == (
        "'reef':1,2 'run':3",
        "'reef':1,2,7 'run':3 'the':6 'ai':10 'cafe':11 'prov':14 'topic:ai' 'topic:cafe'",
    )
    assert text.search_words("", "", [], "") == ("", " ")


def test_a_word_keeps_its_first_256_positions() -> None:
    vector = text.tsvector("a " * 300, "b")
    assert vector == "'a':" + ",".join(map(str, range(1, 257))) + " 'b':303"


def test_positions_past_the_last_a_tsvector_keeps_are_read_as_it_once() -> None:
    vector = text.tsvector("x " * 16390 + "y z y")
    assert vector.endswith(",256 'y':16383 'z':16383")
    assert vector.startswith("'x':1,2,3,")
