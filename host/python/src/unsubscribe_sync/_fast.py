"""Speed-ups for wasmtime-py 50's component values, applied once on import.

wasmtime-py (50.x) re-reads every WIT type through the C API on every
import call and export call (a record's fields, a variant's cases, a list's
element: thousands of FFI calls per push) and moves a `list<u8>` one
byte-sized value at a time. Measured: about 4.5 ms per push, of which most
is that. Here:

- type objects are immutable, so each property that reads a type part
  through the C API keeps its answer on the object;
- a function's type is read once per function (export) or per import;
- `list<u8>` is moved as one block: a C `wasmtime_component_val_t` array
  whose `u8` members are read or written with one strided slice.

Each patch checks what it replaces and is skipped when wasmtime-py changed
(then the kit is only slower). The values are unchanged: the fixture suite
runs with these in place.
"""
from __future__ import annotations

import ctypes
from ctypes import byref

from wasmtime import _ffi as ffi
from wasmtime.component import _func, _linker, _types

_applied = False


def _memo_property(cls, name: str) -> None:
    prop = cls.__dict__.get(name)
    if not isinstance(prop, property):
        return
    fget, key = prop.fget, "_usync_" + name

    def get(self):
        d = self.__dict__
        if key not in d:
            d[key] = fget(self)
        return d[key]

    setattr(cls, name, property(get, doc=prop.__doc__))


def _memo_method(cls, name: str) -> None:
    f = cls.__dict__.get(name)
    if not callable(f):
        return
    key = "_usync_" + name

    def m(self):
        d = self.__dict__
        if key not in d:
            d[key] = f(self)
        return d[key]

    setattr(cls, name, m)


_VAL = ctypes.sizeof(ffi.wasmtime_component_val_t)
_OF = ffi.wasmtime_component_val_t.of.offset
_U8 = ffi.WASMTIME_COMPONENT_U8.value


def _patch_bytes() -> None:
    list_type = _types.ListType
    slow_from, slow_to = list_type.convert_from_c, list_type.convert_to_c

    def convert_from_c(self, c):
        if not self._is_bytes():
            return slow_from(self, c)
        n = c.of.list.size
        try:
            return ctypes.string_at(c.of.list.data, n * _VAL)[_OF::_VAL] if n else b""
        finally:
            ffi.wasmtime_component_vallist_delete(byref(c.of.list))

    def convert_to_c(self, store, val, ptr):
        if not self._is_bytes():
            return slow_to(self, store, val, ptr)
        if not isinstance(val, (bytes, bytearray)):
            raise TypeError("expected bytes value")
        n = len(val)
        raw = ffi.wasmtime_component_vallist_t()
        ffi.wasmtime_component_vallist_new_uninit(raw, n)
        if n:
            block = bytearray(n * _VAL)
            block[0::_VAL] = bytes([_U8]) * n
            block[_OF::_VAL] = val
            ctypes.memmove(raw.data, bytes(block), n * _VAL)
        ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
        ptr.contents.of.list = raw

    list_type.convert_from_c = convert_from_c
    list_type.convert_to_c = convert_to_c


def _patch_import_calls() -> None:
    # The trampoline every import goes through (wasmtime/component/_linker.py
    # `func_impl`), with the import's type read once per import instead of
    # once per call. `add_func` passes the module's `func_impl`, so this must
    # be in place before the kit links its imports.
    signatures = {}
    functions, catch_exceptions, func_type = _linker.FUNCTIONS, _linker.catch_exceptions, _types.FuncType

    @ffi.wasmtime_component_func_callback_t
    def func_impl(idx, context, ty_raw, args, nargs, results, nresults):  # type: ignore
        def run(store):
            sig = signatures.get(idx)
            if sig is None:
                fty = func_type._from_ptr(ty_raw, owner=store)
                sig = signatures[idx] = ([ty for _, ty in fty.params], fty.result)
            param_tys, result_ty = sig
            pyargs = [ty.convert_from_c(args[i]) for ty, i in zip(param_tys, range(nargs))]
            result = functions.get(idx or 0)(store, *pyargs)
            if result_ty is None:
                assert result is None
            else:
                result_ty.convert_to_c(store, result, results)
        return catch_exceptions(context, run)

    _linker.func_impl = func_impl


def _patch_export_type() -> None:
    slow = _func.Func.type

    def type_(self, store):
        d = self.__dict__
        if "_usync_type" not in d:
            d["_usync_type"] = slow(self, store)
        return d["_usync_type"]

    _func.Func.type = type_


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    for cls, name in [(_types.ListType, "element"), (_types.RecordType, "fields"), (_types.TupleType, "elements"),
                      (_types.VariantType, "cases"), (_types.OptionType, "payload"), (_types.ResultType, "ok"),
                      (_types.ResultType, "err"), (_types.EnumType, "names"), (_types.FlagsType, "names"),
                      (_types.FuncType, "params"), (_types.FuncType, "result")]:
        _memo_property(cls, name)
    for cls in (_types.VariantType, _types.OptionType, _types.ResultType):
        _memo_method(cls, "_cases")
        if "_tagged" not in cls.__dict__:
            setattr(cls, "_tagged", _types.VariantLikeType._tagged)
        _memo_method(cls, "_tagged")
    _memo_method(_types.ListType, "_is_bytes")
    if hasattr(_types.ListType, "convert_from_c") and hasattr(ffi, "wasmtime_component_vallist_new_uninit"):
        _patch_bytes()
    if hasattr(_linker, "func_impl") and hasattr(_linker, "FUNCTIONS"):
        _patch_import_calls()
    if hasattr(_func.Func, "type"):
        _patch_export_type()
