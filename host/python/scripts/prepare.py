#!/usr/bin/env python3
"""Puts into src/unsubscribe_sync/ what the package ships besides its code:
the component (the cargo-built `.wasm`: UNSUBSCRIBE_SYNC_WASM, or the path
`.ci/run` builds it at) and `_wit.py`, the types generated from wit/. Run it
before building the wheel or running the tests."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
REPO = KIT.parent.parent
candidates = [p for p in (os.environ.get("UNSUBSCRIBE_SYNC_WASM"),
                          str(REPO / "target/guest/wasm32-wasip2/guest/unsubscribe_sync_plugin.wasm")) if p]
wasm = next((Path(p) for p in candidates if Path(p).is_file()), None)
if wasm is None:
    sys.exit(f"no component found (tried {', '.join(candidates)}); build it first:\n"
             "  CARGO_TARGET_DIR=target/guest cargo build -p unsubscribe-sync-plugin --target wasm32-wasip2 --profile guest")
shutil.copyfile(wasm, KIT / "src/unsubscribe_sync/unsubscribe_sync_plugin.wasm")
subprocess.run([sys.executable, str(KIT / "scripts/gen_types.py"), str(REPO / "wit")], check=True)
print(f"copied the component from {wasm}")
