"""The manual's pages and what is written in them: README.md, the docs/*.md pages it links to,
their fenced blocks and their inline code."""

import re

from .example import ROOT

README = ROOT / "README.md"
# Fence languages a page may use; commands belong in the shell ones, which are all checked.
SHELL_LANGUAGES = {"sh", "bash"}
FENCE_LANGUAGES = SHELL_LANGUAGES | {"text", "yaml"}
# The generated role tables: their one command has a placeholder; scripts/role_docs.py writes it.
GENERATED = re.compile(r"<!-- role-variables:start -->.*<!-- role-variables:end -->", re.S)


def linked_pages(text=None):
    """The docs/*.md pages README.md links to, in the order it links them."""
    text = README.read_text() if text is None else text
    names = re.findall(r"\]\((docs/[\w.-]+\.md)(?:#[\w-]*)?\)", text)
    return [ROOT / name for name in dict.fromkeys(names)]


def manual_pages():
    """README.md first, then every page it links to."""
    return [README, *linked_pages()]


def page_name(path):
    return str(path.relative_to(ROOT))


def fenced_blocks(text):
    """(language, body, line number of the opening fence) of every fenced block, nested or not."""
    blocks = []
    for match in re.finditer(r"^( *)```(\S*)\n(.*?)^\1```$", text, flags=re.MULTILINE | re.DOTALL):
        body = re.sub(rf"^{match.group(1)}", "", match.group(3), flags=re.MULTILINE)
        blocks.append((match.group(2), body, text.count("\n", 0, match.start()) + 1))
    return blocks


def without_fenced_blocks(text):
    return re.sub(r"^( *)```.*?^\1```$", "", text, flags=re.MULTILINE | re.DOTALL)


def inline_code(text):
    """Inline code spans outside the fenced blocks and the generated role tables."""
    return re.findall(r"`([^`\n]+)`", without_fenced_blocks(GENERATED.sub("", text)))


def code_in(text):
    """Fenced blocks and inline code spans: where a page gives commands to type."""
    fenced = [body for _language, body, _line in fenced_blocks(text)]
    return fenced + re.findall(r"`([^`\n]+)`", without_fenced_blocks(text))


def make_targets_in(code):
    """`make X` at the start of a command line, after any VAR=value assignments."""
    assignments = r'(?:\w+=(?:"[^"]*"|\S+)\s+)*'
    return re.findall(rf"^\s*{assignments}make ([\w-]+)", code, flags=re.MULTILINE)


def makefile_targets():
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_-]+):", makefile, flags=re.MULTILINE))
