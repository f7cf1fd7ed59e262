"""Content-addressed run cache: one JSON file per (arm, seed, budget, device, engine version).

Writes are atomic (temp file + os.replace), so an interrupted run leaves whole entries only and
resumes from them. A corrupt entry is reported, deleted and recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from instincts.errors import CacheWarning

__all__ = ["SCHEMA", "CacheWarning", "RunCache", "digest", "write_atomic", "write_json_atomic"]

SCHEMA = 1


def digest(identity: Any) -> str:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """The one place that writes a file so that readers see the old file or the new one, never half
    of one (temp file, fsync, os.replace). ``mode``: the file's permissions (mkstemp's are 0o600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON atomically (``write_atomic``); NaN and infinity are refused, not written."""
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False).encode())


class RunCache:
    """Maps a run's identity to its metrics. ``root=None`` keeps results in memory only."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None
        self.memory: dict[str, dict[str, float]] = {}
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, identity: Any) -> dict[str, float] | None:
        key = digest(identity)
        if key in self.memory:
            self.hits += 1
            return self.memory[key]
        if self.root is None or not self._path(key).exists():
            self.misses += 1
            return None
        path = self._path(key)
        try:
            entry = json.loads(path.read_text())
            metrics = entry["metrics"]
            if entry.get("schema") != SCHEMA or entry.get("key") != key or entry.get("check") != digest(metrics):
                raise ValueError("key, schema or checksum mismatch")
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in metrics.values()):
                raise ValueError("non-finite metric")
        except Exception as exc:  # corrupt, truncated or tampered: recompute
            warnings.warn(f"corrupt run-cache entry {path} ({exc}); recomputing it", CacheWarning, stacklevel=2)
            try:
                path.unlink(missing_ok=True)
            except OSError:  # a folder in its place, a read-only cache: the rewrite will say so
                pass
            self.misses += 1
            return None
        self.memory[key] = metrics
        self.hits += 1
        return metrics

    def put(self, identity: Any, metrics: dict[str, float]) -> None:
        key = digest(identity)
        self.memory[key] = metrics
        if self.root is not None:
            entry = {"schema": SCHEMA, "key": key, "identity": identity, "metrics": metrics,
                     "check": digest(metrics)}
            try:
                write_json_atomic(self._path(key), entry)
            except OSError as exc:  # a full disk or read-only cache costs reuse, not the claim
                warnings.warn(f"could not write run-cache entry {self._path(key)} ({exc}); kept in memory only",
                              CacheWarning, stacklevel=2)
