"""ExecuteCommand's word splitting: exactly shlex.split's words and errors (a property over generated
strings of the characters that matter), in one pass however long a word is."""

from __future__ import annotations

import shlex

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.services.ecs.ops.execute import split_words

PIECES = st.sampled_from(["a", "b c", " ", "\t", "\n", "\r", '"', "'", "\\", "$x", "é"])


def outcome(fn, s: str):
    try:
        return fn(s)
    except ValueError as e:
        return ("error", str(e))


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=16).map("".join))
def test_the_same_words_and_errors_as_shlex(s: str) -> None:
    assert outcome(split_words, s) == outcome(shlex.split, s)


def test_a_megabyte_word_in_one_pass() -> None:
    big = "a" * 1_000_000
    assert split_words(f'ls "{big}" \'{big}\' {big}') == ["ls", big, big, big]
    assert outcome(split_words, '"' + big) == ("error", "No closing quotation")
