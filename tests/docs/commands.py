"""The manual's commands, read from the sh blocks and inline code of its pages, with the directory
each runs in and the paths an earlier command copied. checks.py checks them."""

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .example import ROOT
from .markdown import SHELL_LANGUAGES, fenced_blocks, inline_code

# Tools an operator runs on an app host or a Prometheus server; checks.py knows each of them.
HOST_TOOLS = {
    "curl", "grep", "systemctl", "journalctl", "ls", "df", "du", "cat", "rm", "mount",
    "promtool", "userdel", "systemd-tmpfiles",
}  # fmt: skip
# Programs checks.py knows; an inline code span starting with one of them is a command too.
RECOGNISED_PROGRAMS = HOST_TOOLS | {
    "cd", ".", "source", "cp", "make", "sanic",
    "ansible", "ansible-playbook", "ansible-inventory", "ansible-doc",
}  # fmt: skip


@dataclass
class Command:
    """One command of a page's sh block, with the directory and path aliases it runs with."""

    page: str
    line: int
    argv: list
    env: dict
    cwd: Path
    aliases: dict = field(default_factory=dict)
    piped: bool = False

    @property
    def program(self):
        """The tool; `.venv/bin/X` from the repository root is the virtualenv's X."""
        if self.cwd == ROOT and self.argv[0].startswith(".venv/bin/"):
            return self.argv[0].removeprefix(".venv/bin/")
        return self.argv[0]

    @property
    def args(self):
        """Arguments with a copied path (`cp -r SRC DEST`) read as the source it copies."""
        return [self.aliases.get(arg, arg) for arg in self.argv[1:]]

    def __str__(self):
        return f"{self.page} line {self.line}: {shlex.join(self.argv)}"


def split_commands(line):
    """Split one shell line into commands at `&&`, `||`, `;` and `|` (the latter marked piped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current, piped = [], [], False
    for token in lexer:
        if token in {"&&", "||", ";", "|"}:
            commands.append((current, piped))
            current, piped = [], token == "|"
        else:
            current.append(token)
    commands.append((current, piped))
    return [(argv, piped) for argv, piped in commands if argv]


def logical_lines(body, first_line):
    """(line number, text) of each command line, a trailing backslash joining the next line."""
    start, pending = None, ""
    for number, raw in enumerate(body.split("\n"), start=first_line):
        start = number if not pending else start
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        yield start, pending + raw
        pending = ""


def page_commands(text, page="README.md", aliases=None):
    """Every command of the sh blocks; each block starts at the repository root, as one reads it.
    `aliases` are the paths an earlier page copied (`cp -r`), which this page uses too."""
    commands, aliases = [], dict(aliases or {})
    for language, body, fence_line in fenced_blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        cwd = ROOT
        for number, line in logical_lines(body, fence_line + 1):
            for argv, piped in split_commands(line):
                env = {}
                while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
                    name, _, value = argv.pop(0).partition("=")
                    env[name] = value.replace("$PWD", str(cwd))
                command = Command(page, number, argv, env, cwd, dict(aliases), piped)
                commands.append(command)
                if command.program == "cd":
                    cwd = (cwd / command.argv[1]).resolve()
                aliases.update(copied_paths([command]))
    return commands


def copied_paths(commands):
    """{destination: source} of every `cp -r SRC DEST`: later commands read DEST as SRC."""
    return {
        command.argv[3]: str((command.cwd / command.argv[2]).resolve())
        for command in commands
        if command.program == "cp" and command.argv[1:2] == ["-r"]
    }


def inline_commands(text, page="README.md", aliases=None):
    """Commands written inline in the prose (`systemctl restart sanic-shop`): a span of two words or
    more that starts with a recognised program. A span with `...` is a sketch, not a command."""
    commands = []
    for span in inline_code(text):
        words = [word for word in span.split() if not re.match(r"^[A-Z_][A-Z0-9_]*=", word)]
        if len(words) >= 2 and words[0] in RECOGNISED_PROGRAMS and "..." not in words:
            commands += page_commands(f"```sh\n{span}\n```\n", page, aliases)
    return commands
