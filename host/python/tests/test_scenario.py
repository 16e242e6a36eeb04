"""The end-to-end scenario every host runs (tests/scenario/emulator.json):
the kit's real org client (OAuth, urllib3) over loopback to the emulator,
real SQLite, a fixed clock. The expected results are the Rust host's; the
Python kit must get the same."""
import json
from datetime import datetime

from emulator import REPO, emulator
from fixture_runner import call_step, same
from unsubscribe_sync import OrgConfig, UnsubscribeSync


def test_the_emulator_scenario_gives_the_rust_hosts_results(tmp_path):
    scenario = json.loads((REPO / "tests/scenario/emulator.json").read_text())
    clock = [int(datetime.fromisoformat(scenario["clock"].replace("Z", "+00:00")).timestamp() * 1000)]
    with emulator(REPO / scenario["seed"]) as emu:
        sync = UnsubscribeSync(
            org=OrgConfig(login_url=emu.base, api_version="62.0", client_id="emulator-client",
                          client_secret="emulator-secret", refresh_token="emulator-refresh-token", timeout_s=10,
                          ca_file=emu.ca_file),
            storage_path=str(tmp_path / "ledger.db"), now=lambda: clock[0], log=lambda level, msg: None)
        try:
            for i, step in enumerate(scenario["steps"]):
                clock[0] += step.get("advance-clock-ms", 0)
                got = call_step(sync, step, scenario["settings"], lambda ms: clock.__setitem__(0, clock[0] + ms))
                assert same(got, step["expect"]), (f"step {i} ({step['call']}): result differs\n"
                                                   f"  expected {json.dumps(step['expect'])}\n  got      {json.dumps(got)}")
            for record_id, fields in scenario["records-after"].items():
                record = emu.admin("GET", f"record/{record_id}")
                for field, want in fields.items():
                    assert same(record[field], want), f"{record_id}.{field}: expected {want}, is {record[field]}"
        finally:
            sync.close()
