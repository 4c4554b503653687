"""Runs the role's host-side scripts (roles/sanic_service/files/*.py) on this machine, as its tasks
run them on a host: one JSON argument in, JSON out."""

import json
import subprocess
import sys
from pathlib import Path

FILES = Path(__file__).resolve().parents[2] / "roles/sanic_service/files"


def run(script: str, request: dict) -> dict:
    result = subprocess.run(
        [sys.executable, str(FILES / script), json.dumps(request)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)
