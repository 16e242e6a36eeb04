"""A storage outage while the component reads is the typed `storage-failure`
error, not a trap, in this kit too. (wasmtime-py cannot lower an error for
an import typed `result<option<list<u8>>, E>`, WIT 0.1.0's `storage.get`;
since 0.2.0 the component reads single keys through `get-many`, whose shape
it lowers.)"""
from unsubscribe_sync import (Err, SqliteStorage, StorageError, UnsubscribeEvent, UnsubscribeSync,
                              default_settings)


class FailingReads(SqliteStorage):
    """A real SQLite store whose reads fail as a locked database would."""

    def get_many(self, keys):
        raise StorageError("unavailable", "database is locked")

    def list(self, prefix, after, limit):
        raise StorageError("unavailable", "database is locked")

    def count(self, prefix):
        raise StorageError("unavailable", "database is locked")


def test_failing_reads_answer_storage_failure(tmp_path):
    storage = FailingReads(str(tmp_path / "ledger.db"))
    sent = []
    sync = UnsubscribeSync(http_send=lambda *request: sent.append(request), storage=storage, now=lambda: 1_796_097_600_000)
    event = UnsubscribeEvent(person_id="p1", salesforce_id="00Q5e00000AbCdEEAV", email=None, source="link",
                             occurred_at=1_796_094_000_000, received_at=1_796_097_600_000)
    answer = sync.push(default_settings(), event)
    assert isinstance(answer, Err), answer
    assert answer.val.tag == "storage-failure", answer
    assert sent == [], "nothing may be sent to Salesforce when the ledger cannot be read"
    # The instance survived: the next call answers too.
    assert sync.status(default_settings()).val.tag == "storage-failure"
