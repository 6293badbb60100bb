"""The shell commands a newcomer is told to type, read out of the docs' fenced code blocks.

A block counts when its info string is ``sh``, ``bash`` or ``console`` (``text`` blocks are output, not
commands). Lines ending in ``\\`` continue; ``#`` starts a comment outside quotes; a leading ``$ `` prompt
is dropped; ``a && b`` is two commands; ``X=$(cmd)`` is ``cmd``. Environment assignments in front of a
command (``STAGE=prod make package``) are kept apart from its words.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_BLOCKS = {"sh", "bash", "console", "shell"}
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
#: ``ARN=$(aws iot …)``: the command inside is what the reader runs
CAPTURED = re.compile(r"^[A-Z_][A-Z0-9_]*=\$\((?P<inner>.*)\)\s*(?:#.*)?$")


@dataclass(frozen=True)
class DocCommand:
    source: str  # "docs/deploy.md:42"
    env: dict[str, str]
    words: list[str]

    def __str__(self) -> str:
        return f"{self.source}: {shlex.join(self.words)}"


def _logical_lines(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Join continuation lines; each logical line keeps the number of its first physical line."""
    joined: list[tuple[int, str]] = []
    start, text = 0, ""
    for number, raw in lines:
        line = raw.rstrip()
        if not text:
            start = number
        text = f"{text} {line.strip()}" if text else line
        if text.endswith("\\"):
            text = text[:-1]
            continue
        joined.append((start, text))
        text = ""
    return joined


def _split(text: str) -> list[list[str]]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars="&|;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", ";", "|", "&"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def commands_in(path: Path, root: Path, skip_section: str | None = None) -> list[DocCommand]:
    """The commands of ``path``'s shell blocks, leaving out the section headed ``skip_section``."""
    found: list[DocCommand] = []
    block: list[tuple[int, str]] = []
    inside, shell, skipping = False, False, False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not inside and line.startswith("#"):
            skipping = line.lstrip("#").strip() == skip_section
        fence = FENCE.match(line)
        if skipping:
            inside = inside != bool(fence or (inside and line.startswith("```")))
            continue
        if not inside and fence:
            inside, shell, block = True, fence.group(1) in SHELL_BLOCKS, []
        elif inside and line.startswith("```"):
            inside = False
            if shell:
                found.extend(_commands(block, f"{path.relative_to(root)}"))
        elif inside:
            block.append((number, line))
    return found


def _commands(block: list[tuple[int, str]], source: str) -> list[DocCommand]:
    found: list[DocCommand] = []
    for start, text in _logical_lines(block):
        text = text.strip().removeprefix("$ ")
        captured = CAPTURED.match(text)
        for words in _split(captured.group("inner") if captured else text):
            env: dict[str, str] = {}
            while words and ASSIGNMENT.match(words[0]):
                key, _, value = words.pop(0).partition("=")
                env[key] = value
            if words:
                found.append(DocCommand(f"{source}:{start}", env, words))
    return found
