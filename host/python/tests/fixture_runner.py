"""Runs one fixture of tests/fixtures/ (format: tests/fixtures/README.md)
through the kit: `UnsubscribeSync`'s typed methods (arguments and results
converted between the fixture's JSON and the dataclasses), the kit's http
import checks over a scripted transport, its SQLite storage, a fixed clock.
Returns the problems found (none when it passes)."""
from __future__ import annotations

import json
import re
import tempfile
from datetime import datetime
from pathlib import Path

from unsubscribe_sync import HttpError, Response, SqliteStorage, UnsubscribeSync
from unsubscribe_sync import _wit
from unsubscribe_sync._values import json_to_py, py_to_json

_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")


def decode_path(path: str) -> str:
    """`%XX` is a byte, `+` a space, the bytes read as UTF-8."""
    raw = path.encode()
    out, i = bytearray(), 0
    while i < len(raw):
        m = _PCT.match(raw, i) if raw[i] == 0x25 else None
        if m:
            out.append(int(m.group(1), 16))
            i += 3
        else:
            out.append(0x20 if raw[i] == 0x2B else raw[i])
            i += 1
    return out.decode(errors="replace")


def same(a, b) -> bool:
    """JSON equality, numbers by value, object keys in any order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _parse_body(body: bytes):
    text = body.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class ScriptedOrg:
    """Answers from a step's script and notes every deviation."""

    def __init__(self, script):
        self.script = list(script)
        self.problems = []

    def _problem(self, text):
        self.problems.append(text)
        return HttpError("transport", f"fixture: {text}")

    def send(self, method, path, headers, body):
        path = decode_path(path)
        if not self.script:
            raise self._problem(f"unexpected request {method} {path}")
        nxt = self.script.pop(0)
        want = nxt["request"]
        if want["method"] != method or decode_path(want["path"]) != path:
            raise self._problem(f"expected {want['method']} {decode_path(want['path'])}\n      but got {method} {path}")
        if "body-json" in want and not same(_parse_body(body), want["body-json"]):
            raise self._problem(f"{method} {path}: body differs\n      expected {json.dumps(want['body-json'])}\n"
                                f"      got      {body.decode(errors='replace')}")
        if "body-text" in want and body.decode(errors="replace") != want["body-text"]:
            raise self._problem(f"{method} {path}: body differs\n      expected {want['body-text']!r}\n"
                                f"      got      {body.decode(errors='replace')!r}")
        if "body-json" not in want and "body-text" not in want and body:
            raise self._problem(f"{method} {path}: unexpected body")
        if "error" in nxt:
            raise HttpError(nxt["error"]["tag"], nxt["error"].get("val"))
        r = nxt["response"]
        if "body-json" in r:
            data = json.dumps(r["body-json"]).encode()
        else:
            data = r.get("body-text", "").encode()
        return Response(r["status"], [tuple(h) for h in r["headers"]], data)


def _to_bytes(v) -> bytes:
    return v.encode() if isinstance(v, str) else json.dumps(v).encode()


def _from_bytes(b: bytes):
    text = b.decode(errors="replace")
    try:
        v = json.loads(text)
    except ValueError:
        return text
    return text if isinstance(v, str) else v


def _dump(storage):
    out, after = {}, None
    while True:
        entries, nxt = storage.list("", after, 1000)
        for k, v in entries:
            out[k] = _from_bytes(v)
        if nxt is None:
            return out
        after = nxt


def _method(export: str) -> str:
    name = export.replace("-", "_")
    return name + "_" if name == "import" else name


def call_step(sync, step: dict, settings, advance):
    """Makes one step's call through the typed API (repeated as its `repeat`
    says, the clock moved by `advance` as a host sleeps); the last answer as
    WIT JSON."""
    params, result_type = _wit.FUNCS[step["call"]]
    args = step.get("args", {})
    values = [json_to_py(t, args[wit] if wit in args else settings) for wit, _, t in params]
    repeat, calls = step.get("repeat"), 0
    while True:
        calls += 1
        got = py_to_json(result_type, getattr(sync, _method(step["call"]))(*values))
        if (repeat and calls < repeat["max-calls"] and got["tag"] == "ok"
                and isinstance(got.get("val"), dict) and got["val"].get("tag") == repeat["while"]):
            advance(got["val"]["val"][repeat["advance-clock-by"]])
            continue
        return got


def run_fixture(fixture: dict) -> list:
    problems = []
    with tempfile.TemporaryDirectory() as d:
        storage = SqliteStorage(str(Path(d) / "ledger.db"))
        clock = [int(datetime.fromisoformat(fixture["clock"].replace("Z", "+00:00")).timestamp() * 1000)]
        org = [ScriptedOrg([])]
        sync = UnsubscribeSync(http_send=lambda *a: org[0].send(*a), storage=storage,
                               now=lambda: clock[0], log=lambda level, msg: None)
        try:
            storage.write([("set", k, _to_bytes(v)) for k, v in fixture.get("storage-before", {}).items()])
            for i, step in enumerate(fixture["steps"]):
                clock[0] += step.get("advance-clock-ms", 0)
                org[0] = ScriptedOrg(step.get("http", []))
                if step["call"] not in _wit.FUNCS:
                    problems.append(f"step {i}: no export {step['call']}")
                    continue
                try:
                    got = call_step(sync, step, fixture["settings"], lambda ms: clock.__setitem__(0, clock[0] + ms))
                except Exception as e:  # a trap: the fixture fails, the others go on
                    problems.append(f"step {i}: host error: {e}")
                    continue
                problems += [f"step {i}: {p}" for p in org[0].problems]
                if org[0].script:
                    first = org[0].script[0]["request"]
                    problems.append(f"step {i}: {len(org[0].script)} expected request(s) never sent, "
                                    f"first {first['method']} {first['path']}")
                if not same(got, step["expect"]):
                    problems.append(f"step {i}: result differs\n      expected {json.dumps(step['expect'])}\n"
                                    f"      got      {json.dumps(got)}")
            after, want = _dump(storage), fixture["storage-after"]
            lines = [f"      missing {k} = {json.dumps(v)}" for k, v in want.items() if k not in after]
            lines += [f"      {k}\n        expected {json.dumps(v)}\n        got      {json.dumps(after[k])}"
                      for k, v in want.items() if k in after and not same(after[k], v)]
            lines += [f"      unexpected {k} = {json.dumps(v)}" for k, v in after.items() if k not in want]
            if lines:
                problems.append("storage after differs:\n" + "\n".join(lines))
        finally:
            sync.close()
            storage.close()
    return problems
