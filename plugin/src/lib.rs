//! Skeleton (being written): every export answers "not implemented yet".
#![allow(missing_docs)]
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "unsubscribe-sync",
        generate_all,
    });
}
use bindings::exports::unsubscribe_sync::salesforce::sync::*;

struct Component;
fn nyi<T>() -> Result<T, SyncError> {
    Err(SyncError::StorageFailure("not implemented yet".into()))
}
impl Guest for Component {
    fn validate_settings(_s: Settings) -> Result<(), SyncError> { nyi() }
    fn push(_s: Settings, _e: UnsubscribeEvent) -> Result<PushOutcome, SyncError> { nyi() }
    fn resubscribe(_s: Settings, _e: ResubscribeEvent) -> Result<ResubscribeOutcome, SyncError> { nyi() }
    fn import(_s: Settings, _e: Vec<UnsubscribeEvent>) -> Result<ImportSummary, SyncError> { nyi() }
    fn nightly(_s: Settings, _o: NightlyOptions) -> Result<NightlyOutcome, SyncError> { nyi() }
    fn report_items(_r: String, _a: Option<String>, _l: u32) -> Result<ReportPage, SyncError> { nyi() }
    fn next_nightly(_s: Schedule, _a: Timestamp) -> Result<Timestamp, SyncError> { nyi() }
    fn check(_s: Settings) -> Result<CheckReport, SyncError> { nyi() }
    fn status(_s: Settings) -> Result<StatusReport, SyncError> { nyi() }
    fn audit(_p: String) -> Result<Option<AuditTrail>, SyncError> { nyi() }
    fn drain_retries(_s: Settings, _m: u32) -> Result<DrainSummary, SyncError> { nyi() }
}
#[allow(unsafe_code)]
mod export {
    use super::*;
    bindings::export!(Component with_types_in bindings);
}
