"""Fresh systemd containers of a test's own, started as the Molecule fleet's are: with the settings
of molecule/default/molecule.yml's first platform and the image and cgroup mount scripts/images.sh
wrote to .cache/molecule.env. Their names and their network start with `collection-` (or the
test's own prefix), so the lab's `spm-*` containers are never touched; leaving the block removes
them."""

import json
import string
import subprocess
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MOLECULE_SCENARIO = REPO / "molecule" / "default" / "molecule.yml"
MOLECULE_ENV = REPO / ".cache" / "molecule.env"
NAME_PREFIX = "collection"
BOOT_TIMEOUT = 120


def docker(*argv, check=True, timeout=180):
    result = subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert not check or result.returncode == 0, f"docker {' '.join(argv)}: {result.stderr}"
    return result


def molecule_environment() -> dict:
    assert MOLECULE_ENV.is_file(), f"{MOLECULE_ENV} is missing: run scripts/images.sh"
    lines = MOLECULE_ENV.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def run_arguments(platform: dict, environment: dict) -> tuple[list[str], str, list[str]]:
    """docker run's options, image and command for a Molecule platform of the docker driver."""

    def expand(value):
        return string.Template(str(value)).substitute(environment)

    options = [f"--cgroupns={platform['cgroupns_mode']}"]
    options += [f"--cap-add={capability}" for capability in platform["capabilities"]]
    options += [f"--security-opt={option}" for option in platform["security_opts"]]
    options += [f"--tmpfs={path}" for path in platform["tmpfs"]]
    options += [f"--volume={expand(volume)}" for volume in platform["volumes"]]
    options += [f"--sysctl={key}={value}" for key, value in platform["sysctls"].items()]
    return options, expand(platform["image"]), platform["command"].split()


class Fleet:
    """Containers `<prefix>-<id>-<role>` on a network of their own, systemd running in each; the
    prefix is the name of the branch whose tests start them (`collection` by default)."""

    def __init__(self, roles: list[str], prefix: str = NAME_PREFIX, platform: str = ""):
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.platform = platform
        self.containers = {role: f"{self.name}-{role}" for role in roles}

    def __enter__(self):
        platforms = yaml.safe_load(MOLECULE_SCENARIO.read_text())["platforms"]
        # The first platform's image (Debian 12) unless the test names one (e.g. spm-prom-forky).
        platform = next(p for p in platforms if p["name"] == self.platform or not self.platform)
        options, image, command = run_arguments(platform, molecule_environment())
        docker("network", "create", self.name)
        try:
            for container in self.containers.values():
                docker("run", "--detach", f"--name={container}", f"--hostname={container}",
                       f"--network={self.name}", *options, image, *command)  # fmt: skip
            for container in self.containers.values():
                self.wait_for_systemd(container)
        except BaseException:
            self.remove()
            raise
        return self

    def wait_for_systemd(self, container: str) -> None:
        """Until systemd reports `running`. Right after `docker run` its bus may not be up yet,
        and `is-system-running --wait` then answers nothing at once instead of waiting."""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            state = self.run(container, "systemctl", "is-system-running", "--wait")
            if state.stdout.strip() == "running" or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert state.stdout.strip() == "running", f"{container}: {state.stdout}{state.stderr}"

    def __exit__(self, *exc_info):
        self.remove()

    def remove(self):
        docker("rm", "--force", *self.containers.values(), check=False)
        docker("network", "rm", self.name, check=False)

    def run(self, container: str, *argv) -> subprocess.CompletedProcess:
        return docker("exec", container, *argv, check=False, timeout=BOOT_TIMEOUT)

    def subnet(self) -> str:
        network = json.loads(docker("network", "inspect", self.name).stdout)[0]
        return network["IPAM"]["Config"][0]["Subnet"]
