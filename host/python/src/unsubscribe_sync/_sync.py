"""`UnsubscribeSync`: the component with the kit's imports, one method per
export of the WIT `sync` interface, typed with the generated dataclasses."""
from __future__ import annotations

import sys
import time
from typing import Callable, List, Optional, Union

import wasmtime

from . import _wit
from ._component import Imports, Instance
from ._org import OrgClient, OrgConfig
from ._storage import SqliteStorage
from ._values import json_to_py, py_to_json
from ._wit import (AuditTrail, CheckReport, DrainSummary, Err, ImportSummary, NightlyOptions, NightlyOutcome, Ok,
                   PushOutcome, ReportPage, ResubscribeEvent, ResubscribeOutcome, Schedule, Settings, StatusReport,
                   SyncError, Timestamp, UnsubscribeEvent)


class HostError(Exception):
    """A call that ended without an answer: the component trapped."""


def _default_log(level: str, message: str) -> None:
    if level in ("warn", "error"):
        print(f"unsubscribe-sync {level}: {message}", file=sys.stderr)


Result = Union[Ok, Err]


class UnsubscribeSync:
    """The unsubscribe-sync component with its imports.

    Give `org` (an OrgConfig: the kit's OAuth client) or `http_send` (your
    own `(method, path, headers, body) -> Response`), and `storage_path` (an
    SQLite file) or `storage` (a backend with SqliteStorage's methods). One
    instance is reused across calls; after a trap it is dropped and the next
    call gets a fresh one. Calls must not overlap on one storage.
    """

    def __init__(self, *, org: Optional[OrgConfig] = None, http_send: Optional[Callable] = None,
                 storage_path: Optional[str] = None, storage=None,
                 now: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 log: Callable[[str, str], None] = _default_log):
        if (org is None) == (http_send is None):
            raise TypeError("give exactly one of org and http_send")
        if (storage_path is None) == (storage is None):
            raise TypeError("give exactly one of storage_path and storage")
        self.org = OrgClient(org) if org is not None else None
        self._own_storage = SqliteStorage(storage_path) if storage_path is not None else None
        self.storage = storage if storage is not None else self._own_storage
        self.imports = Imports(http_send or self.org.send, self.storage, now, log)
        self._instance: Optional[Instance] = None

    def _call(self, export: str, *args):
        params, result = _wit.FUNCS[export]
        if self._instance is None:
            self._instance = Instance(self.imports)
        json_args = [py_to_json(t, a) for (_, _, t), a in zip(params, args)]
        try:
            answer = self._instance.call(export, json_args)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            stderr = self._instance.stderr.decode(errors="replace").strip()
            # The instance's state is undefined after a trap: start afresh.
            self._instance = None
            raise HostError(f"the component trapped in `{export}`: {e}" + (f" ({stderr})" if stderr else "")) from e
        return json_to_py(result, answer)

    def validate_settings(self, settings: Settings) -> Union[Ok[None], Err[SyncError]]:
        return self._call("validate-settings", settings)

    def push(self, settings: Settings, event: UnsubscribeEvent) -> Union[Ok[PushOutcome], Err[SyncError]]:
        return self._call("push", settings, event)

    def push_many(self, settings: Settings,
                  events: List[UnsubscribeEvent]) -> Union[Ok[List[Union[Ok[PushOutcome], Err[SyncError]]]], Err[SyncError]]:
        """One answer per event, in order: what `push` of it would have answered."""
        return self._call("push-many", settings, events)

    def resubscribe(self, settings: Settings, event: ResubscribeEvent) -> Union[Ok[ResubscribeOutcome], Err[SyncError]]:
        return self._call("resubscribe", settings, event)

    def import_(self, settings: Settings, events: List[UnsubscribeEvent]) -> Union[Ok[ImportSummary], Err[SyncError]]:
        return self._call("import", settings, events)

    def nightly(self, settings: Settings, options: NightlyOptions) -> Union[Ok[NightlyOutcome], Err[SyncError]]:
        return self._call("nightly", settings, options)

    def report_items(self, run_id: str, after: Optional[str], limit: int) -> Union[Ok[ReportPage], Err[SyncError]]:
        return self._call("report-items", run_id, after, limit)

    def next_nightly(self, schedule: Schedule, after: Timestamp) -> Union[Ok[Timestamp], Err[SyncError]]:
        return self._call("next-nightly", schedule, after)

    def check(self, settings: Settings) -> Union[Ok[CheckReport], Err[SyncError]]:
        return self._call("check", settings)

    def status(self, settings: Settings) -> Union[Ok[StatusReport], Err[SyncError]]:
        return self._call("status", settings)

    def audit(self, person_id: str) -> Union[Ok[Optional[AuditTrail]], Err[SyncError]]:
        return self._call("audit", person_id)

    def drain_retries(self, settings: Settings, max: int) -> Union[Ok[DrainSummary], Err[SyncError]]:
        return self._call("drain-retries", settings, max)

    def close(self) -> None:
        self._instance = None
        if self._own_storage is not None:
            self._own_storage.close()


def default_settings() -> Settings:
    """The defaults the WIT documents, to change what you need."""
    return Settings(sync_enabled=True, email_opt_out=True, sales_opt_out_field=None, api_version="62.0",
                    schedule=Schedule(hour=20, minute=0, time_zone="America/Los_Angeles"), bulk_threshold=10000,
                    budget=_wit.ApiBudget(max_calls=None, max_percent_of_remaining=10, reserve=1000))
