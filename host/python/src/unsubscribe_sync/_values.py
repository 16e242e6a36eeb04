"""WIT values in three forms, and the conversions between them.

- *JSON*: the shape of tests/fixtures/README.md (jco's): records as dicts
  keyed by kebab-case field names, variants and results `{"tag", "val"}`,
  enums strings, options None or the value.
- *Python*: the generated dataclasses of `_wit` (snake_case fields, `Ok`/`Err`
  for results), walked with the WIT type table `_wit.TYPES`.
- *wasmtime-py*: what `wasmtime.component` lowers and lifts (`Record`
  objects, `Variant` only where a variant's cases are not told apart by their
  Python classes). Walked with a plan compiled once from the export's
  wasmtime types: reading those types goes through the C API, too slow to
  repeat on every call.
"""
from __future__ import annotations

from typing import Any

from wasmtime import component as wc

from . import _wit

# ------------------------------------------------------------ Python <-> JSON


def _resolve(t):
    while t[0] == "ref":
        entry = _wit.TYPES[t[1]]
        if entry[0] == "alias":
            t = entry[1]
        else:
            return entry
    return t


def py_to_json(t, v: Any) -> Any:
    """A Python value of WIT type `t` (a `_wit` type expression) as JSON."""
    r = _resolve(t)
    kind = r[0]
    if kind in ("prim", "enum"):
        return v
    if kind == "option":
        return None if v is None else py_to_json(r[1], v)
    if kind == "list":
        return [py_to_json(r[1], x) for x in v]
    if kind == "tuple":
        return [py_to_json(tt, x) for tt, x in zip(r[1], v)]
    if kind == "record":
        return {wit: py_to_json(ft, getattr(v, py)) for wit, py, ft in r[1]}
    if kind == "variant":
        ct = dict(r[1])[v.tag]
        return {"tag": v.tag} if ct is None else {"tag": v.tag, "val": py_to_json(ct, v.val)}
    if kind == "result":
        tag, ct = ("ok", r[1]) if isinstance(v, _wit.Ok) else ("err", r[2])
        return {"tag": tag} if ct is None else {"tag": tag, "val": py_to_json(ct, v.val)}
    raise TypeError(f"no JSON form for {t}")


def json_to_py(t, j: Any) -> Any:
    """JSON of WIT type `t` as the Python value (dataclasses)."""
    r = _resolve(t)
    kind = r[0]
    if kind in ("prim", "enum"):
        return j
    if kind == "option":
        return None if j is None else json_to_py(r[1], j)
    if kind == "list":
        return [json_to_py(r[1], x) for x in j]
    if kind == "tuple":
        return tuple(json_to_py(tt, x) for tt, x in zip(r[1], j))
    if kind == "record":
        return r[2](**{py: json_to_py(ft, j[wit]) for wit, py, ft in r[1]})
    if kind == "variant":
        ct = dict(r[1])[j["tag"]]
        return r[2](j["tag"], None if ct is None else json_to_py(ct, j["val"]))
    if kind == "result":
        cls, ct = (_wit.Ok, r[1]) if j["tag"] == "ok" else (_wit.Err, r[2])
        return cls(None if ct is None else json_to_py(ct, j["val"]))
    raise TypeError(f"no Python form for {t}")


# ------------------------------------------------------ wasmtime-py <-> JSON

_INT = (wc.U8, wc.U16, wc.U32, wc.U64, wc.S8, wc.S16, wc.S32, wc.S64)


def plan(vt) -> tuple:
    """A wasmtime-py ValType as a plain tuple tree (read once)."""
    if isinstance(vt, wc.Bool) or isinstance(vt, _INT) or isinstance(vt, (wc.F32, wc.F64)):
        return ("scalar",)
    if isinstance(vt, (wc.String, wc.Char)):
        return ("scalar",)
    if isinstance(vt, wc.ListType):
        if isinstance(vt.element, wc.U8):
            return ("bytes",)
        return ("list", plan(vt.element))
    if isinstance(vt, wc.RecordType):
        return ("record", tuple((name, plan(t)) for name, t in vt.fields))
    if isinstance(vt, wc.TupleType):
        return ("tuple", tuple(plan(t) for t in vt.elements))
    if isinstance(vt, wc.EnumType):
        return ("scalar",)
    if isinstance(vt, wc.FlagsType):
        return ("flags",)
    if isinstance(vt, (wc.VariantType, wc.OptionType, wc.ResultType)):
        cases = []
        for name, t in vt._cases():
            classes: set = set()
            if t is None:
                classes.add(type(None))
            else:
                t.add_classes(classes)
            cases.append((name, None if t is None else plan(t), tuple(classes)))
        kind = {wc.VariantType: "variant", wc.OptionType: "option", wc.ResultType: "result"}[type(vt)]
        return (kind, vt._tagged(), tuple(cases))
    raise TypeError(f"unsupported WIT type {vt!r}")


def json_to_wasm(p: tuple, j: Any) -> Any:
    kind = p[0]
    if kind == "scalar":
        return j
    if kind == "bytes":
        return bytes(j)
    if kind == "list":
        return [json_to_wasm(p[1], x) for x in j]
    if kind == "tuple":
        return tuple(json_to_wasm(pp, x) for pp, x in zip(p[1], j))
    if kind == "record":
        r = wc.Record()
        for name, pp in p[1]:
            setattr(r, name, json_to_wasm(pp, j[name]))
        return r
    if kind == "flags":
        return set(j)
    tagged, cases = p[1], p[2]
    if kind == "option":
        tag, val = ("none", None) if j is None else ("some", j)
    else:
        tag, val = j["tag"], j.get("val")
    for name, pp, _classes in cases:
        if name == tag:
            payload = None if pp is None else json_to_wasm(pp, val)
            return wc.Variant(tag, payload) if tagged else payload
    raise ValueError(f"no case {tag!r}")


def wasm_to_json(p: tuple, v: Any) -> Any:
    kind = p[0]
    if kind == "scalar":
        return v
    if kind == "bytes":
        return list(v)
    if kind == "list":
        return [wasm_to_json(p[1], x) for x in v]
    if kind == "tuple":
        return [wasm_to_json(pp, x) for pp, x in zip(p[1], v)]
    if kind == "record":
        return {name: wasm_to_json(pp, getattr(v, name)) for name, pp in p[1]}
    if kind == "flags":
        return sorted(v)
    tagged, cases = p[1], p[2]
    if tagged:
        tag, payload = v.tag, v.payload
        pp = next(pp for name, pp, _ in cases if name == tag)
    else:
        # Untagged: the case is the one whose Python classes the value has
        # (wasmtime-py lowers and lifts such variants by class).
        for tag, pp, classes in cases:
            if (pp is None and v is None) or (pp is not None and isinstance(v, classes)):
                break
        else:
            raise ValueError(f"{v!r} matches no case")
        payload = v
    if kind == "option":
        return None if tag == "none" else wasm_to_json(pp, payload)
    return {"tag": tag} if pp is None else {"tag": tag, "val": wasm_to_json(pp, payload)}
