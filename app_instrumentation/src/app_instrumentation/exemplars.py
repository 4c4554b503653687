"""Trace exemplars of http_server_request_duration_seconds: kept per worker, merged newest-wins.

prometheus_client keeps exemplars in single-process mode only, so this package stores them itself.
Each worker keeps, per (method, route, status, bucket), the latest exemplar of a sampled request in
one file of its own, `<pid>.exemplars` in the multiprocess directory (not `*.db`: prometheus_client
and the collector never read it). The file is a header (bytes used) and one slot per
(series, bucket), appended the first time that bucket gets an exemplar and overwritten in place
after: so it is bounded by the histogram's own series, like the worker's `.db` files.

A slot is a key (JSON label values and `le`) and an 80-byte record written by one `pack_into`:
a sequence number, trace id, span id, value, timestamp, and the sequence number again. pack_into
writes the fields in order, so a merge that copies a slot while it is being written sees two
different sequence numbers and skips that slot for this scrape.

Departed workers: their exemplars are folded, newest wins, into `archive.exemplars` by the same
compaction that folds their `.db` files (compaction.py), so a recycled worker's exemplars stay
visible and the directory keeps one archive file. The merge reads every `*.exemplars` file and
keeps, per bucket, the exemplar with the newest timestamp.
"""

import contextlib
import functools
import glob
import json
import mmap
import os
import re
import struct
from time import time

from prometheus_client.samples import Exemplar, Sample
from prometheus_client.utils import floatToGoString

DURATION_METRIC = "http_server_request_duration_seconds"
DURATION_LABELS = ("http_request_method", "http_route", "http_response_status_code")
EXEMPLAR_SUFFIX = ".exemplars"
ARCHIVE_NAME = f"archive{EXEMPLAR_SUFFIX}"
# W3C Trace Context: version-traceid-parentid-flags, lowercase hex; later versions may append.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16
_SAMPLED = 0x01
# sequence, trace id, span id, value, timestamp, sequence
_RECORD = struct.Struct("<q32s16sddq")
_HEADER = struct.Struct("<q")
_KEY_LENGTH = struct.Struct("<i")
_INITIAL_SIZE = 1 << 14
# Trace id and span id labels: 8 + 32 + 7 + 16 characters, within OpenMetrics' 128.
EXEMPLAR_LABEL_CHARACTERS = len("trace_id") + 32 + len("span_id") + 16


class Malformed:
    """What `parse_traceparent` returns for a header that breaks the W3C format."""


MALFORMED = Malformed()


def parse_traceparent(header: str) -> tuple[bytes, bytes] | Malformed | None:
    """(trace id, span id) as ASCII hex of a sampled W3C traceparent; None when it is valid but
    not sampled; MALFORMED when it breaks the format (all-zero ids and version ff included)."""
    match = _TRACEPARENT.fullmatch(header.strip())
    if match is None:
        return MALFORMED
    version, trace_id, span_id, flags, rest = match.groups()
    if (
        version == "ff"
        or (version == "00" and rest is not None)
        or trace_id == _INVALID_TRACE_ID
        or span_id == _INVALID_SPAN_ID
    ):
        return MALFORMED
    if not int(flags, 16) & _SAMPLED:
        return None
    return trace_id.encode(), span_id.encode()


def _current_span_ids():
    """The current OpenTelemetry span's ids if opentelemetry-api is installed; None otherwise."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None

    def span_ids() -> tuple[bytes, bytes] | None:
        """(trace id, span id) of the current span if it is recording and sampled."""
        span = trace.get_current_span()
        if not span.is_recording():
            return None
        context = span.get_span_context()
        if not context.trace_flags.sampled:
            return None
        return f"{context.trace_id:032x}".encode(), f"{context.span_id:016x}".encode()

    return span_ids


current_span_ids = _current_span_ids()


def _slot_bytes(key: bytes) -> bytes:
    padding = b" " * (8 - (len(key) + _KEY_LENGTH.size) % 8)
    return _KEY_LENGTH.pack(len(key)) + key + padding + bytes(_RECORD.size)


def exemplar_key(label_values: tuple[str, str, str], upper_bound: float) -> bytes:
    return json.dumps([*label_values, floatToGoString(upper_bound)]).encode()


class ExemplarFile:
    """This process's `<pid>.exemplars`, created at its first slot."""

    def __init__(self, directory: str) -> None:
        self._path = os.path.join(directory, f"{os.getpid()}{EXEMPLAR_SUFFIX}")
        self._map: mmap.mmap | None = None
        self._used = _HEADER.size
        self._sequence = 0

    def slot(self, key: bytes) -> int:
        """Append a slot for `key`; returns where its record is written."""
        if self._map is None:
            self._open()
        slot = _slot_bytes(key)
        if self._used + len(slot) > len(self._map):
            self._grow(self._used + len(slot))
        self._map[self._used : self._used + len(slot)] = slot
        self._used += len(slot)
        _HEADER.pack_into(self._map, 0, self._used)
        return self._used - _RECORD.size

    def _open(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, _INITIAL_SIZE)
            self._map = mmap.mmap(fd, _INITIAL_SIZE)
        finally:
            os.close(fd)

    def _grow(self, needed: int) -> None:
        size = len(self._map)
        while size < needed:
            size *= 2
        fd = os.open(self._path, os.O_RDWR)
        try:
            os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    def write(self, position: int, trace_id: bytes, span_id: bytes, value: float) -> None:
        self._sequence += 1
        sequence = self._sequence
        _RECORD.pack_into(self._map, position, sequence, trace_id, span_id, value, time(), sequence)


@functools.lru_cache(maxsize=1 << 15)
def _parse_key(key: bytes) -> tuple[str, ...]:
    return tuple(json.loads(key))


def read_exemplar_file(path: str) -> dict[tuple[str, ...], tuple[str, str, float, float]]:
    """{(method, route, status, le): (trace id, span id, value, timestamp)} of one file; slots
    being written while it is read are left out."""
    with open(path, "rb") as stream:
        data = stream.read()
    used = _HEADER.unpack_from(data)[0] if len(data) >= _HEADER.size else 0
    if used > len(data):
        raise ValueError(f"{path}: header says {used} bytes, the file has {len(data)}")
    exemplars = {}
    position = _HEADER.size
    while position < used:
        length = _KEY_LENGTH.unpack_from(data, position)[0]
        key_start = position + _KEY_LENGTH.size
        record_at = key_start + length + 8 - (length + _KEY_LENGTH.size) % 8
        if length < 0 or record_at + _RECORD.size > used:
            raise ValueError(f"{path}: slot at byte {position} runs beyond {used} bytes")
        begin, trace_id, span_id, value, timestamp, end = _RECORD.unpack_from(data, record_at)
        if begin == end and begin:
            key = _parse_key(data[key_start : key_start + length])
            exemplars[key] = (trace_id.decode(), span_id.decode(), value, timestamp)
        position = record_at + _RECORD.size
    return exemplars


def encode_exemplar_file(exemplars: dict) -> bytes:
    """The bytes of an exemplar file holding `exemplars` (as read_exemplar_file returns them)."""
    chunks = []
    for key, (trace_id, span_id, value, timestamp) in exemplars.items():
        slot = bytearray(_slot_bytes(json.dumps(list(key)).encode()))
        _RECORD.pack_into(
            slot, len(slot) - _RECORD.size, 1, trace_id.encode(), span_id.encode(), value,
            timestamp, 1,
        )  # fmt: skip
        chunks.append(bytes(slot))
    body = b"".join(chunks)
    return _HEADER.pack(_HEADER.size + len(body)) + body


def newest(into: dict, exemplars: dict) -> dict:
    """Fold `exemplars` into `into`, the newest timestamp winning per key."""
    for key, exemplar in exemplars.items():
        kept = into.get(key)
        if kept is None or kept[3] < exemplar[3]:
            into[key] = exemplar
    return into


def merged_exemplars(directory: str) -> dict:
    """The newest exemplar per bucket over every worker's file and the archive; a file that
    cannot be read is skipped (its buckets fall back to another worker's exemplar)."""
    merged = {}
    for path in glob.glob(os.path.join(directory, f"*{EXEMPLAR_SUFFIX}")):
        with contextlib.suppress(OSError, ValueError, struct.error, UnicodeDecodeError):
            newest(merged, read_exemplar_file(path))
    return merged


def with_exemplars(metrics, exemplars: dict):
    """`metrics` (merged), the duration histogram's buckets carrying their newest exemplar."""
    for metric in metrics:
        if metric.name == DURATION_METRIC and exemplars:
            metric.samples = [_with_exemplar(sample, exemplars) for sample in metric.samples]
        yield metric


def _with_exemplar(sample: Sample, exemplars: dict) -> Sample:
    labels = sample.labels
    if "le" not in labels:
        return sample
    exemplar = exemplars.get((*(labels.get(name) for name in DURATION_LABELS), labels["le"]))
    if exemplar is None:
        return sample
    trace_id, span_id, value, timestamp = exemplar
    return sample._replace(
        exemplar=Exemplar({"trace_id": trace_id, "span_id": span_id}, value, timestamp)
    )
