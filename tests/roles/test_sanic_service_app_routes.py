"""module_utils/app_routes.py, which sanic_service's preflight uses to refuse a metrics path that
would shadow a route of the app: the route paths an app source declares, read with Python's
parser."""

from pathlib import Path

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.app_routes import (
    routes_of,
)

REPO = Path(__file__).resolve().parents[2]


def routes(*pairs: str) -> dict:
    return {name: routes_of(Path(source)) for name, _, source in (p.partition("=") for p in pairs)}


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
