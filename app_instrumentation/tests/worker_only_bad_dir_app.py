"""The demo app, except that in worker processes the multiprocess directory does not exist.

Sanic names each worker in SANIC_WORKER_NAME; the main process has no such variable.
"""

import os

from app.server import create_app as create_demo_app

WORKERS_DIR = "/nonexistent-for-workers"

if os.environ.get("SANIC_WORKER_NAME"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = WORKERS_DIR


def create_app():
    return create_demo_app()
