"""Durable storage on SQLite (the standard library's sqlite3), the same
schema as the Rust host's (host/src/imports/sqlite.rs), so any host can open
a ledger another wrote: keys and values are BLOBs, compared byte by byte
(memcmp, the WIT's order); WAL with synchronous=FULL, so a write that
returned survives a crash; a `write` is one transaction."""
from __future__ import annotations

import sqlite3
from typing import List, Optional, Sequence, Tuple, Union

APPLICATION_ID = 0x55535943  # "USYC", as the Rust host
SCHEMA_VERSION = "1"


class StorageError(Exception):
    """A WIT `storage-error`: `tag` is `unavailable`, `corrupt` or `too-large`."""

    def __init__(self, tag: str, val: str):
        super().__init__(f"{tag}: {val}")
        self.tag = tag
        self.val = val


#: One change of an atomic write: ("set", key, value) or ("delete", key).
WriteOp = Union[Tuple[str, str, bytes], Tuple[str, str]]


def _prefix_end(prefix: str) -> Optional[bytes]:
    end = bytearray(prefix.encode())
    while end:
        last = end.pop()
        if last < 0xFF:
            end.append(last + 1)
            return bytes(end)
    return None


def _sql_error(path: str, e: sqlite3.Error) -> StorageError:
    code = getattr(e, "sqlite_errorname", "")
    if code == "SQLITE_NOTADB":
        return StorageError("corrupt", f"{path} is not an SQLite database; refusing to touch it")
    if code == "SQLITE_CORRUPT":
        return StorageError("corrupt", f"{path} is damaged or truncated ({e})")
    if code == "SQLITE_TOOBIG":
        return StorageError("too-large", f"{path}: {e}")
    return StorageError("unavailable", f"{path}: {e}")


class SqliteStorage:
    """The kit's storage backend. Methods raise StorageError."""

    def __init__(self, path: str):
        self.path = str(path)
        try:
            # Autocommit; transactions are explicit (BEGIN ... COMMIT).
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
            tables = self.db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if app_id != APPLICATION_ID and (app_id != 0 or tables > 0):
                raise StorageError("corrupt", f"{self.path} is not an unsubscribe-sync ledger")
            self.db.executescript(f"""BEGIN;
                PRAGMA application_id = {APPLICATION_ID};
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
                CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
                COMMIT;""")
        except sqlite3.Error as e:
            raise _sql_error(self.path, e) from None

    def _run(self, f):
        try:
            return f()
        except sqlite3.Error as e:
            raise _sql_error(self.path, e) from None

    def get(self, key: str) -> Optional[bytes]:
        def run():
            row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key.encode(),)).fetchone()
            return None if row is None else bytes(row[0])
        return self._run(run)

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        return [self.get(k) for k in keys]

    def write(self, ops: Sequence[WriteOp]) -> None:
        def run():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for op in ops:
                    if op[0] == "set":
                        self.db.execute(
                            "INSERT INTO kv (key, value) VALUES (?, ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (op[1].encode(), bytes(op[2])))
                    else:
                        self.db.execute("DELETE FROM kv WHERE key = ?", (op[1].encode(),))
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        self._run(run)

    def list(self, prefix: str, after: Optional[str], limit: int) -> Tuple[List[Tuple[str, bytes]], Optional[str]]:
        """A page: (entries in key order, the `after` of the next page or None)."""
        def run():
            if after is not None and after >= prefix:
                lower, op = after.encode(), ">"
            else:
                lower, op = prefix.encode(), ">="
            upper = _prefix_end(prefix)
            if upper is None:
                rows = self.db.execute(f"SELECT key, value FROM kv WHERE key {op} ? ORDER BY key LIMIT ?",
                                       (lower, limit + 1)).fetchall()
            else:
                rows = self.db.execute(f"SELECT key, value FROM kv WHERE key {op} ? AND key < ? ORDER BY key LIMIT ?",
                                       (lower, upper, limit + 1)).fetchall()
            entries = []
            for k, v in rows[:limit]:
                try:
                    entries.append((bytes(k).decode(), bytes(v)))
                except UnicodeDecodeError:
                    raise StorageError("corrupt", f"{self.path}: a key is not UTF-8") from None
            return entries, (entries[-1][0] if len(rows) > limit else None)
        return self._run(run)

    def count(self, prefix: str) -> int:
        def run():
            upper = _prefix_end(prefix)
            if upper is None:
                return self.db.execute("SELECT count(*) FROM kv WHERE key >= ?", (prefix.encode(),)).fetchone()[0]
            return self.db.execute("SELECT count(*) FROM kv WHERE key >= ? AND key < ?",
                                   (prefix.encode(), upper)).fetchone()[0]
        return self._run(run)

    def close(self) -> None:
        self.db.close()
