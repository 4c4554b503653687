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
import itertools
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
_VERSION_00 = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_ANY_VERSION = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?")
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16
# The flags' last hex digit is odd when the sampled bit (0x01) is set.
_SAMPLED_DIGITS = "13579bdf"
TRACEPARENT_LENGTH = 55
# sequence, the version-00 traceparent (trace id at 3:35, span id at 36:52), value, timestamp,
# sequence
_RECORD = struct.Struct("<q55sxddq")
_RECORD_FORMAT = "q55sxddq"
_HEADER = struct.Struct("<q")
_KEY_LENGTH = struct.Struct("<i")
_INITIAL_SIZE = 1 << 14
# Trace id and span id labels: 8 + 32 + 7 + 16 characters, within OpenMetrics' 128.
EXEMPLAR_LABEL_CHARACTERS = len("trace_id") + 32 + len("span_id") + 16
# Layouts of exemplar files read before, by path: (inode, bytes used, keys, struct of the records).
_layouts: dict[str, tuple[int, int, tuple, struct.Struct]] = {}
_LAYOUT_LIMIT = 4096


class Malformed:
    """What `parse_traceparent` returns for a header that breaks the W3C format."""


MALFORMED = Malformed()


def parse_traceparent(header: str) -> bytes | Malformed | None:
    """The sampled W3C traceparent as version-00 ASCII bytes (what a record stores); None when it
    is valid but not sampled; MALFORMED when it breaks the format (all-zero ids, version ff)."""
    if _VERSION_00.fullmatch(header) is None:
        return _parse_other_version(header)
    if header[3:35] == _INVALID_TRACE_ID or header[36:52] == _INVALID_SPAN_ID:
        return MALFORMED
    if header[54] not in _SAMPLED_DIGITS:
        return None
    return header.encode()


def _parse_other_version(header: str) -> bytes | Malformed | None:
    match = _ANY_VERSION.fullmatch(header)
    if match is None:
        return MALFORMED
    version, trace_id, span_id, flags = match.groups()
    if version in ("00", "ff") or trace_id == _INVALID_TRACE_ID or span_id == _INVALID_SPAN_ID:
        return MALFORMED
    if flags[1] not in _SAMPLED_DIGITS:
        return None
    return f"00-{trace_id}-{span_id}-01".encode()


def _current_span_traceparent():
    """A function giving the current OpenTelemetry span as a traceparent, if opentelemetry-api
    is installed; None otherwise."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None

    def span_traceparent() -> bytes | None:
        """The current span's traceparent if it is recording and sampled."""
        span = trace.get_current_span()
        if not span.is_recording():
            return None
        context = span.get_span_context()
        if not context.trace_flags.sampled:
            return None
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-01".encode()

    return span_traceparent


current_span_traceparent = _current_span_traceparent()


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
        self._sequences = itertools.count(1)

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

    def write(self, position: int, traceparent: bytes, value: float) -> None:
        sequence = next(self._sequences)
        _RECORD.pack_into(self._map, position, sequence, traceparent, value, time(), sequence)


@functools.lru_cache(maxsize=1 << 15)
def _parse_key(key: bytes) -> tuple[str, ...]:
    return tuple(json.loads(key))


def _layout(path: str, inode: int, data: bytes, used: int) -> tuple[tuple, struct.Struct]:
    """(keys, struct of all records) of a file: parsed once per inode and size, as files only
    grow by appending slots (an archive is replaced by a new inode)."""
    cached = _layouts.get(path)
    if cached is not None and cached[0] == inode and cached[1] == used:
        return cached[2], cached[3]
    keys, formats = [], ["<"]
    # The struct reads from byte 0: its first skip covers the header.
    position, end_of_previous = _HEADER.size, 0
    while position < used:
        length = _KEY_LENGTH.unpack_from(data, position)[0]
        key_start = position + _KEY_LENGTH.size
        record_at = key_start + length + 8 - (length + _KEY_LENGTH.size) % 8
        if length < 0 or record_at + _RECORD.size > used:
            raise ValueError(f"{path}: slot at byte {position} runs beyond {used} bytes")
        keys.append(_parse_key(data[key_start : key_start + length]))
        formats.append(f"{record_at - end_of_previous}x{_RECORD_FORMAT}")
        position = end_of_previous = record_at + _RECORD.size
    if len(_layouts) >= _LAYOUT_LIMIT:
        _layouts.clear()
    layout = _layouts[path] = (inode, used, tuple(keys), struct.Struct("".join(formats)))
    return layout[2], layout[3]


def read_exemplar_file(path: str) -> dict[tuple[str, ...], tuple[bytes, float, float]]:
    """{(method, route, status, le): (traceparent, value, timestamp)} of one file; slots being
    written while it is read are left out."""
    with open(path, "rb") as stream:
        inode = os.fstat(stream.fileno()).st_ino
        data = stream.read()
    used = _HEADER.unpack_from(data)[0] if len(data) >= _HEADER.size else 0
    if used > len(data):
        raise ValueError(f"{path}: header says {used} bytes, the file has {len(data)}")
    keys, records = _layout(path, inode, data, used)
    fields = records.unpack_from(data)
    return {
        key: (traceparent, value, timestamp)
        for key, begin, traceparent, value, timestamp, end in zip(
            keys, fields[0::5], fields[1::5], fields[2::5], fields[3::5], fields[4::5], strict=True
        )
        if begin == end and begin
    }


def encode_exemplar_file(exemplars: dict) -> bytes:
    """The bytes of an exemplar file holding `exemplars` (as read_exemplar_file returns them)."""
    chunks = []
    for key, (traceparent, value, timestamp) in exemplars.items():
        slot = bytearray(_slot_bytes(json.dumps(list(key)).encode()))
        _RECORD.pack_into(slot, len(slot) - _RECORD.size, 1, traceparent, value, timestamp, 1)
        chunks.append(bytes(slot))
    body = b"".join(chunks)
    return _HEADER.pack(_HEADER.size + len(body)) + body


def newest(into: dict, exemplars: dict) -> dict:
    """Fold `exemplars` into `into`, the newest timestamp winning per key."""
    for key, exemplar in exemplars.items():
        kept = into.get(key)
        if kept is None or kept[2] < exemplar[2]:
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
    traceparent, value, timestamp = exemplar
    labels = {"trace_id": traceparent[3:35].decode(), "span_id": traceparent[36:52].decode()}
    return sample._replace(exemplar=Exemplar(labels, value, timestamp))
