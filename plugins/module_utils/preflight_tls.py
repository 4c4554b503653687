"""Preflight's check of each service's certificate and key: the bundle's one certificate check
(module_utils/certificates.py), under the service's variable names."""

from pathlib import Path

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.certificates import (
    certificate_problems,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    service_label,
)


def _read_text(path: str) -> str:
    """A control-node file's text, '' when it is missing or unreadable."""
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def tls_errors(services: list[dict], host: str) -> list[str]:
    """Each service's certificate and key (paths on the control node): both or neither, readable,
    PEM, and the certificate matches the key."""
    errors = []
    for service in services:
        cert_file, key_file = str(service["tls_cert_file"]), str(service["tls_key_file"])
        problems = certificate_problems(
            cert_file,
            key_file,
            _read_text(cert_file) if cert_file else "",
            _read_text(key_file) if key_file else "",
            cert_variable=f"{service_label(service)}.tls_cert_file",
            key_variable=f"{service_label(service)}.tls_key_file",
        )
        errors += [f"{host}: {problem}" for problem in problems]
    return errors
