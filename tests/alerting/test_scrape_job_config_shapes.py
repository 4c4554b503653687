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


def recap(result, host: str) -> dict[str, int]:
    """The host's counts in the run's play recap: ok, changed, unreachable, failed, ..."""
    line = re.search(rf"^{host}\s*:(.*)$", result.stdout, re.MULTILINE)
    assert line, f"no recap line for {host}:\n{result.stdout}{result.stderr}"
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line[1])}


@pytest.fixture(scope="module")
def role_runs(tmp_path_factory):
    """Every shape in its own scratch directory, one inventory host each, the role run twice over
    all of them: two ansible-playbook starts instead of two per shape. Per shape: its directory,
    the text after the first run, and the two runs' output (each recap line names the host)."""
    root = tmp_path_factory.mktemp("shapes")
    copy_role_with_noted_handler(
        "sanic_scrape_job", root / "roles", "sanic_scrape_job reload prometheus", "RELOAD"
    )
    hosts, scratches = {}, {}
    for index, (shape, text) in enumerate(SHAPES.items()):
        host, scratch = f"shape_{index}", root / f"shape_{index}"
        scratch.mkdir()
        # promtool needs every listed rules file to exist: the shape's own, and the role's (written
        # here: the role's rules tasks, which tests/rules cover, would double the module runs)
        other_rules = scratch / "other_rules.yml"
        other_rules.write_text("groups: []\n")
        (scratch / "rules").mkdir()
        (scratch / "rules" / "sanic.yml").write_text("groups: []\n")
        (scratch / "prometheus.yml").write_text(text.replace("OTHER_RULES", str(other_rules)))
        hosts[host] = {
            "sanic_scrape_job_prometheus_config_file": str(scratch / "prometheus.yml"),
            "sanic_scrape_job_file_sd_dir": str(scratch / "file_sd"),
            "sanic_scrape_job_rules_file": str(scratch / "rules" / "sanic.yml"),
            "sanic_scrape_job_slo_rules_dir": str(scratch / "rules" / "slos"),
        }
        scratches[shape] = (host, scratch)
    tasks = [
        {"ansible.builtin.include_role": {"name": "sanic_scrape_job", "tasks_from": name}}
        for name in ("variables", "preflight", "configure")
    ]
    plays = [{"hosts": "all", "gather_facts": False, "tasks": tasks}]
    first = run_plays(plays, {}, root / "roles", root, hosts)
    after_first_run = {
        shape: (scratch / "prometheus.yml").read_text() for shape, (_, scratch) in scratches.items()
    }
    second = run_plays(plays, {}, root / "roles", root, hosts)
    return {
        shape: (host, scratch, after_first_run[shape], first, second)
        for shape, (host, scratch) in scratches.items()
    }


@pytest.mark.timeout(300)
@pytest.mark.parametrize("shape", SHAPES)
def test_the_role_adds_its_rules_and_job_once_promtool_accepts_it_and_a_rerun_changes_nothing(
    role_runs, shape
):
    host, scratch, after_first_run, first, second = role_runs[shape]
    first_recap = recap(first, host)
    assert (first_recap["failed"], first_recap["unreachable"]) == (0, 0), first.stdout
    config_file = scratch / "prometheus.yml"
    first_run_file = scratch / "after_first_run.yml"
    first_run_file.write_text(after_first_run)
    check = subprocess.run(
        ["promtool", "check", "config", first_run_file], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    before = yaml.safe_load(SHAPES[shape].replace("OTHER_RULES", str(scratch / "other_rules.yml")))
    before = before or {}
    config = yaml.safe_load(after_first_run)
    rules_files = [str(scratch / "rules" / "sanic.yml"), str(scratch / "rules" / "slos" / "*.yml")]
    assert sorted(config["rule_files"]) == sorted((before.get("rule_files") or []) + rules_files)
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert sorted(jobs) == sorted(
        [job["job_name"] for job in before.get("scrape_configs") or []] + [JOB]
    )
    assert config.get("global") == before.get("global")

    second_recap = recap(second, host)
    assert (second_recap["failed"], second_recap["changed"]) == (0, 0), second.stdout
    assert config_file.read_text() == after_first_run
