//! Reads a stopped service's SQLite file: the component's ledger through its
//! own exports (`audit`, `status`, run in-process on the real file: tens of
//! thousands of trails in seconds, where one CLI process per person would
//! take many minutes), and `serve`'s inbox and dead letters.

use std::path::Path;
use std::sync::Arc;

use unsubscribe_sync::backends::inbox::Inbox;
use unsubscribe_sync::{Capabilities, NullLog, SqliteStorage, StaticResponder, api};

/// The component's ledger in one SQLite file. Open it only while no
/// process runs the component on the same file.
pub struct Ledger {
    caps: Capabilities,
}

impl Ledger {
    /// Opens the file. No request can reach an org: `audit` and `status`
    /// never send one, and anything else would get a 599.
    pub fn open(db: &Path) -> Ledger {
        let storage = Arc::new(SqliteStorage::open(db).expect("the ledger opens"));
        let mut caps = Capabilities::new(Arc::new(StaticResponder::new(599, Vec::new())), storage);
        caps.log = Arc::new(NullLog);
        Ledger { caps }
    }

    /// One person's audit trail.
    pub fn audit(&self, person_id: &str) -> Option<api::AuditTrail> {
        super::plugin_runtime()
            .audit(&self.caps, person_id)
            .expect("audit runs")
            .expect("audit answers")
    }

    /// The ledger's counts and the last nightly report.
    pub fn status(&self) -> api::StatusReport {
        super::plugin_runtime()
            .status(&self.caps, &super::settings())
            .expect("status runs")
            .expect("status answers")
    }
}

/// `serve`'s inbox in the file: events waiting, events dead-lettered.
pub fn inbox_counts(db: &Path) -> (u64, u64) {
    let inbox = Inbox::open(db).expect("the inbox opens");
    (
        inbox.depth().expect("inbox depth"),
        inbox.dead_count().expect("dead letters"),
    )
}
