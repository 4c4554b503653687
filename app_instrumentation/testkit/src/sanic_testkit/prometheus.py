"""A local Prometheus (Debian's binary) for tests: its config, data and log in one directory."""

import subprocess
from pathlib import Path

import yaml


def start_prometheus(directory: Path, config: dict, listen: str, *flags: str) -> subprocess.Popen:
    """Start `prometheus` on `config` (written to directory/prometheus.yml), listening on `listen`;
    its log goes to directory/prometheus.log. The caller terminates it."""
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        [
            "prometheus",
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address={listen}",
            *flags,
        ],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "prometheus.log").open("w"),
    )
