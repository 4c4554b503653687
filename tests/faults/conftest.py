"""Fault tests reuse the app package's real-service fixture (app_instrumentation/tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app_instrumentation/tests"))
