"""simple-salesforce, the Python client most integrations use, against the
emulator: it only ever builds `https://` URLs, so it needs the emulator's
HTTPS, with the emulator's CA trusted as a private CA would be (the
session's `verify`), never with verification off."""
import requests
from simple_salesforce import Salesforce

from emulator import REPO, emulator

SEED = REPO / "tests/sf-emulator/examples/org.json"
LEAD = "00Q5e00000AbCdEEAV"


def test_simple_salesforce_reads_and_writes_a_lead_over_https():
    with emulator(SEED) as emu:
        session = requests.Session()
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the
        # environment override a session's `verify`; this session trusts the
        # emulator's CA and nothing the environment says.
        session.trust_env = False
        session.verify = emu.ca_file
        token = session.post(f"{emu.base}/services/oauth2/token", data={
            "grant_type": "refresh_token", "client_id": "emulator-client",
            "client_secret": "emulator-secret", "refresh_token": "emulator-refresh-token",
        }).json()
        sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                        session=session, version="62.0")
        assert sf.base_url.startswith("https://127.0.0.1:"), sf.base_url
        assert sf.Lead.get(LEAD)["Id"] == LEAD
        sf.Lead.update(LEAD, {"HasOptedOutOfEmail": True})
        assert emu.admin("GET", f"record/{LEAD}")["HasOptedOutOfEmail"] is True
