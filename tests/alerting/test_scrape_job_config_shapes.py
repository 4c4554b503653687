"""sanic_scrape_job adds its rules file and its job to any valid prometheus.yml: under the list's
key when it is there, whatever that list's indentation and the comments above it, or with the key
when it is missing. Real parts: the role's tasks run by ansible-playbook on a scratch
prometheus.yml, every write checked by the role's own promtool validate, the result by promtool
check config; a second run changes nothing."""

import re
import subprocess

import pytest
import yaml

from .render import copy_role_with_noted_handler, run_plays

JOB = "sanic-api"
OTHER_JOB = "- job_name: prometheus\n{i}  static_configs:\n{i}    - targets: ['localhost:9090']\n"
GLOBAL = "global:\n  scrape_interval: 15s\n"


def with_lists(indent: str, between: str = "") -> str:
    """A prometheus.yml with both lists, entries indented by `indent`, `between` after each key."""
    return (
        GLOBAL
        + f"rule_files:\n{between}{indent}- OTHER_RULES\n"
        + f"scrape_configs:\n{between}{indent}{OTHER_JOB.format(i=indent)}"
    )


SHAPES = {
    "both lists, 2-space entries": with_lists("  "),
    "both lists, 0-space entries": with_lists(""),
    "both lists, 4-space entries": with_lists("    "),
    "comments and a blank line between the keys and their entries": with_lists(
        "  ", "  # managed by hand\n\n# another note\n"
    ),
    "no rule_files": GLOBAL + f"scrape_configs:\n  {OTHER_JOB.format(i='  ')}",
    "no rule_files, 0-space entries": GLOBAL + f"scrape_configs:\n{OTHER_JOB.format(i='')}",
    "no scrape_configs": GLOBAL + "rule_files:\n  - OTHER_RULES\n",
    "neither list, only global": GLOBAL,
    "an empty file": "",
    "no trailing newline": GLOBAL + f"scrape_configs:\n  {OTHER_JOB.format(i='  ')}".rstrip("\n"),
    "no trailing newline, only global": GLOBAL.rstrip("\n"),
    "keys with empty values (Debian's sample)": GLOBAL
    + "rule_files:\n  # - first_rules.yml\n\nscrape_configs:\n",
}


def run_role(scratch):
    variables = {
        "sanic_scrape_job_prometheus_config_file": str(scratch / "prometheus.yml"),
        "sanic_scrape_job_file_sd_dir": str(scratch / "file_sd"),
        "sanic_scrape_job_rules_file": str(scratch / "rules" / "sanic.yml"),
    }
    tasks = [
        {"ansible.builtin.include_role": {"name": "sanic_scrape_job", "tasks_from": name}}
        for name in ("variables.yml", "preflight.yml", "rules.yml", "configure.yml")
    ]
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    result = run_plays(plays, variables, scratch / "roles", scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def changed_count(stdout: str) -> int:
    return int(re.search(r"localhost\s*:.*\bchanged=(\d+)", stdout)[1])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("text", SHAPES.values(), ids=SHAPES.keys())
def test_the_role_adds_its_rules_and_job_once_promtool_accepts_it_and_a_rerun_changes_nothing(
    tmp_path, text
):
    copy_role_with_noted_handler(
        "sanic_scrape_job", tmp_path / "roles", "sanic_scrape_job reload prometheus", "RELOAD"
    )
    config_file = tmp_path / "prometheus.yml"
    # promtool needs every listed rules file to exist
    other_rules = tmp_path / "other_rules.yml"
    other_rules.write_text("groups: []\n")
    text = text.replace("OTHER_RULES", str(other_rules))
    config_file.write_text(text)
    before = yaml.safe_load(text) or {}

    run_role(tmp_path)
    after_first_run = config_file.read_text()
    check = subprocess.run(
        ["promtool", "check", "config", config_file], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load(after_first_run)
    rules_file = str(tmp_path / "rules" / "sanic.yml")
    assert sorted(config["rule_files"]) == sorted((before.get("rule_files") or []) + [rules_file])
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert sorted(jobs) == sorted(
        [job["job_name"] for job in before.get("scrape_configs") or []] + [JOB]
    )
    assert config.get("global") == before.get("global")

    assert changed_count(run_role(tmp_path)) == 0
    assert config_file.read_text() == after_first_run
