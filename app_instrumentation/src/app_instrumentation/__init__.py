"""Exact, worker-aggregated Prometheus metrics for multi-worker Sanic services."""

__all__ = ["instrument"]


def __getattr__(name: str):
    # Imported on first use, not with the package: the merger process (merger.py) imports this
    # package and must not load Sanic, which would double its memory.
    if name == "instrument":
        from app_instrumentation.instrumentation import instrument

        return instrument
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
