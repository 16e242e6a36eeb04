"""The kit's example: a pre-flight check, one push and the status against an
org. Run against the bundled emulator:

    cargo run -p sf-emulator -- --seed tests/sf-emulator/examples/org.json --port 8080
    python -m unsubscribe_sync.example http://127.0.0.1:8080
"""
import sys
import time

from unsubscribe_sync import Ok, OrgConfig, UnsubscribeEvent, UnsubscribeSync, default_settings


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    sync = UnsubscribeSync(
        org=OrgConfig(login_url=base, api_version="62.0", client_id="emulator-client",
                      client_secret="emulator-secret", refresh_token="emulator-refresh-token"),
        storage_path="ledger.db",
    )
    settings = default_settings()

    check = sync.check(settings)
    print("check passed:", isinstance(check, Ok) and check.val.passed)

    pushed = sync.push(settings, UnsubscribeEvent(person_id="ada", salesforce_id="00Q5e00000AbCdEEAV",
                                                  email="a@x.com", source="link",
                                                  occurred_at=None, received_at=time.time_ns() // 1_000_000))
    print("push:", pushed.val.tag if isinstance(pushed, Ok) else pushed.val)

    status = sync.status(settings)
    if isinstance(status, Ok):
        print("held:", status.val.held)
    sync.close()


if __name__ == "__main__":
    main()
