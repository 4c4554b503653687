"""Remote write to a long-term store, computed on the control node.

`prometheus_server_remote_write_problems` is the role's preflight for it: one sentence per problem,
each naming the host and the variable. `prometheus_server_with_remote_write` writes the external
labels and the `remote_write:` section into prometheus.yml as marked blocks the role owns, keeping
everything else. `prometheus_server_agent_flag` is the flag of agent mode on the installed version.
"""

import os
import re

import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.durations import (
    duration_seconds,
)

EXTERNAL_LABELS_MARKER = "prometheus_server external labels"
REMOTE_WRITE_MARKER = "prometheus_server remote write"
RULES_MARKER = "prometheus_server remote write rules"
# Credentials live in files beside the configuration; Prometheus reads them at every request.
SECRETS_DIR = "remote_write"
URL = re.compile(r"^https?://[^/\s:]+(:[0-9]{1,5})?(/\S*)?$")
NAME = re.compile(r"^[A-Za-z0-9_-]+$")
FOREIGN_EXTERNAL_LABELS = re.compile(
    r"(?m)^([ \t]+)external_labels:[^\n]*\n(?:\1[ \t]+[^\n]*\n|[ \t]*\n)*"
)
KEYS = (
    "name",
    "url",
    "basic_auth",
    "bearer_token_file",
    "tls_config",
    "queue_config",
    "write_relabel_configs",
)
PASSED_THROUGH = ("tls_config", "queue_config", "write_relabel_configs")


def entry_problems(position, entry, names, host):
    name = entry.get("name")
    where = f"{host}: prometheus_server_remote_write[{position}]" + (f" ({name})" if name else "")
    problems = []
    if not name or not NAME.match(str(name)):
        problems.append(f"{where}.name must be letters, digits, _ or -, got {name!r}.")
    elif names.count(name) > 1:
        problems.append(f"{where}.name is used by {names.count(name)} entries: use one each.")
    url = str(entry.get("url") or "")
    if not URL.match(url):
        problems.append(
            f"{where}.url must be an absolute URL with its scheme, http:// or https://"
            f" (e.g. https://mimir.example.net/api/v1/push), got {url!r}."
        )
    basic_auth, token_file = entry.get("basic_auth"), entry.get("bearer_token_file")
    if basic_auth and token_file:
        problems.append(f"{where} has both basic_auth and bearer_token_file: use one of them.")
    if basic_auth and not (basic_auth.get("username") and basic_auth.get("password")):
        problems.append(f"{where}.basic_auth needs both username and password.")
    if token_file and not os.path.isfile(str(token_file)):
        problems.append(
            f"{where}.bearer_token_file {token_file} is missing on the control node"
            " (the role copies it to the server)."
        )
    unknown = sorted(
        set(entry) - {"name", "url", "basic_auth", "bearer_token_file", *PASSED_THROUGH}
    )
    if unknown:
        problems.append(f"{where} has unknown keys {unknown}: use {', '.join(KEYS)}.")
    return problems


def prometheus_server_remote_write_problems(
    remote_write, host, cluster, replica, play_servers, store_dedup_interval, scrape_interval,
    agent, alertmanagers,
):  # fmt: skip
    """One sentence per problem; []: none. `play_servers` are (host, cluster, replica) of every
    server of the play (replica empty: its host name), so that two servers of one cluster never
    write under one replica."""
    servers = [
        {
            "host": str(name),
            "cluster": str(their_cluster or ""),
            "replica": str(their_replica or name),
        }
        for name, their_cluster, their_replica in play_servers
    ]
    names = [entry.get("name") for entry in remote_write]
    problems = [
        problem
        for position, entry in enumerate(remote_write)
        for problem in entry_problems(position, entry, names, host)
    ]
    if remote_write and not cluster:
        problems.append(
            f"{host}: prometheus_server_cluster is empty: a server that writes to a store needs"
            " its cluster label, by which the store deduplicates the pair."
        )
    twins = [
        server["host"]
        for server in servers
        if server["host"] != host
        and cluster
        and (server["cluster"], server["replica"]) == (cluster, replica)
    ]
    if twins:
        problems.append(
            f"{host}: prometheus_server_replica {replica!r} of cluster {cluster!r} is also the"
            f" replica of {', '.join(twins)}: each server needs its own, or the store mixes them."
        )
    scrape, dedup = duration_seconds(scrape_interval), duration_seconds(store_dedup_interval)
    if scrape is None:
        problems.append(
            f"{host}: prometheus_server_scrape_interval must be a duration (e.g. 15s),"
            f" got {scrape_interval!r}."
        )
    if store_dedup_interval and dedup is None:
        problems.append(
            f"{host}: prometheus_server_store_dedup_interval must be a duration (e.g. 15s),"
            f" got {store_dedup_interval!r}."
        )
    elif store_dedup_interval and scrape is not None and dedup < scrape:
        problems.append(
            f"{host}: prometheus_server_store_dedup_interval {store_dedup_interval} is below the"
            f" scrape interval {scrape_interval}: the store would keep both replicas' samples;"
            " use at least the scrape interval."
        )
    if agent and not remote_write:
        problems.append(
            f"{host}: prometheus_server_agent_mode keeps no samples of its own:"
            " it needs prometheus_server_remote_write."
        )
    if agent and alertmanagers:
        problems.append(
            f"{host}: prometheus_server_agent_mode evaluates no alerts:"
            " use an empty prometheus_server_alertmanagers."
        )
    return problems


def rendered_entry(entry, secrets_dir):
    rendered = {"name": str(entry["name"]), "url": str(entry["url"])}
    if entry.get("basic_auth"):
        rendered["basic_auth"] = {
            "username": str(entry["basic_auth"]["username"]),
            "password_file": f"{secrets_dir}/{entry['name']}.password",
        }
    if entry.get("bearer_token_file"):
        rendered["authorization"] = {
            "type": "Bearer",
            "credentials_file": f"{secrets_dir}/{entry['name']}.token",
        }
    for key in PASSED_THROUGH:
        if entry.get(key):
            rendered[key] = entry[key]
    return rendered


def plain(value):
    """Ansible's own string and mapping types as the ones yaml.safe_dump writes."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return str(value)


def block(marker, content, indent=""):
    return f"{indent}# BEGIN {marker}\n{content}{indent}# END {marker}\n"


def own_block(marker):
    return re.compile(rf"(?m)^[ \t]*# BEGIN {marker}\n(?:.*\n)*?[ \t]*# END {marker}\n?")


def top_level_section(key):
    """A top-level key with its indented (or blank) lines."""
    return re.compile(rf"(?m)^{key}:[^\n]*\n(?:[ \t][^\n]*\n|[ \t]*\n)*")


def place_of(marker):
    """A line that holds a block's place while the rest of the file is rewritten."""
    return f"\0{marker}\0\n"


def hold_place(text, marker):
    """(text, the block) with the first block of `marker` turned into its place line and any other
    dropped; the block is None when the text has none. A block is written back where an earlier
    run put it: other roles insert theirs beside it (sanic_scrape_job right under `rule_files:`,
    this role's alerting at the end), and a block that put itself back in front of theirs would
    change the file on every run."""
    found = own_block(marker).search(text)
    if found is None:
        return text, None
    text = text[: found.start()] + place_of(marker) + text[found.end() :]
    return own_block(marker).sub("", text), found.group(0)


def with_rules_file(text, rules_file, held):
    """`rules_file` as an entry of `rule_files:`, in a marked block under the key (or with it),
    where `held` (the block of an earlier run) was."""
    entry = f"  - {rules_file}\n"
    under_key = block(RULES_MARKER, entry, "  ")
    with_key = block(RULES_MARKER, f"rule_files:\n{entry}")
    if held is not None:
        written = with_key if "rule_files:" in held else under_key
        return text.replace(place_of(RULES_MARKER), written)
    if re.search(r"(?m)^rule_files:[ \t]*$", text):
        return re.sub(
            r"(?m)^rule_files:[ \t]*\n", lambda match: match.group(0) + under_key, text, count=1
        )
    return text.rstrip("\n") + "\n\n" + with_key


def prometheus_server_with_remote_write(
    config_text, external_labels, remote_write, config_dir, agent=False, rules_file=""
):
    """The configuration with `external_labels` under `global:`, a `remote_write:` section at
    its end and `rules_file` (the remote-write alerts) in `rule_files:`, each in a marked block;
    the package's own labels and section give way, the rest is kept as it is. An agent evaluates
    no rules and sends no alerts: the package's `alerting:` section (localhost:9093) goes."""
    # The labels go right under `global:`, where no other role writes.
    text = own_block(EXTERNAL_LABELS_MARKER).sub("", config_text)
    text, held_rules = hold_place(text, RULES_MARKER)
    text, held_section = hold_place(text, REMOTE_WRITE_MARKER)
    # The package's `external_labels:` (monitor: 'example') and `remote_write:` give way to the
    # role's own; with none of its own, the role leaves them as they are.
    if external_labels:
        text = FOREIGN_EXTERNAL_LABELS.sub("", text)
    if remote_write:
        text = top_level_section("remote_write").sub("", text)
    if agent:
        text = top_level_section("alerting").sub("", text)
    if external_labels:
        labels = yaml.safe_dump({"external_labels": plain(external_labels)}, sort_keys=True)
        indented = "".join(f"  {line}\n" for line in labels.splitlines())
        if re.search(r"(?m)^global:[ \t]*$", text):
            text = re.sub(
                r"(?m)^global:[ \t]*\n",
                lambda match: match.group(0) + block(EXTERNAL_LABELS_MARKER, indented, "  "),
                text,
                count=1,
            )
        else:
            text = block(EXTERNAL_LABELS_MARKER, f"global:\n{indented}") + text
    if remote_write and rules_file and not agent:
        text = with_rules_file(text, rules_file, held_rules)
    text = text.replace(place_of(RULES_MARKER), "")
    section_block = ""
    if remote_write:
        secrets_dir = f"{config_dir}/{SECRETS_DIR}"
        section = {
            "remote_write": [plain(rendered_entry(entry, secrets_dir)) for entry in remote_write]
        }
        dumped = yaml.safe_dump(section, default_flow_style=False, sort_keys=False)
        section_block = block(REMOTE_WRITE_MARKER, dumped)
    if held_section is not None:
        return text.replace(place_of(REMOTE_WRITE_MARKER), section_block)
    text = text.rstrip("\n") + "\n"
    if section_block:
        text += "\n" + section_block
    return text


def prometheus_server_agent_flag(version_output):
    """Agent mode's flag on the installed Prometheus (`prometheus --version`'s output): 3.x has its
    own flag, 2.x (from 2.32) a feature flag."""
    match = re.search(r"version (\d+)\.", str(version_output))
    if not match:
        raise ValueError(f"no Prometheus version in {version_output!r}")
    return "--agent" if int(match.group(1)) >= 3 else "--enable-feature=agent"


class FilterModule:
    def filters(self):
        return {
            "prometheus_server_remote_write_problems": prometheus_server_remote_write_problems,
            "prometheus_server_with_remote_write": prometheus_server_with_remote_write,
            "prometheus_server_agent_flag": prometheus_server_agent_flag,
        }
