"""The private parts of prometheus_client this package relies on, and the only module touching them.

None of these is public API, so any prometheus_client release may change them: pyproject.toml
bounds the versions they were tested with, and tests/test_dependency_versions.py fails loudly
outside that range. The rest of the package calls the functions below, never the attributes.
"""

import struct
from collections.abc import Callable

from prometheus_client import Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.values import ValueClass

_pack_value_and_timestamp = struct.Struct("dd").pack_into  # as mmap_dict writes a value


def values_are_in_memory() -> bool:
    # ValueClass._multiprocess: the value backend prometheus_client chose, once, at its import.
    return not ValueClass._multiprocess


def gauge_value(gauge: Gauge):
    # Gauge._value: the value object of a gauge without labels, to write it without Gauge.inc.
    return gauge._value


def histogram_values(child: Histogram):
    """(sum value, bucket values, bucket upper bounds) of a histogram child, to observe directly."""
    # Histogram._sum, _buckets, _upper_bounds: observe() rechecks and scans them on every call.
    return child._sum, child._buckets, child._upper_bounds


def locked_adder(value) -> Callable[[float], None]:
    """prometheus_client's own `value.inc`: takes its lock and notices a fork on every write."""
    return value.inc


def direct_adder(value) -> Callable[[float], None]:
    """The cheapest correct `value.inc`: for a multiprocess value, one that writes its file's
    16 bytes itself, without prometheus_client's lock and getpid (see http_metrics.py for why
    that is safe, and when a process must use `locked_adder` instead)."""
    # value._multiprocess: in-memory values have no file to write.
    if not getattr(value, "_multiprocess", False):
        return value.inc
    # value._file, value._key, file._positions: where mmap_dict keeps this value's 16 bytes.
    file = value._file
    position = file._positions[value._key]

    def add(amount: float) -> None:
        # value._value: kept in step, so that prometheus_client's own reads and writes agree.
        value._value += amount
        # file._m, not a copy: a file that grows gets a new mmap (the old one stays valid).
        _pack_value_and_timestamp(file._m, position, value._value, 0.0)

    return add


def read_file_entries(filename: str) -> dict[str, tuple[float, float]]:
    """{key: (value, timestamp)} of one mmap_dict file, in file order; raises if unreadable."""
    # MmapedDict.read_all_values_from_file: prometheus_client's own reader of its file format.
    return {
        key: (value, timestamp)
        for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(filename)
    }


def set_gauge_merge_mode(metric: Metric, mode: str) -> None:
    # Metric._multiprocess_mode: what the stock accumulation reads to merge a gauge's samples.
    metric._multiprocess_mode = mode


def accumulate_metrics(metrics: dict[str, Metric]):
    """The stock merge's final step over read samples: bucket cumulation, gauge modes, order."""
    # MultiProcessCollector._accumulate_metrics: reused so the output equals the stock merge's.
    return MultiProcessCollector._accumulate_metrics(metrics, accumulate=True)
