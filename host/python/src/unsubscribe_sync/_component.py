"""The component in wasmtime-py, and the imports every instance gets.

One engine and one compiled component per process; an `Instance` is a store
and an instance of it with the four imports bound, reused across calls and
replaced after a trap. The exports are called with wasmtime-py values built
from a plan compiled once per export (see `_values`)."""
from __future__ import annotations

import threading
from importlib import resources
from typing import Any, Callable, Dict

import wasmtime
from wasmtime import component as wc

from . import _fast
from . import _policy as policy
from . import _wit
from ._org import HttpError
from ._storage import StorageError
from ._values import json_to_wasm, plan, wasm_to_json

_fast.apply()

WASM_NAME = "unsubscribe_sync_plugin.wasm"
PACKAGE = "unsubscribe-sync:salesforce"

_lock = threading.Lock()
_compiled: Dict[str, Any] = {}


def compiled():
    """(engine, component), compiled once per process."""
    with _lock:
        if not _compiled:
            engine = wasmtime.Engine()
            wasm = resources.files(__package__).joinpath(WASM_NAME).read_bytes()
            _compiled["engine"] = engine
            _compiled["component"] = wc.Component(engine, wasm)
        return _compiled["engine"], _compiled["component"]


def _interface_names(component, engine) -> Dict[str, str]:
    """`http` -> `unsubscribe-sync:salesforce/http@<version>` as the component
    names them, so the kit follows the WIT's version without an edit."""
    names = {}
    for name in list(component.type.imports(engine)) + list(component.type.exports(engine)):
        if name.startswith(PACKAGE + "/"):
            names[name[len(PACKAGE) + 1:].split("@")[0]] = name
    return names


def _storage_err(e: StorageError):
    return wc.Variant(e.tag, e.val)


def _too_large(text: str):
    return wc.Variant("too-large", text)


class Imports:
    """The host side: `http_send(method, path, headers, body)` returning a
    `Response` or raising HttpError; a storage backend (SqliteStorage's
    methods, raising StorageError); `now()` in Unix ms; `log(level, msg)`."""

    def __init__(self, http_send: Callable, storage, now: Callable[[], int], log: Callable[[str, str], None]):
        self.http_send = http_send
        self.storage = storage
        self.now = now
        self.log = log

    def link(self, linker: wc.Linker, names: Dict[str, str]) -> None:
        storage = self.storage

        def guarded(f):
            # Every storage failure is the WIT error, as in the Rust host;
            # only a bug of ours would trap.
            def run(_store, *args):
                try:
                    return f(*args)
                except StorageError as e:
                    return _storage_err(e)
            return run

        def send(_store, request):
            path, body = request.path, bytes(request.body)
            denial = policy.check_path(path) or policy.check_request_body(len(body))
            if denial:
                return wc.Variant("denied", denial)
            headers, denial = policy.filter_headers([tuple(h) for h in request.headers])
            if denial:
                return wc.Variant("denied", denial)
            try:
                r = self.http_send(request.method, path, headers, body)
            except HttpError as e:
                return wc.Variant(e.tag, e.val)
            if len(r.body) > policy.MAX_RESPONSE_BYTES:
                return wc.Variant("response-too-large", policy.MAX_RESPONSE_BYTES)
            out = wc.Record()
            out.status = r.status
            out.headers = [(k.lower(), v) for k, v in r.headers]
            out.body = bytes(r.body)
            return out

        def get_many(keys):
            if len(keys) > policy.MAX_GET_MANY_KEYS:
                return _too_large(f"get-many of {len(keys)} keys; the host accepts at most {policy.MAX_GET_MANY_KEYS}")
            for k in keys:
                if policy.check_key(k):
                    return _too_large(policy.check_key(k))
            return storage.get_many(keys)

        def set_(key, value):
            denial = policy.check_key(key) or policy.check_value(key, len(value))
            if denial:
                return _too_large(denial)
            storage.write([("set", key, bytes(value))])

        def delete(key):
            if policy.check_key(key):
                return _too_large(policy.check_key(key))
            storage.write([("delete", key)])

        def write(ops):
            if len(ops) > policy.MAX_WRITE_OPS:
                return _too_large(f"a write of {len(ops)} operations; the host accepts at most {policy.MAX_WRITE_OPS}")
            converted, total = [], 0
            for op in ops:
                # write-op's cases differ by Python class, so wasmtime-py
                # lifts them untagged: set is a (key, value) tuple, delete a key.
                if isinstance(op, tuple):
                    key, value = op
                    denial = policy.check_key(key) or policy.check_value(key, len(value))
                    total += len(key.encode()) + len(value)
                    converted.append(("set", key, bytes(value)))
                else:
                    key = op
                    denial = policy.check_key(key)
                    total += len(key.encode())
                    converted.append(("delete", key))
                if denial:
                    return _too_large(denial)
            if total > policy.MAX_WRITE_BYTES:
                return _too_large(f"a write of {total} bytes; the host accepts at most {policy.MAX_WRITE_BYTES}")
            if converted:
                storage.write(converted)

        def list_(prefix, after, limit):
            denial = policy.check_key(prefix) or (after is not None and policy.check_key(after))
            if denial:
                return _too_large(denial)
            entries, nxt = storage.list(prefix, after, policy.clamp_page(limit))
            page = wc.Record()
            page.entries = entries
            page.next = nxt
            return page

        def count(prefix):
            if policy.check_key(prefix):
                return _too_large(policy.check_key(prefix))
            return storage.count(prefix)

        with linker.root() as root:
            with root.add_instance(names["http"]) as i:
                i.add_func("send", send)
            with root.add_instance(names["storage"]) as i:
                i.add_func("get-many", guarded(get_many))
                i.add_func("set", guarded(set_))
                i.add_func("delete", guarded(delete))
                i.add_func("write", guarded(write))
                i.add_func("list", guarded(list_))
                i.add_func("count", guarded(count))
            with root.add_instance(names["clock"]) as i:
                i.add_func("now", lambda _store: int(self.now()))
            with root.add_instance(names["log"]) as i:
                i.add_func("write", lambda _store, level, message: self.log(level, message))


class Instance:
    """A store and an instance with the imports bound; `call(export, args)`
    takes and gives JSON-shaped WIT values (see `_values`)."""

    def __init__(self, imports: Imports):
        engine, component = compiled()
        names = _interface_names(component, engine)
        self.linker = wc.Linker(engine)
        # WASI for Rust's standard library runtime only, granted empty: no
        # arguments, no environment, no files; stderr kept for trap messages.
        self.linker.add_wasip2()
        imports.link(self.linker, names)
        self.stderr = bytearray()
        self.store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.stderr_custom = self._stderr
        self.store.set_wasi(wasi)
        self.instance = self.linker.instantiate(self.store, component)
        sync = component.get_export_index(names["sync"])
        self.funcs = {}
        self.plans = {}
        for name in _wit.FUNCS:
            func = self.instance.get_func(self.store, component.get_export_index(name, sync))
            ty = func.type(self.store)
            self.funcs[name] = func
            self.plans[name] = ([plan(t) for _, t in ty.params], plan(ty.result))

    def _stderr(self, data) -> None:
        self.stderr += bytes(data)[:4096 - len(self.stderr)]

    def call(self, export: str, args: list) -> Any:
        params, result = self.plans[export]
        raw = self.funcs[export](self.store, *[json_to_wasm(p, a) for p, a in zip(params, args)])
        return wasm_to_json(result, raw)
