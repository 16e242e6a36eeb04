"""Starts the bundled Salesforce emulator (the `sf-emulator` binary cargo
builds: SF_EMULATOR, or target/debug/sf-emulator) on a free loopback port."""
import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


@contextmanager
def emulator(seed: Path):
    binary = os.environ.get("SF_EMULATOR", str(REPO / "target/debug/sf-emulator"))
    if not Path(binary).is_file():
        raise RuntimeError(f"no emulator at {binary}: run `cargo build -p sf-emulator` (or set SF_EMULATOR)")
    child = subprocess.Popen([binary, "--seed", str(seed), "--port", "0", "--exit-on-stdin-close"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        m = re.fullmatch(r"listening on (http://\S+)", line)
        if not m:
            raise RuntimeError(f"unexpected emulator output: {line!r}")
        yield m.group(1)
    finally:
        child.stdin.close()
        child.terminate()
        child.wait(timeout=10)
