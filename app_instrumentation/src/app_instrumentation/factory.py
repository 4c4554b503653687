"""Zero-change entry point: `sanic app_instrumentation.factory:create_app --factory --workers N`.

INSTRUMENTED_APP names the unchanged application as `module:callable` (a factory returning a
Sanic app) or `module:attribute` (a Sanic app object). Sanic runs this factory in the main process
and again in every worker, so each of them checks the multiprocess directory first.
"""

import importlib

from sanic import Sanic

from app_instrumentation.instrumentation import instrument
from app_instrumentation.multiprocess_dir import require_multiprocess_dir
from app_instrumentation.settings import FACTORY

INSTRUMENTED_APP_ENV_VAR = FACTORY.environment


def _fail(problem: str, setting: str = INSTRUMENTED_APP_ENV_VAR) -> SystemExit:
    return SystemExit(
        f"app_instrumentation: error: {setting}{problem}; fix: set it to "
        "'module:factory' or 'module:app', e.g. app.server:create_app, with the module importable"
    )


def load_app(target: str, setting: str = INSTRUMENTED_APP_ENV_VAR) -> Sanic:
    """Import `module:name` and return the Sanic app it is or that calling it returns.

    setting: what errors name as the source of `target` (the launcher's is its TARGET argument).
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise _fail(f"={target!r} is not of the form module:name", setting)
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except ModuleNotFoundError as error:
        raise _fail(f"={target}: module {error.name!r} not found", setting) from None
    except AttributeError:
        raise _fail(f"={target}: {module_name} has no attribute {attribute!r}", setting) from None
    app = found if isinstance(found, Sanic) else found() if callable(found) else found
    if not isinstance(app, Sanic):
        raise _fail(f"={target} gave {type(app).__name__}, not a Sanic app", setting)
    return app


def create_app() -> Sanic:
    """Load the app named in INSTRUMENTED_APP and instrument it."""
    require_multiprocess_dir()
    return instrument(load_app(FACTORY.read()))
