"""Fold a dead worker's prometheus_client multiprocess files into per-type archive files.

Every worker that ever ran leaves `<type>_<pid>.db` files behind, and the merge at scrape time reads
them all, so scrape cost grows with every restart. A worker that exits normally folds its own files
as its process ends (`compact_own_files_at_exit`), so none are left of a process that is gone. For a
worker that was killed, the Sanic main process, the only parent of the writers, calls
`compact_dead_worker(path, pid)` once it has exited and before a replacement is started, so no
process can be writing that pid's files.

What happens to each of the dead worker's files, chosen so that the merged exposition is unchanged:

- `counter_`, `histogram_`, `summary_`, `gauge_sum_`: values are added per key into
  `<type>_archive.db` (histogram buckets per bucket, not cumulated, as workers store them).
  Integer counts stay exact; a float sum may differ in its last bit, since it is added in another
  order (the stock merge's own result already depends on the order the directory lists files).
- `gauge_min_`, `gauge_max_`: the archive keeps the minimum, the maximum.
- `gauge_mostrecent_`: the archive keeps the value with the newest timestamp, timestamp included
  (MultiProcessCollector.merge(accumulate=False) would drop it).
- `gauge_live*_`: removed, as mark_process_dead does: live modes show live processes only.
- `<pid>.exemplars`: folded into `archive.exemplars`, the newest exemplar per bucket winning
  (exemplars.py).
- `gauge_all_`: kept as it is. In `all` mode the pid label is the series' identity, and the stock
  collector takes that pid from the file name, so no archive could carry it.

Archive names keep the `<type>[_<mode>]_<pid>.db` shape with `archive` as the pid, in mmap_dict's
format, so prometheus_client's own MultiProcessCollector reads them correctly too (the pid label it
derives is dropped in every archived gauge mode).

Locking: an exclusive flock on the directory itself (not on a lock file, so the directory still
holds only `*.db` files) while archives are replaced and sources removed; SafeMultiProcessCollector
holds a shared flock while it lists and reads files, so a scrape sees the directory before or after
a compaction, never a source and its archive together or neither. Collectors that do not take the
lock (the stock one) can see that transient state. Archives are written to a hidden temporary
file (`.compacting_<archive name>`) and renamed over the old one. If the process dies between that
rename and the removal of the source, that source counts twice until the directory is wiped; the
unit wipes it at every service start, which is what a dead main process leads to.
"""

import contextlib
import fcntl
import logging
import multiprocessing
import multiprocessing.util
import os
import struct

from app_instrumentation.exemplars import (
    ARCHIVE_NAME,
    EXEMPLAR_SUFFIX,
    encode_exemplar_file,
    newest,
    read_exemplar_file,
)
from app_instrumentation.prometheus_client_internals import read_file_entries

ARCHIVE_PID = "archive"

logger = logging.getLogger(__name__)

# What reading a truncated or overwritten mmap_dict file raises.
_UNREADABLE = (RuntimeError, struct.error, UnicodeDecodeError)
_HEADER = struct.Struct("i4x")
_ENTRY_LENGTH = struct.Struct("i")
_VALUE_AND_TIMESTAMP = struct.Struct("dd")


def _sum(archived, dead):
    return archived[0] + dead[0], 0.0


def _minimum(archived, dead):
    # The stock merge keeps the first value unless a later one compares lower.
    return dead if dead[0] < archived[0] else archived


def _maximum(archived, dead):
    return dead if dead[0] > archived[0] else archived


def _most_recent(archived, dead):
    return dead if archived[1] < dead[1] else archived


# File prefix -> how a dead worker's (value, timestamp) folds into the archived one.
_ARCHIVED_PREFIXES = {
    "counter": _sum,
    "histogram": _sum,
    "summary": _sum,
    "gauge_sum": _sum,
    "gauge_min": _minimum,
    "gauge_max": _maximum,
    "gauge_mostrecent": _most_recent,
}
_LIVE_GAUGE_PREFIXES = tuple(
    f"gauge_{mode}" for mode in ("livesum", "livemin", "livemax", "liveall", "livemostrecent")
)


@contextlib.contextmanager
def directory_lock(path, exclusive):
    """Hold flock on the multiprocess directory: exclusive to compact, shared to read."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def encode_entries(entries):
    """Bytes of an mmap_dict file holding `entries` ({key: (value, timestamp)}), without slack."""
    chunks = [b""]
    for key, (value, timestamp) in entries.items():
        encoded = key.encode("utf-8")
        padding = b" " * (8 - (len(encoded) + 4) % 8)
        chunks += (
            _ENTRY_LENGTH.pack(len(encoded)),
            encoded,
            padding,
            _VALUE_AND_TIMESTAMP.pack(value, timestamp),
        )
    body = b"".join(chunks)
    return _HEADER.pack(_HEADER.size + len(body)) + body


def _folded_archive(path, prefix, pid):
    """(source, archive, new archive bytes), or None when there is nothing to fold."""
    source = os.path.join(path, f"{prefix}_{pid}.db")
    archive = os.path.join(path, f"{prefix}_{ARCHIVE_PID}.db")
    try:
        dead = read_file_entries(source)
    except FileNotFoundError:
        return None
    except _UNREADABLE as error:
        logger.warning("not compacting unreadable multiprocess file %s: %s", source, error)
        return None
    try:
        archived = read_file_entries(archive)
    except FileNotFoundError:
        archived = {}
    except _UNREADABLE as error:
        logger.error("not compacting %s into unreadable archive %s: %s", source, archive, error)
        return None
    fold = _ARCHIVED_PREFIXES[prefix]
    for key, value_and_timestamp in dead.items():
        previous = archived.get(key)
        archived[key] = (
            value_and_timestamp if previous is None else fold(previous, value_and_timestamp)
        )
    return source, archive, encode_entries(archived)


def _folded_exemplars(path, pid):
    """(source, archive, new archive bytes) of the worker's exemplars folded newest-wins into the
    archive, or None when it has none or either cannot be read (then they are dropped)."""
    source = os.path.join(path, f"{pid}{EXEMPLAR_SUFFIX}")
    archive = os.path.join(path, ARCHIVE_NAME)
    try:
        dead = read_exemplar_file(source)
    except FileNotFoundError:
        return None
    except (ValueError, *_UNREADABLE) as error:
        logger.warning("dropping unreadable exemplar file %s: %s", source, error)
        os.remove(source)
        return None
    try:
        archived = read_exemplar_file(archive)
    except FileNotFoundError:
        archived = {}
    except (ValueError, *_UNREADABLE) as error:
        logger.error("replacing unreadable exemplar archive %s: %s", archive, error)
        archived = {}
    return source, archive, encode_exemplar_file(newest(archived, dead))


def _write_hidden(archive, content):
    directory, name = os.path.split(archive)
    # Hidden from the `*.db` glob of collectors, yet inside the directory the unit empties at start.
    temporary = os.path.join(directory, f".compacting_{name}")
    with open(temporary, "wb") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())
    return temporary


def compact_dead_worker(path: str, pid: int) -> None:
    """Fold the files of worker `pid`, which has exited, into the archives of `path`.

    Call it from the parent after the worker has exited and before any new process can get its pid.
    Files that cannot be read are left in place (the collector skips and reports them).
    """
    if pid == os.getpid():
        raise ValueError(f"refusing to compact the files of the running process {pid}")
    _compact(path, pid)


def compact_own_files_at_exit(path: str) -> None:
    """Have this worker process fold its own files into the archives when it exits.

    Runs when multiprocessing ends the process, after Sanic's serve() has returned: nothing counts
    any more. Until the parent notices the exit, files of no live process would otherwise sit in
    the directory; and a worker that exits this way leaves none for the parent to compact. A
    worker that is killed still leaves its files, which the parent compacts. Not in a process
    that multiprocessing did not start (a single-process server, a test client).
    """
    if multiprocessing.parent_process() is None:
        return
    pid = os.getpid()

    def compact() -> None:
        try:
            _compact(path, pid)
        except FileNotFoundError:  # the directory itself is gone: nothing left to fold
            pass
        except OSError:
            logger.exception("could not compact this worker's metrics files at exit")

    multiprocessing.util.Finalize(None, compact, exitpriority=0)


def _compact(path: str, pid: int) -> None:
    with directory_lock(path, exclusive=True):
        for prefix in _LIVE_GAUGE_PREFIXES:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(path, f"{prefix}_{pid}.db"))
        folded = [_folded_archive(path, prefix, pid) for prefix in _ARCHIVED_PREFIXES]
        folded.append(_folded_exemplars(path, pid))
        # Write every archive first so that the window between replace and remove stays tiny.
        replacements = [
            (_write_hidden(archive, content), archive, source)
            for source, archive, content in filter(None, folded)
        ]
        for temporary, archive, source in replacements:
            os.replace(temporary, archive)
            os.remove(source)
