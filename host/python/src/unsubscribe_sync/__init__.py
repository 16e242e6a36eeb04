"""unsubscribe-sync for Python: the WebAssembly component on wasmtime-py with
ready imports (an OAuth org client, SQLite storage, a clock, a log) behind
`UnsubscribeSync`, one method per export of the WIT `sync` interface."""
from ._org import HttpError, OrgClient, OrgConfig, Response
from ._storage import SqliteStorage, StorageError
from ._sync import HostError, UnsubscribeSync, default_settings
from ._wit import *  # noqa: F401,F403  (the WIT types, generated)
from ._wit import Err, Ok

__all__ = ["UnsubscribeSync", "HostError", "OrgClient", "OrgConfig", "Response", "HttpError", "SqliteStorage",
           "StorageError", "Ok", "Err", "default_settings"]
