"""Cost per push through the Python kit, with the instance reused (the kit's
default) and with a fresh instance per push: the real component and the
kit's imports, HTTP answered in-process (204), SQLite storage in memory. The
counterpart of `unsubscribe-sync bench push` (which uses in-memory storage).
`--json` prints the figures as JSON. A benchmark, not a test."""
import json
import platform
import sys
import time
from importlib import metadata

from unsubscribe_sync import Response, SqliteStorage, UnsubscribeEvent, UnsubscribeSync, default_settings

args = sys.argv[1:]
n = int(args[args.index("-n") + 1]) if "-n" in args else 2000
FRESH = 10

answer = Response(204, [("sforce-limit-info", "api-usage=1/100000")], b"")
sync = UnsubscribeSync(http_send=lambda *request: answer, storage=SqliteStorage(":memory:"), log=lambda l, m: None)
settings = default_settings()


def push(i: int) -> float:
    event = UnsubscribeEvent(person_id=f"bench-{i}", salesforce_id="00Q5e00000AbCdEEAV", email=None, source="bench",
                             occurred_at=1_751_968_800_000 + i, received_at=1_751_968_800_000 + i)
    t = time.perf_counter()
    r = sync.push(settings, event)
    us = (time.perf_counter() - t) * 1e6
    if r.val.tag != "written":
        raise SystemExit(f"push {i}: {r}")
    return us


def series(name, samples):
    s = sorted(samples)
    pick = lambda q: s[round((len(s) - 1) * q)]
    return {"name": name, "samples": len(s), "median_us": pick(0.5), "p90_us": pick(0.9), "p99_us": pick(0.99),
            "mean_us": sum(s) / len(s)}


for i in range(200):
    push(1_000_000_000 + i)
reused = [push(i) for i in range(n)]
fresh = []
for i in range(FRESH):
    sync._instance = None  # as after a trap: the next call instantiates
    fresh.append(push(2_000_000_000 + i))
result = {
    "host": "python",
    "runtime": f"Python {platform.python_version()}, wasmtime-py {metadata.version('wasmtime')}",
    "reused": series("push: one instance reused", reused),
    "fresh": series("push: a fresh instance per push", fresh),
}
if "--json" in args:
    print(json.dumps(result))
else:
    for s in (result["reused"], result["fresh"]):
        print(f"{s['name']}: median {s['median_us']:.1f} us, p90 {s['p90_us']:.1f} us, mean {s['mean_us']:.1f} us "
              f"({s['samples']} pushes)")
