"""Releases kept for rollback, service removal and cache pruning (plugins/filter/
sanic_service_releases.py and sanic_service_removal.py):
which releases a host keeps and which version directories go, which release a rollback returns
to, which accounts a removal deletes (only those the role created and nothing left uses), and
which cached archives go. The role's own task files are then run with ansible-playbook on this
machine, on directories under a temporary path."""

import itertools
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_releases,
    sanic_service_removal,
)

from .host_scripts import run

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")

RANDOM = random.Random(17)


def release(number: int) -> str:
    return f"app-{number:016x} venv-{number % 3:016x}"


# --- which releases a host keeps ------------------------------------------------------------------
# Releases files of 0-8 lines, each with the release deployed next: new, or one already in the file.
HISTORIES = [
    [release(n) for n in RANDOM.sample(range(50), RANDOM.randint(0, 8))] for _ in range(60)
]
DEPLOYS = [(history, release(RANDOM.choice([*range(50), 99]))) for history in HISTORIES]


@pytest.mark.parametrize(
    ("history", "current", "keep"),
    [
        (history, current, keep)
        for (history, current), keep in itertools.product(DEPLOYS, [0, 1, 2, 5])
    ],
)
def test_the_running_release_comes_last_after_at_most_keep_earlier_ones(history, current, keep):
    kept = sanic_service_releases.releases_kept(history, current, keep)
    earlier = [line for line in history if line != current]
    assert kept[-1] == current
    assert len(kept) == len(set(kept)) == min(len(earlier), keep) + 1
    # The most recent earlier releases, in their order.
    assert kept[:-1] == (earlier[max(len(earlier) - keep, 0) :] if keep else [])


def test_a_redeployed_release_moves_to_the_end_instead_of_appearing_twice():
    assert sanic_service_releases.releases_kept([release(1), release(2)], release(1), 1) == [
        release(2),
        release(1),
    ]


@pytest.mark.parametrize("history", HISTORIES)
def test_a_rollback_returns_to_the_release_before_the_running_one(history):
    for index, current in enumerate(history):
        before = history[:index]
        assert sanic_service_releases.rollback_release(history, current) == (
            before[-1] if before else None
        )


def test_a_running_release_that_never_passed_the_gate_goes_back_to_the_last_that_did():
    assert sanic_service_releases.rollback_release([release(1), release(2)], release(3)) == release(
        2
    )
    assert sanic_service_releases.rollback_release([], release(3)) is None


def test_the_rollback_plan_reads_the_links_and_the_releases_file_of_the_host():
    service = {"name": "api", "install_dir": "/opt/sanic-services/api"}
    app, venv = release(2).split()
    plan = sanic_service_releases.rollback_plan(
        (
            service,
            {"stat": {"lnk_target": app}},
            {"stat": {"lnk_target": venv}},
            {"rc": 0, "stdout_lines": [release(1), release(2)]},
        )
    )
    assert (plan["app_version"], plan["venv_version"]) == tuple(release(1).split())
    assert plan["rolled_back_from"] == release(2)
    missing = sanic_service_releases.rollback_plan(
        (service, {"stat": {}}, {"stat": {}}, {"rc": 1, "stdout_lines": []})
    )
    assert (missing["app_version"], missing["history"]) == ("", [])


def test_every_version_directory_no_kept_release_names_goes_with_every_unpacked_wheelhouse():
    services = [
        {"name": "api", "install_dir": "/opt/s/api"},
        {"name": "web", "install_dir": "/opt/s/web"},
    ]
    kept = {"api": [release(1), release(2)], "web": [release(4)]}
    found = [
        f"/opt/s/{name}/{kind}-{number:016x}"
        for name in ("api", "web")
        for kind in ("app", "venv", "wheels")
        for number in range(6)
    ] + ["/opt/s/api/other", "/opt/s/gone/app-0000000000000001"]
    names_kept = {
        (name, word) for name, lines in kept.items() for line in lines for word in line.split()
    }
    expected = sorted(
        path
        for path in found
        if path.split("/")[3] in kept
        and path.rsplit("/", 1)[1].startswith(("app-", "venv-", "wheels-"))
        and (path.split("/")[3], path.rsplit("/", 1)[1]) not in names_kept
    )
    pruned = sanic_service_releases.versions_to_prune(found, services, kept)
    assert pruned == expected
    assert "/opt/s/api/app-0000000000000001" not in pruned
    assert "/opt/s/api/wheels-0000000000000001" in pruned
    assert not [path for path in pruned if "/gone/" in path or path.endswith("other")]


# --- which accounts a removal deletes -------------------------------------------------------------
def passwd_entry(uid, gid):
    return ["x", str(uid), str(gid), "", "/nonexistent", "/usr/sbin/nologin"]


@pytest.mark.parametrize(
    ("created", "kept", "other_users", "members", "removed"),
    [
        # Created by the role, used by nothing else: both go.
        ({"users": ["shop"], "groups": ["shop"]}, [], {}, "", (["shop"], ["shop"])),
        # Existing before the role: neither goes.
        ({"users": [], "groups": []}, [], {}, "", ([], [])),
        ({"users": ["shop"], "groups": []}, [], {}, "", (["shop"], [])),
        # A kept service runs as the user, or in the group.
        (
            {"users": ["shop"], "groups": ["shop"]},
            [{"user": "shop", "group": "cart"}],
            {},
            "",
            # The user stays, and the group stays its primary group.
            ([], []),
        ),
        (
            {"users": ["shop"], "groups": ["shop"]},
            [{"user": "cart", "group": "shop"}],
            {},
            "",
            (["shop"], []),
        ),
        # Another account has the group as its primary group, or is a member of it.
        ({"users": ["shop"], "groups": ["shop"]}, [], {"alice": 900}, "", (["shop"], [])),
        ({"users": ["shop"], "groups": ["shop"]}, [], {}, "alice", (["shop"], [])),
        # The removed user itself as a member does not keep the group.
        ({"users": ["shop"], "groups": ["shop"]}, [], {}, "shop", (["shop"], ["shop"])),
    ],
)
def test_a_removal_deletes_only_accounts_the_role_created_and_nothing_left_uses(
    created, kept, other_users, members, removed
):
    passwd = {"shop": passwd_entry(990, 900), "root": passwd_entry(0, 0)}
    passwd.update({name: passwd_entry(1000, gid) for name, gid in other_users.items()})
    passwd.setdefault("alice", passwd_entry(1000, 1000))
    groups = {"shop": ["x", "900", members], "root": ["x", "0", ""]}
    result = sanic_service_removal.accounts_to_remove(
        [{"name": "shop", "user": "shop", "group": "shop"}], kept, created, passwd, groups
    )
    assert (result["users"], result["groups"]) == removed


@pytest.mark.parametrize(
    ("removed_dir", "kept_dir", "refused"),
    [
        ("/dev/shm/prom_old", "/dev/shm/prom_new", False),
        ("/dev/shm/prom_x", "/dev/shm/prom_x", True),
        ("/dev/shm/prom_x/", "/dev/shm/prom_x", True),
        ("/dev/shm/a", "/dev/shm/a/b", True),
        ("/dev/shm/a/b", "/dev/shm/a", True),
        ("/dev/shm/a", "/dev/shm/ab", False),
    ],
)
def test_a_removal_may_not_delete_the_metrics_directory_of_a_kept_service(
    removed_dir, kept_dir, refused
):
    errors = sanic_service_removal.removal_errors(
        [{"name": "old", "multiproc_dir": removed_dir}],
        "app-1",
        [{"name": "new", "multiproc_dir": kept_dir}],
    )
    assert bool(errors) == refused
    for message in errors:
        assert message.startswith("app-1: sanic_services[name=old].multiproc_dir")
        assert "allowed" in message


def test_a_service_marked_absent_needs_only_its_name(resolve_services):
    (removal,) = resolve_services(
        [{"name": "old", "state": "absent"}], host_address="10.0.0.1", inventory_hostname="app-1"
    )
    assert removal["state"] == "absent"
    assert removal["install_dir"] == "/opt/sanic-services/old"
    assert removal["unit_path"] == "/etc/systemd/system/sanic-old.service"
    assert (removal["user"], removal["group"], removal["multiproc_dir"]) == (
        "old",
        "old",
        "/dev/shm/prom_old",
    )


# --- the control node's cache ---------------------------------------------------------------------
def test_the_cache_keeps_what_hosts_hold_and_the_most_recent_spares_of_each_kind():
    apps = [{"path": f"/c/apps/{n:016x}{'f' * 48}.tar", "mtime": 100 + n} for n in range(6)]
    wheelhouses = [
        {"path": f"/c/wheelhouse/cp311-glibc2.36-x86_64/{n:016x}.tar", "mtime": 200 + n}
        for n in range(6)
    ]
    held = [f"app-{0:016x} venv-{1:016x}"]
    pruned = sanic_service_releases.cache_to_prune(apps + wheelhouses, held, 2)
    # Held: app 0 and wheelhouse 1; spares: the two newest others of each kind (4, 5).
    assert pruned == sorted(
        [apps[n]["path"] for n in (1, 2, 3)] + [wheelhouses[n]["path"] for n in (0, 2, 3)]
    )
    assert sanic_service_releases.cache_to_prune(apps, [], 10) == []


# --- the role's task files, run by ansible-playbook ----------------------------------------------
def run_role_tasks(tmp_path, tasks_from, variables, *arguments):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "ansible.builtin.include_role": {
                                "name": "sanic_service",
                                "tasks_from": tasks_from,
                            }
                        }
                    ],
                }
            ]
        )
    )
    variables_file = tmp_path / "vars.json"
    variables_file.write_text(json.dumps(variables))
    return subprocess.run(
        [
            *(PLAYBOOK, "-i", "localhost,", "-c", "local", str(playbook), *arguments),
            *("-e", f"@{variables_file}", "-e", f"ansible_python_interpreter={sys.executable}"),
        ],
        env={**os.environ, "ANSIBLE_ROLES_PATH": str(REPO / "roles")},
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_cleanup(tmp_path, install_dir, running, **keys):
    """tasks/cleanup.yml after a gate passed with the service `api` running release `running`."""
    app, venv = running.split()
    service = {
        "name": "api",
        "install_dir": str(install_dir),
        "app_version": app,
        "venv_version": venv,
        "keep_releases": 1,
        **keys,
    }
    return run_role_tasks(tmp_path, "cleanup", {"sanic_service_instances": [service]})


@pytest.mark.skipif(os.geteuid() != 0, reason="the role writes files owned by root")
def test_deploys_keep_the_previous_release_and_remove_older_and_other_versions(tmp_path):
    install_dir = tmp_path / "api"
    install_dir.mkdir()
    deployed = []
    for number in range(1, 4):
        for directory in (*release(number).split(), f"wheels-{number:016x}"):
            (install_dir / directory).mkdir(exist_ok=True)
        result = run_cleanup(tmp_path, install_dir, release(number))
        assert result.returncode == 0, result.stdout + result.stderr
        deployed.append(release(number))
    releases = (install_dir / "releases").read_text().splitlines()
    assert releases == deployed[-2:]
    # Every wheels- directory is gone, and release 1's app and virtualenv.
    assert sorted(path.name for path in install_dir.iterdir() if path.is_dir()) == sorted(
        {word for line in releases for word in line.split()}
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the role writes files owned by root")
def test_a_rollback_drops_the_release_it_left_from_the_host(tmp_path):
    install_dir = tmp_path / "api"
    install_dir.mkdir()
    for number in (1, 2):
        for directory in release(number).split():
            (install_dir / directory).mkdir(exist_ok=True)
    (install_dir / "releases").write_text(f"{release(1)}\n{release(2)}\n")
    result = run_cleanup(tmp_path, install_dir, release(1), rolled_back_from=release(2))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (install_dir / "releases").read_text() == f"{release(1)}\n"
    assert sorted(path.name for path in install_dir.iterdir() if path.is_dir()) == sorted(
        release(1).split()
    )


def test_the_cache_is_pruned_after_a_run_that_reached_every_host_and_never_with_limit(tmp_path):
    cache = tmp_path / "cache"
    (cache / "apps").mkdir(parents=True)
    (cache / "wheelhouse/cp311-glibc2.36-x86_64").mkdir(parents=True)
    (cache / "lab").mkdir()
    (cache / "lab/ca.pem").write_text("not the cache's")
    files = [cache / "apps" / f"{n:016x}{'f' * 48}.tar" for n in range(4)]
    files += [cache / "wheelhouse/cp311-glibc2.36-x86_64" / f"{n:016x}.tar" for n in range(4)]
    for age, path in enumerate(files):
        path.write_text("")
        os.utime(path, (time.time() - 1000 + age, time.time() - 1000 + age))
    service = {
        "name": "api",
        "install_dir": str(tmp_path / "nowhere"),
        "app_version": f"app-{0:016x}",
        "venv_version": f"venv-{0:016x}",
    }
    variables = {
        "sanic_service_instances": [service],
        "sanic_service_cache_dir": str(cache),
        "sanic_service_cache_spare": 1,
    }
    limited = run_role_tasks(tmp_path, "prune_cache", variables, "--limit", "localhost")
    assert limited.returncode == 0, limited.stdout + limited.stderr
    assert all(path.exists() for path in files)
    result = run_role_tasks(tmp_path, "prune_cache", variables)
    assert result.returncode == 0, result.stdout + result.stderr
    # Held: app 0, venv 0; spares: the newest other of each kind (3).
    assert sorted(path.name for path in files if path.exists()) == sorted(
        [files[0].name, files[3].name, files[4].name, files[7].name]
    )
    assert (cache / "lab/ca.pem").exists()


def test_the_host_read_gives_each_services_releases_and_version_directories(tmp_path):
    api, new = tmp_path / "api", tmp_path / "new"
    for directory in ("app-1", "venv-1", "wheels-1", "app-2", "tls"):
        (api / directory).mkdir(parents=True)
    os.symlink("app-2", api / "app")
    (api / "releases").write_text(f"{release(1)}\n{release(2)}\n")
    report = run(
        "read_plan.py",
        {
            "releases": {
                "releases_file": "releases",
                "services": [["api", str(api)], ["new", str(new)]],
            }
        },
    )["releases"]
    assert report == {
        "api": {
            "releases": [release(1), release(2)],
            "versions": sorted(
                str(api / name) for name in ("app-1", "app-2", "venv-1", "wheels-1")
            ),
        },
        "new": {"releases": [], "versions": []},
    }


def test_the_release_a_rollback_left_is_dropped_from_what_the_host_keeps():
    service = {"name": "api", "app_version": "app-0000000000000003", "keep_releases": 2}
    service["venv_version"] = "venv-0000000000000000"
    reads = {"api": {"releases": [release(1), release(2), release(3)]}}
    assert sanic_service_releases.releases_kept_on_host(service, reads) == [
        release(1),
        release(2),
        release(3),
    ]
    left = {**service, "rolled_back_from": release(2)}
    assert sanic_service_releases.releases_kept_on_host(left, reads) == [release(1), release(3)]
