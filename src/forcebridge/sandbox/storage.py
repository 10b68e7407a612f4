"""Document storage for the emulators: JSON documents per collection, keyed by id.

Reads are served from memory; when a SQLite path is given every write goes through to it, so an
emulator's state survives a restart. Callers that read-modify-write hold ``store.lock``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class DocumentStore:
    def __init__(self, path: Path | None = None) -> None:
        self.lock = threading.RLock()
        self._collections: dict[str, dict[str, dict[str, Any]]] = {}
        self._sequences: dict[str, int] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS documents ("
                " collection TEXT NOT NULL, key TEXT NOT NULL, position INTEGER NOT NULL,"
                " body TEXT NOT NULL, PRIMARY KEY (collection, key))"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sequences"
                " (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
            )
            self._load()

    @property
    def persistent(self) -> bool:
        return self._db is not None

    def _load(self) -> None:
        assert self._db is not None
        rows = self._db.execute("SELECT collection, key, body FROM documents ORDER BY position")
        for collection, key, body in rows:
            self._collections.setdefault(collection, {})[key] = json.loads(body)
        for name, value in self._db.execute("SELECT name, value FROM sequences"):
            self._sequences[name] = value

    def get(self, collection: str, key: str) -> dict[str, Any] | None:
        return self._collections.get(collection, {}).get(key)

    def put(self, collection: str, key: str, document: dict[str, Any]) -> None:
        with self.lock:
            self._collections.setdefault(collection, {})[key] = document
            if self._db is not None:
                position = self.next_sequence("__position__")
                self._db.execute(
                    "INSERT INTO documents (collection, key, position, body) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (collection, key) DO UPDATE SET body = excluded.body",
                    (collection, key, position, json.dumps(document)),
                )

    def delete(self, collection: str, key: str) -> bool:
        with self.lock:
            removed = self._collections.get(collection, {}).pop(key, None) is not None
            if removed and self._db is not None:
                self._db.execute(
                    "DELETE FROM documents WHERE collection = ? AND key = ?", (collection, key)
                )
            return removed

    def values(self, collection: str) -> Iterator[dict[str, Any]]:
        """The documents of a collection in insertion order (a snapshot: writes may follow)."""
        return iter(list(self._collections.get(collection, {}).values()))

    def count(self, collection: str) -> int:
        return len(self._collections.get(collection, {}))

    def next_sequence(self, name: str, start: int = 1) -> int:
        with self.lock:
            value = self._sequences.get(name, start - 1) + 1
            self._sequences[name] = value
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO sequences (name, value) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )
            return value

    def clear(self) -> None:
        with self.lock:
            self._collections.clear()
            self._sequences.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM documents")
                self._db.execute("DELETE FROM sequences")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
