"""sanic_service's app_routes.py, which preflight uses to refuse a metrics path that would shadow a
route of the app: the route paths an app source declares, read with Python's parser."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "roles/sanic_service/files/app_routes.py"


def routes(*pairs: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(PROBE), *pairs], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_the_demo_apps_routes_with_its_blueprints_prefix():
    found = routes(f"demo={REPO / 'app_instrumentation/demo'}")["demo"]
    assert {"/", "/items/<item_id:int>", "/boom", "/api/v1/users/<name:str>"} <= set(found)
    assert "/metrics" not in found


def test_decorators_and_add_route_are_read_and_computed_paths_left_out(tmp_path):
    (tmp_path / "app.py").write_text(
        "from sanic import Blueprint, Sanic\n"
        "app = Sanic('x')\n"
        "bp = Blueprint('b', url_prefix='/v2/')\n"
        "dynamic = Blueprint('d', url_prefix=PREFIX)\n"
        "@app.route('/metrics', methods=['GET'])\n"
        "async def a(request): ...\n"
        "@bp.post('items')\n"
        "async def b(request): ...\n"
        "@dynamic.get('/hidden')\n"
        "async def c(request): ...\n"
        "app.add_route(a, '/<page:path>')\n"
        "app.add_route(a, uri=BASE + '/x')\n"
    )
    (tmp_path / "broken.py").write_text("def (:\n")
    assert routes(f"api={tmp_path}", "none=/nonexistent") == {
        "api": ["/<page:path>", "/metrics", "/v2/items"],
        "none": [],
    }
