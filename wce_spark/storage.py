"""Small files (reports, pointers, metadata) written atomically on local disks and Hadoop-style stores.

Local paths use a temporary file and ``os.replace`` (atomic on POSIX); other URLs (hdfs://, s3://, ...)
go through fsspec, where the store's own put is the unit of atomicity.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str, data: bytes) -> None:
    if _is_local(path):
        path = _local(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return
    import fsspec

    with fsspec.open(path, "wb") as fh:
        fh.write(data)


def write_json_atomic(path: str, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def read_text(path: str) -> str:
    if _is_local(path):
        with open(_local(path), encoding="utf-8") as fh:
            return fh.read()
    import fsspec

    with fsspec.open(path, "r", encoding="utf-8") as fh:
        return fh.read()


def append_line(path: str, line: str) -> None:
    """Append one line (a run-history record); local files only need O_APPEND to stay whole."""
    if _is_local(path):
        path = _local(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")
        return
    existing = read_text(path) if exists(path) else ""
    write_text_atomic(path, existing + line.rstrip("\n") + "\n")


def exists(path: str) -> bool:
    if _is_local(path):
        return os.path.exists(_local(path))
    import fsspec

    fs, _, (stripped,) = fsspec.get_fs_token_paths(path)
    return fs.exists(stripped)
