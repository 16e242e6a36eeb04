"""The org client against the emulator over loopback: the token flow, one
refresh and retry on a 401, and the policy refusals before anything is
sent."""
import pytest

from emulator import REPO, emulator
from unsubscribe_sync import HttpError, OrgClient, OrgConfig
from unsubscribe_sync._policy import check_path, filter_headers

SEED = REPO / "tests/sf-emulator/examples/org.json"


def config(emu, ca_file="emulator"):
    return OrgConfig(login_url=emu.base, api_version="62.0", client_id="emulator-client",
                     client_secret="emulator-secret", refresh_token="emulator-refresh-token", timeout_s=5,
                     ca_file=emu.ca_file if ca_file == "emulator" else ca_file)


def test_a_401_refreshes_the_token_once_and_repeats_the_request():
    with emulator(SEED) as emu:
        client = OrgClient(config(emu))
        assert client.send("get", "/services/data/v62.0/limits", [], b"").status == 200
        emu.admin("POST", "expire-tokens")
        again = client.send("get", "/services/data/v62.0/limits", [], b"")
        assert again.status == 200
        assert (client.stats.requests, client.stats.token_refreshes, client.stats.unauthorized) == (3, 2, 1)
        assert any(name == "sforce-limit-info" for name, _ in again.headers)
        with pytest.raises(HttpError) as e:
            client.send("get", "/services/data/v61.0/limits", [], b"")
        assert e.value.tag == "denied"


@pytest.mark.parametrize("path", ["https://evil.example/services/data", "//evil.example/services/",
                                  "/services/../oauth2", "/services/data/%2e%2e/x",
                                  "/services/data/v62.0/sobjects/Lead%2F..", "/services/data/v62.0 /x",
                                  "/other/path", "/services/a@b"])
def test_paths_that_would_leave_the_org_are_refused(path):
    assert check_path(path) is not None


def test_host_owned_headers_are_dropped():
    kept, denial = filter_headers([("Authorization", "x"), ("Content-Type", "application/json"), ("Host", "evil")])
    assert denial is None and kept == [("Content-Type", "application/json")]


def test_over_https_a_certificate_the_client_does_not_trust_is_refused_before_anything_is_sent():
    with emulator(SEED) as emu, emulator(SEED) as other:
        # The default roots, and another run's CA: neither signed this server's certificate.
        for ca_file in (None, other.ca_file):
            with pytest.raises(HttpError) as e:
                OrgClient(config(emu, ca_file)).send("get", "/services/data/v62.0/limits", [], b"")
            assert "certificate" in str(e.value).lower(), e.value
        assert emu.admin("GET", "calls")["token"] == 0
