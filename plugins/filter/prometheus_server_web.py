"""Basic auth and TLS of the web UI and API of Prometheus and of Alertmanager (the same
--web.config.file format, Prometheus' exporter-toolkit), computed on the control node.

`prometheus_server_web_problems` is the roles' preflight for them (`prefix` names the role's
variables): a hash that is no bcrypt hash
(a password given in clear where a hash is expected), a user without a password, a certificate
without its key or that does not match it. `prometheus_server_web_hashes` hashes the clear
passwords with bcrypt, keeping the hash already on the server while it still matches, so a rerun
changes nothing. `web_config_text` is the file both roles write.
"""

import re

import bcrypt
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.certificates import (
    certificate_problems,
)

BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
# Every request checks the hash: cost 10 keeps that near 50 ms, as Prometheus' own docs suggest.
BCRYPT_ROUNDS = 10


def user_problems(users, variable="prometheus_server_web_users"):
    problems = []
    names = [user.get("name") for user in users]
    for position, user in enumerate(users):
        name = user.get("name")
        where = f"{variable}[{position}]" + (f" ({name})" if name else "")
        if not name:
            problems.append(f"{where} has no name.")
        elif names.count(name) > 1:
            problems.append(f"{where}: the name '{name}' is used by {names.count(name)} users.")
        given = [key for key in ("password", "password_hash") if user.get(key)]
        if len(given) != 1:
            problems.append(f"{where} needs exactly one of password and password_hash.")
        elif given == ["password_hash"] and not BCRYPT_HASH.match(str(user["password_hash"])):
            problems.append(
                f"{where}.password_hash is not a bcrypt hash ($2b$...): a password in clear"
                " belongs in `password`, which the role hashes on the control node."
            )
    if users and not any(user.get("password") for user in users):
        problems.append(
            f"{variable}: the role's own checks log in, so one user needs its"
            " `password` (from your vault), not only a hash."
        )
    return problems


def prometheus_server_web_problems(
    users, cert_file="", key_file="", cert_pem="", key_pem="", prefix="prometheus_server_web"
):
    """One sentence per problem, each naming the variable (`<prefix>_users`, ...); [] when none."""
    return user_problems(users, f"{prefix}_users") + certificate_problems(
        cert_file, key_file, cert_pem, key_pem, f"{prefix}_tls_cert_file", f"{prefix}_tls_key_file"
    )


def web_config_text(hashes, tls_dir=""):
    """The --web.config.file: basic auth users by their bcrypt hashes, and TLS with the
    certificate and key installed in `tls_dir` (empty: plain HTTP)."""
    config = {}
    if tls_dir:
        config["tls_server_config"] = {
            "cert_file": f"{tls_dir}/server.crt",
            "key_file": f"{tls_dir}/server.key",
        }
    if hashes:
        config["basic_auth_users"] = {str(name): str(hash_) for name, hash_ in hashes.items()}
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False)


def prometheus_server_web_hashes(users, current=None):
    """{name: bcrypt hash} for basic_auth_users; `current` is the one on the server, if any."""
    current = current or {}
    hashes = {}
    for user in users:
        name = user["name"]
        if user.get("password_hash"):
            hashes[name] = user["password_hash"]
            continue
        password = str(user["password"]).encode()
        kept = str(current.get(name) or "")
        if BCRYPT_HASH.match(kept) and bcrypt.checkpw(password, kept.encode()):
            hashes[name] = kept
        else:
            hashes[name] = bcrypt.hashpw(password, bcrypt.gensalt(BCRYPT_ROUNDS)).decode()
    return hashes


class FilterModule:
    def filters(self):
        return {
            "prometheus_server_web_problems": prometheus_server_web_problems,
            "prometheus_server_web_hashes": prometheus_server_web_hashes,
            "web_config_text": web_config_text,
        }
