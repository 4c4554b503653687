"""Scrape-time merge of prometheus_client multiprocess files: robust, cheaper, same output.

`SafeMultiProcessCollector` is a drop-in for prometheus_client.multiprocess.MultiProcessCollector:
- it reads the directory under a shared lock (see compaction.py), so it never sees a compaction
  half done;
- a file that cannot be read (truncated, corrupt) is skipped instead of failing the whole scrape,
  logged once with its path, and counted in `app_instrumentation_multiprocess_files_corrupt`;
- a file read before costs two struct unpacks instead of a Python loop over its entries: where
  each entry sits is remembered per path (files only grow by appending) and verified on each read;
- counter, histogram and summary values are summed per series while the files are read, in the
  same order as the stock merge, so the stock accumulation step only sees one sample per series
  instead of one per file and series. Gauges keep the stock per-file path (their pid label and
  mode need it).
The output equals the stock collector's on the same directory, sample order and float rounding
included (tests/test_collector.py compares the two byte for byte).
"""

import functools
import glob
import json
import logging
import mmap
import os
import struct
import threading

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from app_instrumentation.compaction import directory_lock
from app_instrumentation.exemplars import merged_exemplars, with_exemplars
from app_instrumentation.prometheus_client_internals import (
    accumulate_metrics,
    set_gauge_merge_mode,
)

FILES_METRIC = "app_instrumentation_multiprocess_files"
CORRUPT_FILES_METRIC = "app_instrumentation_multiprocess_files_corrupt"

logger = logging.getLogger(__name__)

_FILE_TYPES = frozenset(("counter", "gauge", "histogram", "summary"))
_unpack_length = struct.Struct("i").unpack_from
# Layouts of files read before, by path; pruned to the current listing at every scrape.
_layouts = {}
_layouts_lock = threading.Lock()
_LAYOUT_LIMIT = 4096
_structs_by_lengths = {}
# One bytes object per distinct key, shared by all layouts that hold it.
_interned_keys = {}
_INTERNED_KEYS_LIMIT = 1 << 16
# Paths already logged as unreadable by this process: one line per file, not one per scrape.
_reported_unreadable = set()
_REPORTED_UNREADABLE_LIMIT = 10_000


class SafeMultiProcessCollector:
    """Collector for files for multi-process mode that survives unreadable files."""

    def __init__(self, registry, path=None, exemplars=False):
        """exemplars: attach each bucket's newest exemplar (exemplars.py), for OpenMetrics."""
        if path is None:
            path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not path or not os.path.isdir(path):
            raise ValueError("env PROMETHEUS_MULTIPROC_DIR is not set or not a directory")
        self._path = path
        self._exemplars = exemplars
        if registry:
            registry.register(self)

    def collect(self):
        merge = _Merge()
        with directory_lock(self._path, exclusive=False):
            paths = glob.glob(os.path.join(self._path, "*.db"))
            for path in paths:
                merge.add_file(path)
            exemplars = merged_exemplars(self._path) if self._exemplars else None
        _forget_layouts_except(self._path, paths)
        if exemplars is None:
            yield from merge.metrics()
        else:
            yield from with_exemplars(merge.metrics(), exemplars)
        yield GaugeMetricFamily(
            FILES_METRIC,
            "prometheus_client multiprocess .db files merged in this scrape.",
            value=merge.files_merged,
        )
        yield GaugeMetricFamily(
            CORRUPT_FILES_METRIC,
            "Multiprocess .db files skipped in this scrape because they could not be read.",
            value=merge.files_unreadable,
        )


def _forget_layouts_except(directory, paths):
    """Drop cached layouts of this directory's files that are gone (compacted or wiped)."""
    current = set(paths)
    prefix = os.path.join(directory, "")
    with _layouts_lock:
        for path in [p for p in _layouts if p.startswith(prefix) and p not in current]:
            del _layouts[path]


@functools.lru_cache(maxsize=1 << 15)
def _parse_key(encoded_key):
    """(series, help text) of an mmap key; series = (metric name, sample name, sorted labels)."""
    metric_name, name, labels, help_text = json.loads(encoded_key.decode("utf-8"))
    Metric(metric_name, help_text, "untyped")  # rejects what the stock merge would choke on
    return (metric_name, name, tuple(sorted(labels.items()))), help_text


def _file_kind(path):
    """(type, gauge mode, pid) from a `<type>[_<mode>]_<pid>.db` name, read as the stock merge."""
    typ, _, rest = os.path.basename(path)[:-3].partition("_")
    if typ not in _FILE_TYPES:
        raise ValueError(f"{typ!r} is not a prometheus_client multiprocess file type")
    if typ != "gauge":
        return typ, "", rest
    mode, _, pid = rest.partition("_")
    return typ, mode, pid


class _Layout:
    """Where a file's entries sit, so reading it again costs two struct unpacks.

    Files only grow by appending entries, so a layout stays valid for a file's lifetime; it is
    checked on every read by comparing all bytes except the values (lengths, keys, padding).
    """

    __slots__ = ("keys", "keys_struct", "parsed", "used", "values_struct")

    def __init__(self, used, keys, parsed):
        self.used, self.keys, self.parsed = used, tuple(keys), tuple(parsed)
        self.keys_struct, self.values_struct = _structs_for(tuple(len(key) for key in keys))

    def matches(self, data):
        return self.keys_struct.unpack_from(data) == self.keys


def _structs_for(key_lengths):
    """(keys struct, values struct) over entries whose length+key+padding take these sizes."""
    structs = _structs_by_lengths.get(key_lengths)
    if structs is None:
        if len(_structs_by_lengths) >= _LAYOUT_LIMIT:
            _structs_by_lengths.clear()
        # "=": standard sizes and no alignment, so offsets are exactly mmap_dict's.
        keys_format = "".join(f"{length}s16x" for length in key_lengths)
        values_format = "".join(f"{length}xdd" for length in key_lengths)
        structs = (struct.Struct(f"=8x{keys_format}"), struct.Struct(f"=8x{values_format}"))
        _structs_by_lengths[key_lengths] = structs
    return structs


def _read_file(path):
    """((series, help text) per entry, flat (value, timestamp, ...) tuple) of one file."""
    with open(path, "rb") as stream:
        data = stream.read(mmap.PAGESIZE)
        if not data:
            # MmapedDict creates the file empty, then sizes it: a worker is just starting.
            return (), ()
        used = _unpack_length(data, 0)[0]
        if used > len(data):
            data += stream.read(used - len(data))
    if used > len(data):
        raise ValueError(f"file is {len(data)} bytes but its header says {used} are used")
    layout = _layouts.get(path)
    if layout is None or layout.used > used or not layout.matches(data):
        layout = _Layout(8, (), ())
    if layout.used < used:
        layout = _extended_layout(layout, data, used)
        _remember(path, layout)
    return layout.parsed, layout.values_struct.unpack_from(data)


def _remember(path, layout):
    """Cache `layout`; when full, make room only by dropping another directory's oldest entry.

    A directory with more files than the cache holds keeps a stable subset cached: evicting its
    own entries in turn would make every scrape miss them all.
    """
    with _layouts_lock:
        if path not in _layouts and len(_layouts) >= _LAYOUT_LIMIT:
            oldest = next(iter(_layouts))
            if os.path.dirname(oldest) == os.path.dirname(path):
                return
            del _layouts[oldest]
        _layouts[path] = layout


def _extended_layout(layout, data, used):
    """`layout` plus the entries appended after it, parsed the way mmap_dict writes them."""
    keys, parsed = list(layout.keys), list(layout.parsed)
    position = layout.used
    while position < used:
        length = _unpack_length(data, position)[0]
        if length < 0 or position + length > used:
            raise ValueError(f"entry at byte {position} runs beyond the used size {used}")
        value_position = position + 4 + length + 8 - (length + 4) % 8
        if value_position + 16 > used:
            raise ValueError(f"value at byte {value_position} runs beyond the used size {used}")
        key = data[position:value_position]
        keys.append(_interned_keys.setdefault(key, key))
        parsed.append(_parse_key(data[position + 4 : position + 4 + length]))
        position = value_position + 16
    if len(_interned_keys) > _INTERNED_KEYS_LIMIT:
        _interned_keys.clear()
    return _Layout(used, keys, parsed)


class _Series:
    """Marks where a summed series' sample goes among its metric's samples."""

    __slots__ = ("series",)

    def __init__(self, series):
        self.series = series


class _Merge:
    """Files read so far, folded the way MultiProcessCollector._read_metrics folds them."""

    def __init__(self):
        self._metrics = {}
        self._sums = {}
        self.files_merged = 0
        self.files_unreadable = 0

    def add_file(self, path):
        try:
            typ, mode, pid = _file_kind(path)
            parsed, values = _read_file(path)
        except FileNotFoundError:
            # Removed since the listing (mark_process_dead by a caller that takes no lock).
            return
        except Exception as error:  # whatever the bytes are, this file cannot be merged
            self.files_unreadable += 1
            if path not in _reported_unreadable:
                if len(_reported_unreadable) >= _REPORTED_UNREADABLE_LIMIT:
                    _reported_unreadable.clear()
                _reported_unreadable.add(path)
                logger.error("skipping unreadable multiprocess file %s: %s", path, error)
            return
        self.files_merged += 1
        if typ == "gauge":
            self._add_gauge_entries(parsed, values, mode, pid)
        else:
            self._add_summed_entries(parsed, values[::2], typ)

    def _metric(self, metric_name, help_text, typ):
        metric = self._metrics.get(metric_name)
        if metric is None:
            metric = self._metrics[metric_name] = Metric(metric_name, help_text, typ)
        return metric

    def _add_gauge_entries(self, parsed, values, mode, pid):
        for (series, help_text), value, timestamp in zip(
            parsed, values[::2], values[1::2], strict=True
        ):
            metric_name, name, labels = series
            metric = self._metric(metric_name, help_text, "gauge")
            set_gauge_merge_mode(metric, mode)
            metric.add_sample(name, (*labels, ("pid", pid)), value, timestamp)

    def _add_summed_entries(self, parsed, values, typ):
        sums = self._sums
        for (series, help_text), value in zip(parsed, values, strict=True):
            total = sums.get(series)
            if total is not None:
                sums[series] = total + value
                continue
            metric = self._metric(series[0], help_text, typ)
            if metric.type == "gauge":
                # A gauge file named this metric first: the stock merge applies the gauge mode.
                metric.add_sample(series[1], series[2], value)
            else:
                # Same start and order as the stock merge's defaultdict(float) += value.
                sums[series] = 0.0 + value
                metric.samples.append(_Series(series))

    def metrics(self):
        sums = self._sums
        for metric in self._metrics.values():
            metric.samples = [
                Sample(sample.series[1], sample.series[2], sums[sample.series])
                if sample.__class__ is _Series
                else sample
                for sample in metric.samples
            ]
        return accumulate_metrics(self._metrics)
