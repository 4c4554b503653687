"""Every command of README.md and of the docs pages it links to, in sh blocks or inline, is run
here (when cheap and safe) or checked; a command the checks do not recognise fails."""

import re
import shlex

import pytest

from .checks import check_command
from .commands import copied_paths, inline_commands, page_commands
from .markdown import README, linked_pages, page_name

README_COMMANDS = page_commands(README.read_text())
# The paths the README's first deployment copies (the inventory), which the docs pages use too.
README_ALIASES = copied_paths(README_COMMANDS)
PAGE_COMMANDS = [
    command
    for page in linked_pages()
    for command in page_commands(page.read_text(), page_name(page), README_ALIASES)
]
INLINE_COMMANDS = inline_commands(README.read_text()) + [
    command
    for page in linked_pages()
    for command in inline_commands(page.read_text(), page_name(page), README_ALIASES)
]


def test_readme_shows_the_two_commands_and_a_deployment():
    programs = {command.program for command in README_COMMANDS}
    targets = {command.args[0] for command in README_COMMANDS if command.program == "make"}
    assert {"make", "ansible-playbook", "ansible-inventory"} <= programs
    assert {"test", "lab"} <= targets


def test_manual_has_commands_in_sh_blocks():
    assert {command.program for command in README_COMMANDS + PAGE_COMMANDS} >= {
        "make", "ansible-playbook", "systemctl", "promtool",
    }  # fmt: skip


@pytest.mark.parametrize("command", README_COMMANDS + PAGE_COMMANDS, ids=str)
def test_manual_command_is_run_or_checked(command, tmp_path):
    check_command(command, tmp_path)


@pytest.mark.parametrize(
    "command", INLINE_COMMANDS, ids=lambda c: f"{c.page}: {shlex.join(c.argv)}"
)
def test_manual_inline_command_is_run_or_checked(command, tmp_path):
    check_command(command, tmp_path)


@pytest.mark.parametrize(
    ("snippet", "failure"),
    [
        ("rsync -a docs/ /tmp/x\n", "not a command these checks recognise"),
        ("make deploy\n", "no such Makefile target"),
        ("systemctl status sanic-nosuch\n", "unknown units"),
        ("journalctl -u sanic-shop --no-such-option\n", "has no option --no-such-option"),
        ("ls -la /dev/shm/prom_other\n", "is not a path the roles create"),
        ("cat /etc/prometheus/file_sd/sanic/app2.example.com.yml\n", "is not a path the roles"),
        ("curl -s http://127.0.0.1:10011/metrics\n", "is neither"),
        (
            "promtool query instant http://127.0.0.1:9090 'sanic_workers{job=\"sanic-api\"}'\n",
            "not a series",
        ),
        (
            "promtool query instant http://127.0.0.1:9090 'up{job=\"sanic-api\"} >'\n",
            "promtool refuses it",
        ),
        ("cd ansible && ansible-playbook -i ../docs/examples/inventory nosuch.yml\n", "nosuch.yml"),
        ("ansible-playbook -i docs/examples/inventory ansible/site.yml\n", "run it from ansible/"),
        (
            "ANSIBLE_ROLES_PATH=$PWD/roles .venv/bin/ansible-playbook"
            " -i ansible/inventories/lab/hosts.yml molecule/default/nosuch.yml\n",
            "nosuch.yml",
        ),
        ("promtool check rules x.yml\n", "['check', 'rules']"),
    ],
)
def test_a_wrong_or_unknown_command_fails_its_check(snippet, failure, tmp_path):
    commands = page_commands(f"```sh\n{snippet}```\n")
    with pytest.raises(AssertionError, match=re.escape(failure)):
        for command in commands:
            check_command(command, tmp_path)


def test_an_inline_command_is_checked_and_a_mention_is_not(tmp_path):
    prose = "Restart it (`systemctl restart sanic-nosuch`); `promtool` checks the file."
    commands = inline_commands(prose)
    assert [command.argv for command in commands] == [["systemctl", "restart", "sanic-nosuch"]]
    with pytest.raises(AssertionError, match="unknown units"):
        check_command(commands[0], tmp_path)


def test_an_inline_sketch_with_dots_is_not_a_command():
    assert inline_commands("Run `sanic ... --workers N` under the wrapper.") == []


def test_a_docs_page_reads_the_inventory_the_readme_copied():
    """`-i ~/sanic-inventory` in a docs page is the example the README's `cp -r` copied."""
    assert README_ALIASES, "the README's first deployment copies no inventory"
    (destination,) = README_ALIASES
    assert README_ALIASES[destination].endswith("docs/examples/inventory")
    (command,) = page_commands(f"```sh\ncat {destination}\n```\n", "page.md", README_ALIASES)
    assert command.args == [README_ALIASES[destination]]
