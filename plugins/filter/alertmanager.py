"""The cluster's peers, and the checks of the Alertmanager configuration that a type cannot
express, made before any change.

`amtool check-config` on the host has the last word; these run first, on the control node, so a
receiver without its address stops the run before any host is touched, with the variable named.
"""

ADDRESS_KEYS = {
    "webhook_configs": ("url", "url_file"),
    "slack_configs": ("api_url", "api_url_file"),
    "msteams_configs": ("webhook_url", "webhook_url_file"),
    "discord_configs": ("webhook_url", "webhook_url_file"),
}
GLOBAL_FALLBACKS = {"slack_configs": ("slack_api_url", "slack_api_url_file")}


def route_receivers(route):
    """Every receiver a routing tree names, its children's included."""
    names = [route["receiver"]] if route.get("receiver") else []
    for child in route.get("routes") or []:
        names += route_receivers(child)
    return names


def receiver_problems(receivers, global_settings):
    problems = []
    names = [receiver.get("name") for receiver in receivers]
    for position, receiver in enumerate(receivers):
        name = receiver.get("name")
        where = f"alertmanager_receivers[{position}]" + (f" ({name})" if name else "")
        if not name:
            problems.append(f"{where} has no name.")
        elif names.count(name) > 1:
            problems.append(f"{where}: the name '{name}' is used by {names.count(name)} receivers.")
        for kind, keys in ADDRESS_KEYS.items():
            fallbacks = GLOBAL_FALLBACKS.get(kind, ())
            for index, config in enumerate(receiver.get(kind) or []):
                if not any(config.get(key) for key in keys) and not any(
                    global_settings.get(key) for key in fallbacks
                ):
                    problems.append(
                        f"{where}.{kind}[{index}] has no {' or '.join(keys)}: where would it send?"
                    )
        for index, config in enumerate(receiver.get("email_configs") or []):
            for key, label in (("to", "recipient"), ("smarthost", "smarthost"), ("from", "sender")):
                if not config.get(key) and not (key != "to" and global_settings.get(f"smtp_{key}")):
                    fallback = "" if key == "to" else f" (or smtp_{key} in alertmanager_global)"
                    problems.append(
                        f"{where}.email_configs[{index}] has no {key}{fallback}: no {label}."
                    )
    return problems


def alertmanager_config_problems(receivers, route, global_settings):
    """One sentence per problem, each naming the variable and the entry; [] when none."""
    problems = receiver_problems(receivers, global_settings)
    if not route.get("receiver"):
        problems.append("alertmanager_route has no receiver: the top route needs one.")
    declared = {receiver.get("name") for receiver in receivers}
    for name in route_receivers(route):
        if name not in declared:
            problems.append(
                f"alertmanager_route names the receiver '{name}', which alertmanager_receivers"
                " does not declare."
            )
    return problems


def alertmanager_cluster_peers(group_hosts, hostvars, this_host, port):
    """host:port of every other host of the cluster group, at the address Ansible reaches it at."""
    return [
        f"{hostvars[host].get('ansible_host') or host}:{port}"
        for host in group_hosts
        if host != this_host
    ]


class FilterModule:
    def filters(self):
        return {
            "alertmanager_config_problems": alertmanager_config_problems,
            "alertmanager_cluster_peers": alertmanager_cluster_peers,
        }
