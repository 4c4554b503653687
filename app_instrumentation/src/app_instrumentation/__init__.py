"""Exact, worker-aggregated Prometheus metrics for multi-worker Sanic services."""

from app_instrumentation.instrumentation import instrument

__all__ = ["instrument"]
