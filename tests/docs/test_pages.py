"""README.md is the front door and links every docs/*.md page; each page names only real alerts,
metrics, role variables, make targets, scripts and repository files, in labelled fenced blocks."""

import re

import pytest

from .example import ROLE_PATHS, ROOT, entry_point_variables, exported_metric_names
from .markdown import (
    FENCE_LANGUAGES,
    README,
    code_in,
    fenced_blocks,
    linked_pages,
    make_targets_in,
    makefile_targets,
    manual_pages,
    page_name,
)

PAGES = manual_pages()
by_page = pytest.mark.parametrize("path", PAGES, ids=page_name)
ALERT = r"\bSanic[A-Z]\w+"
METRIC = r"\b(?:http_server|sanic_workers|app_instrumentation_multiprocess)_\w*"
VARIABLE = r"\b(?:sanic_service|sanic_scrape_job|prometheus_server|alertmanager)_\w+"


def test_readme_is_a_front_door_under_250_lines():
    assert len(README.read_text().splitlines()) < 250


def test_readme_links_every_docs_page_so_each_is_checked():
    assert sorted(linked_pages()) == sorted((ROOT / "docs").glob("*.md"))


def test_readmes_test_command_is_what_ci_runs():
    assert re.search(r"^make test\b", README.read_text(), flags=re.MULTILINE)
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("exec make test")


@by_page
def test_every_fenced_block_names_a_known_language(path):
    """An unlabelled block could hold a command that escapes the checks."""
    assert {language for language, _body, _line in fenced_blocks(path.read_text())} <= (
        FENCE_LANGUAGES
    )


def test_readme_names_alerts_and_metrics_in_its_picture():
    text = README.read_text()
    assert re.search(ALERT, text), "names no alert"
    assert re.search(METRIC, text), "names no metric"


@by_page
def test_page_names_only_alerts_the_rules_define(path):
    rules = (ROLE_PATHS["sanic_scrape_job"] / "templates" / "sanic_rules.yml.j2").read_text()
    named = set(re.findall(ALERT, path.read_text()))
    assert named - set(re.findall(r"- alert: (\w+)", rules)) == set()


@by_page
def test_page_names_only_metrics_the_instrumentation_exports(path):
    named = set(re.findall(METRIC, path.read_text()))
    names = exported_metric_names()
    assert {word for word in named if not any(n.startswith(word) for n in names)} == set()


@by_page
def test_page_names_only_variables_the_roles_declare(path):
    """A role variable misspelled in the manual would be copied into an inventory and ignored.
    A name ending in `_` is a family (`sanic_scrape_job_prometheus_*`)."""
    declared = entry_point_variables()
    named = set(re.findall(VARIABLE, path.read_text()))
    unknown = {
        word
        for word in named
        if word not in declared
        and not (word.endswith("_") and any(name.startswith(word) for name in declared))
    }
    assert unknown == set()


@by_page
def test_every_make_command_is_a_makefile_target(path):
    mentioned = {target for code in code_in(path.read_text()) for target in make_targets_in(code)}
    if path == README:
        assert mentioned >= {"test", "lab"}, "the README's two commands were not found"
    assert mentioned - makefile_targets() == set()


@by_page
def test_every_script_named_exists(path):
    named = set(re.findall(r"\bscripts/[\w.-]+", path.read_text()))
    if path == README:
        assert named, "the README names no script at all"
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []


@by_page
def test_every_repository_path_linked_exists(path):
    """Relative links (pages, folders, charts), read from the page's own folder."""
    linked = set(re.findall(r"\]\((?!https?:|#)([^)#\s]+)", path.read_text()))
    if path == README:
        assert linked, "the README links no file of the repository"
    assert sorted(name for name in linked if not (path.parent / name).exists()) == []


@by_page
def test_every_molecule_or_test_file_named_exists(path):
    """The Molecule plays and tests a page names, e.g. to run one check alone."""
    named = set(re.findall(r"(?<![\w/])(?:molecule|tests)/[\w./-]*\w", path.read_text()))
    assert sorted(name for name in named if not (ROOT / name).exists()) == []
