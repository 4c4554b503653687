"""The route paths an app source declares (a directory on the control node), for preflight's check
that a metrics path shadows none of them. Read from the source with Python's own parser, never
imported: a string literal given as the path of a Sanic route decorator (`@app.get("/x")`,
`@bp.route("/x")`, ...) or of `add_route(handler, "/x")`, behind the literal url_prefix of a
Blueprint created in the same module. Paths built at run time, and routes of a blueprint whose
prefix is not such a literal, are not seen.
"""

import ast
from pathlib import Path

DECORATORS = {"route", "get", "post", "put", "patch", "delete", "head", "options", "websocket"}
ADD_ROUTE = {"add_route", "add_websocket_route"}
SKIPPED_DIRECTORIES = {".git", "__pycache__", ".venv", "venv", "node_modules"}


def blueprint_prefixes(tree: ast.AST) -> dict[str, str | None]:
    """Each name bound to `Blueprint(...)` in the module: its literal url_prefix ("" for none),
    or None when the prefix is computed."""
    prefixes = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        function = node.value.func
        if getattr(function, "id", getattr(function, "attr", None)) != "Blueprint":
            continue
        keyword = {item.arg: item.value for item in node.value.keywords}
        prefix = keyword.get("url_prefix", node.value.args[1] if len(node.value.args) > 1 else None)
        if prefix is None:
            value = ""
        elif isinstance(prefix, ast.Constant) and isinstance(prefix.value, str):
            value = prefix.value.rstrip("/")
        else:
            value = None
        for target in node.targets:
            if isinstance(target, ast.Name):
                prefixes[target.id] = value
    return prefixes


def route_path(call: ast.Call, prefixes: dict[str, str | None]) -> str | None:
    """The literal path a route call declares, with its blueprint's prefix, if known."""
    if not isinstance(call.func, ast.Attribute):
        return None
    owner = getattr(call.func.value, "id", None)
    prefix = prefixes.get(owner, "")
    if prefix is None:
        return None
    keyword = {item.arg: item.value for item in call.keywords}
    if call.func.attr in DECORATORS:
        candidate = call.args[0] if call.args else keyword.get("uri")
    elif call.func.attr in ADD_ROUTE:
        candidate = call.args[1] if len(call.args) > 1 else keyword.get("uri")
    else:
        return None
    if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
        path = candidate.value if candidate.value.startswith("/") else f"/{candidate.value}"
        return f"{prefix}{path}" if prefix else path
    return None


def routes_of(source: Path) -> list[str]:
    """Every route path found in the source's Python files; none for a missing directory."""
    found = set()
    for path in sorted(source.rglob("*.py")):
        if SKIPPED_DIRECTORIES.intersection(path.relative_to(source).parts):
            continue
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError):
            continue
        prefixes = blueprint_prefixes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (route := route_path(node, prefixes)) is not None:
                found.add(route)
    return sorted(found)
