"""Starts the bundled Salesforce emulator (the `sf-emulator` binary cargo
builds: SF_EMULATOR, or target/debug/sf-emulator) on a free loopback port,
over HTTPS as Salesforce is: it makes a CA for the run and writes it where
the client under test is told to trust it (`OrgConfig.ca_file`)."""
import json
import os
import re
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import urllib3

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Emulator:
    #: `https://127.0.0.1:PORT`: the login URL and the instance.
    base: str
    #: The PEM file of the CA that signed the emulator's certificate.
    ca_file: str

    def admin(self, method: str, path: str):
        """Calls `/__admin/{path}` and returns its JSON answer."""
        pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=self.ca_file)
        return json.loads(pool.request(method, f"{self.base}/__admin/{path}").data)


@contextmanager
def emulator(seed: Path):
    binary = os.environ.get("SF_EMULATOR", str(REPO / "target/debug/sf-emulator"))
    if not Path(binary).is_file():
        raise RuntimeError(f"no emulator at {binary}: run `cargo build -p sf-emulator` (or set SF_EMULATOR)")
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = str(Path(tmp) / "emulator-ca.pem")
        child = subprocess.Popen([binary, "--seed", str(seed), "--port", "0", "--tls", "--ca-out", ca_file,
                                  "--exit-on-stdin-close"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = child.stdout.readline().strip()
            m = re.fullmatch(r"listening on (https://\S+)", line)
            if not m:
                raise RuntimeError(f"unexpected emulator output: {line!r}")
            yield Emulator(base=m.group(1), ca_file=ca_file)
        finally:
            child.stdin.close()
            child.terminate()
            child.wait(timeout=10)
