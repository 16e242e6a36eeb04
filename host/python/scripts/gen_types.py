#!/usr/bin/env python3
"""Generates src/unsubscribe_sync/_wit.py from the WIT `sync` interface.

    python scripts/gen_types.py [wit-dir]

The kit's typed API (dataclasses, Literal enums, the exports' signatures) is
derived from the contract, so a WIT change reaches Python by re-running this
(`scripts/prepare.py` does, before every build and test). The generated
module also carries the type table the value conversions walk.
"""
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KIT = HERE.parent
PRIMS = {"bool", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64",
         "f32", "f64", "char", "string"}


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", text)


def split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [a.strip() for a in out]


def parse_type(s):
    s = s.strip()
    if s == "_":
        return None
    m = re.fullmatch(r"([a-z%][a-z0-9-]*)\s*(?:<(.*)>)?", s, re.S)
    if not m:
        raise ValueError(f"type {s!r}")
    name, inner = m.group(1).lstrip("%"), m.group(2)
    if inner is None:
        if name == "result":
            return ("result", None, None)
        return ("prim", name) if name in PRIMS else ("ref", name)
    args = split_top(inner)
    if name == "option":
        return ("option", parse_type(args[0]))
    if name == "list":
        return ("list", parse_type(args[0]))
    if name == "tuple":
        return ("tuple", tuple(parse_type(a) for a in args))
    if name == "result":
        return ("result", parse_type(args[0]), parse_type(args[1]) if len(args) > 1 else None)
    raise ValueError(f"type {s!r}")


def interface_body(text, name):
    m = re.search(r"\binterface\s+" + name + r"\s*\{", text)
    if not m:
        return None
    depth, i = 1, m.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[m.end():i - 1]


def parse_sync(wit_dir):
    for path in sorted(Path(wit_dir).glob("*.wit")):
        body = interface_body(strip_comments(path.read_text()), "sync")
        if body is not None:
            break
    else:
        raise SystemExit(f"no `interface sync` in {wit_dir}")
    types, funcs = {}, {}
    for m in re.finditer(r"\b(record|variant|enum)\s+([a-z%][a-z0-9-]*)\s*\{(.*?)\}", body, re.S):
        kind, name, inner = m.group(1), m.group(2).lstrip("%"), m.group(3)
        items = [i for i in split_top(inner) if i]
        if kind == "record":
            types[name] = ("record", tuple((f.split(":", 1)[0].strip().lstrip("%"), parse_type(f.split(":", 1)[1])) for f in items))
        elif kind == "variant":
            cases = []
            for it in items:
                cm = re.fullmatch(r"([a-z%][a-z0-9-]*)\s*(?:\((.*)\))?", it, re.S)
                cases.append((cm.group(1).lstrip("%"), parse_type(cm.group(2)) if cm.group(2) else None))
            types[name] = ("variant", tuple(cases))
        else:
            types[name] = ("enum", tuple(i.lstrip("%") for i in items))
    for m in re.finditer(r"\btype\s+([a-z%][a-z0-9-]*)\s*=\s*([^;]+);", body):
        types[m.group(1).lstrip("%")] = ("alias", parse_type(m.group(2)))
    for m in re.finditer(r"([a-z%][a-z0-9-]*)\s*:\s*func\s*\((.*?)\)\s*(?:->\s*([^;]+))?;", body, re.S):
        params = tuple((p.split(":", 1)[0].strip().lstrip("%"), parse_type(p.split(":", 1)[1])) for p in split_top(m.group(2)))
        funcs[m.group(1).lstrip("%")] = (params, parse_type(m.group(3)) if m.group(3) else None)
    return types, funcs


def pascal(kebab):
    return "".join(p[:1].upper() + p[1:] for p in kebab.split("-"))


def snake(kebab):
    s = kebab.replace("-", "_")
    return s + "_" if s in {"import", "from", "class", "def", "global", "type"} else s


PY_PRIM = {"bool": "bool", "string": "str", "char": "str", "f32": "float", "f64": "float"}


def py_type(t, types, results_ok=None):
    kind = t[0]
    if kind == "prim":
        return PY_PRIM.get(t[1], "int")
    if kind == "ref":
        return pascal(t[1])
    if kind == "option":
        return f"Optional[{py_type(t[1], types)}]"
    if kind == "list":
        return f"List[{py_type(t[1], types)}]"
    if kind == "tuple":
        return f"Tuple[{', '.join(py_type(x, types) for x in t[1])}]"
    if kind == "result":
        ok = "None" if t[1] is None else py_type(t[1], types)
        err = "None" if t[2] is None else py_type(t[2], types)
        return f"Union[Ok[{ok}], Err[{err}]]"
    raise ValueError(t)


def order(types):
    """Type names so that every record's field types come first (dataclass
    annotations are strings, so only readability is at stake)."""
    return list(types)


def generate(wit_dir):
    types, funcs = parse_sync(wit_dir)
    out = [
        '"""The WIT `sync` interface as Python types. Generated by',
        "scripts/gen_types.py from wit/: do not edit.\"\"\"",
        "from __future__ import annotations",
        "",
        "from dataclasses import dataclass",
        "from typing import Generic, List, Literal, Optional, Tuple, TypeVar, Union",
        "",
        'T = TypeVar("T")',
        'E = TypeVar("E")',
        "",
        "",
        "@dataclass(frozen=True)",
        "class Ok(Generic[T]):",
        '    """The `ok` side of a WIT `result`."""',
        "    val: T = None",
        "",
        "",
        "@dataclass(frozen=True)",
        "class Err(Generic[E]):",
        '    """The `err` side of a WIT `result`."""',
        "    val: E = None",
        "",
    ]
    for name in order(types):
        t = types[name]
        cls = pascal(name)
        out.append("")
        if t[0] == "alias":
            out.append(f"{cls} = {py_type(t[1], types)}")
        elif t[0] == "enum":
            out.append(f"{cls} = Literal[{', '.join(repr(c) for c in t[1])}]")
        elif t[0] == "record":
            out += ["", "@dataclass", f"class {cls}:", f'    """WIT record `{name}`."""']
            for fname, ftype in t[1]:
                out.append(f"    {snake(fname)}: {py_type(ftype, types)}")
        elif t[0] == "variant":
            tags = ", ".join(repr(c) for c, _ in t[1])
            payloads = sorted({py_type(ct, types) for _, ct in t[1] if ct is not None})
            val = "None" if not payloads else f"Union[{', '.join(payloads + ['None'])}]"
            out += ["", "@dataclass(frozen=True)", f"class {cls}:",
                    f'    """WIT variant `{name}`: `tag` names the case, `val` is its payload (None without one)."""',
                    f"    tag: Literal[{tags}]", f"    val: {val} = None"]
    out += ["", "", "# The type table the conversions walk: WIT name -> (kind, details, Python class)."]
    out.append("TYPES = {")
    for name, t in types.items():
        cls = pascal(name) if t[0] in ("record", "variant") else "None"
        if t[0] == "record":
            fields = tuple((f, snake(f), ft) for f, ft in t[1])
            out.append(f"    {name!r}: ('record', {fields!r}, {cls}),")
        else:
            out.append(f"    {name!r}: ({t[0]!r}, {t[1]!r}, {cls}),")
    out.append("}")
    out.append("")
    out.append("# Each export: WIT name -> (parameters (WIT name, Python name, type), result type).")
    out.append("FUNCS = {")
    for name, (params, result) in funcs.items():
        ps = tuple((p, snake(p), pt) for p, pt in params)
        out.append(f"    {name!r}: ({ps!r}, {result!r}),")
    out.append("}")
    return "\n".join(out) + "\n", types, funcs


def main():
    wit_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else KIT.parent.parent / "wit"
    text, _, _ = generate(wit_dir)
    target = KIT / "src" / "unsubscribe_sync" / "_wit.py"
    target.write_text(text)
    print(f"wrote {target.relative_to(KIT)} from {wit_dir}")


if __name__ == "__main__":
    main()
