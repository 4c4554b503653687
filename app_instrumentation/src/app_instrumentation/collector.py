"""Scrape-time merge of prometheus_client multiprocess files: robust, cheaper, same output.

`SafeMultiProcessCollector` is a drop-in for prometheus_client.multiprocess.MultiProcessCollector:
- it reads the directory under a shared lock (see compaction.py), so it never sees a compaction
  half done;
- a file that cannot be read (truncated, corrupt) is skipped instead of failing the whole scrape,
  logged once with its path, and counted in `app_instrumentation_multiprocess_files_corrupt`;
- counter, histogram and summary values are summed per series while the files are read, in the
  same order as the stock merge, so the stock accumulation step only sees one sample per series
  instead of one per file and series. Gauges keep the stock per-file path (their pid label and
  mode need it). Key parsing is cached across scrapes.
The output equals the stock collector's on the same directory, sample order included.
"""

import functools
import glob
import json
import logging
import mmap
import os
import struct

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.samples import Sample

from app_instrumentation.compaction import directory_lock

FILES_METRIC = "app_instrumentation_multiprocess_files"
CORRUPT_FILES_METRIC = "app_instrumentation_multiprocess_files_corrupt"

logger = logging.getLogger(__name__)

_FILE_TYPES = frozenset(("counter", "gauge", "histogram", "summary"))
_unpack_length = struct.Struct("i").unpack_from
_unpack_value_and_timestamp = struct.Struct("dd").unpack_from
# Paths already logged as unreadable by this process: one line per file, not one per scrape.
_reported_unreadable = set()
_REPORTED_UNREADABLE_LIMIT = 10_000


class SafeMultiProcessCollector:
    """Collector for files for multi-process mode that survives unreadable files."""

    def __init__(self, registry, path=None):
        if path is None:
            path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not path or not os.path.isdir(path):
            raise ValueError("env PROMETHEUS_MULTIPROC_DIR is not set or not a directory")
        self._path = path
        if registry:
            registry.register(self)

    def collect(self):
        merge = _Merge()
        with directory_lock(self._path, exclusive=False):
            for path in glob.glob(os.path.join(self._path, "*.db")):
                merge.add_file(path)
        yield from merge.metrics()
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


def _read_entries(path):
    """[((series, help text), value, timestamp)] of one file, read as mmap_dict lays it out."""
    with open(path, "rb") as stream:
        data = stream.read(mmap.PAGESIZE)
        if not data:
            # MmapedDict creates the file empty, then sizes it: a worker is just starting.
            return []
        used = _unpack_length(data, 0)[0]
        if used > len(data):
            data += stream.read(used - len(data))
    if used > len(data):
        raise ValueError(f"file is {len(data)} bytes but its header says {used} are used")
    entries = []
    append = entries.append
    position = 8
    while position < used:
        length = _unpack_length(data, position)[0]
        if length < 0 or position + length > used:
            raise ValueError(f"entry at byte {position} runs beyond the used size {used}")
        key_start = position + 4
        value_position = key_start + length + 8 - (length + 4) % 8
        value, timestamp = _unpack_value_and_timestamp(data, value_position)
        append((_parse_key(data[key_start : key_start + length]), value, timestamp))
        position = value_position + 16
    return entries


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
            entries = _read_entries(path)
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
            self._add_gauge_entries(entries, mode, pid)
        else:
            self._add_summed_entries(entries, typ)

    def _metric(self, metric_name, help_text, typ):
        metric = self._metrics.get(metric_name)
        if metric is None:
            metric = self._metrics[metric_name] = Metric(metric_name, help_text, typ)
        return metric

    def _add_gauge_entries(self, entries, mode, pid):
        for (series, help_text), value, timestamp in entries:
            metric_name, name, labels = series
            metric = self._metric(metric_name, help_text, "gauge")
            metric._multiprocess_mode = mode
            metric.add_sample(name, (*labels, ("pid", pid)), value, timestamp)

    def _add_summed_entries(self, entries, typ):
        sums = self._sums
        for (series, help_text), value, _ in entries:
            total = sums.get(series)
            if total is None:
                # Same start and order as the stock merge's defaultdict(float) += value.
                sums[series] = 0.0 + value
                self._metric(series[0], help_text, typ).samples.append(_Series(series))
            else:
                sums[series] = total + value

    def metrics(self):
        sums = self._sums
        for metric in self._metrics.values():
            metric.samples = [
                Sample(sample.series[1], sample.series[2], sums[sample.series])
                if sample.__class__ is _Series
                else sample
                for sample in metric.samples
            ]
        # The stock accumulation step: bucket cumulation, gauge modes, sample order.
        return MultiProcessCollector._accumulate_metrics(self._metrics, accumulate=True)
