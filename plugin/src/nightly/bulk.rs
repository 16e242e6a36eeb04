//! The Bulk API 2.0 path of the nightly, for objects holding many unsubscribes.

use serde::{Deserialize, Serialize};

use crate::model::{SObject, Settings, SyncError};
use crate::nightly::StepError;
use crate::nightly::state::RunState;
use crate::ports::Ports;
use crate::salesforce::api::OrgApi;

/// Where the Bulk path of one object is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkState {
    /// The object.
    pub object: SObject,
}

impl BulkState {
    /// A fresh state for an object.
    pub fn new(object: SObject) -> Self {
        BulkState { object }
    }

    /// What it is doing, for progress displays.
    pub fn describe(&self) -> String {
        "bulk".into()
    }
}

/// Whether the run should use Bulk API 2.0 for `object`.
pub fn should_use(
    _settings: &Settings,
    _object: SObject,
    _ports: Ports<'_>,
) -> Result<bool, SyncError> {
    // The Bulk path is not built yet: every object uses REST collections.
    Ok(false)
}

/// One step of the Bulk path.
pub(crate) fn step(
    _state: &mut RunState,
    _settings: &Settings,
    _object: SObject,
    _api: &mut OrgApi<'_>,
    _ports: Ports<'_>,
) -> Result<u64, StepError> {
    unreachable!("should_use never selects the Bulk path yet")
}
