//! The typed export calls, one method of [`Runtime`] each.

use super::bindings::api;
use super::{Capabilities, Runtime};
use crate::runtime::error::HostError;

/// The export calls, one method each. The outer `Result` is the host's
/// (a trap, the deadline, the memory cap); the inner one is the component's
/// answer, as the WIT declares it.
impl Runtime {
    /// `validate-settings`.
    pub fn validate_settings(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
    ) -> Result<Result<(), api::SyncError>, HostError> {
        self.invoke(
            caps,
            "validate-settings",
            &self.exports.validate_settings,
            (s,),
        )
    }

    /// `push`.
    pub fn push(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        e: &api::UnsubscribeEvent,
    ) -> Result<Result<api::PushOutcome, api::SyncError>, HostError> {
        self.invoke(caps, "push", &self.exports.push, (s, e))
    }

    /// `push-many`: one answer per event, in order.
    pub fn push_many(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        events: &[api::UnsubscribeEvent],
    ) -> Result<Result<Vec<Result<api::PushOutcome, api::SyncError>>, api::SyncError>, HostError>
    {
        self.invoke(caps, "push-many", &self.exports.push_many, (s, events))
    }

    /// `resubscribe`.
    pub fn resubscribe(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        e: &api::ResubscribeEvent,
    ) -> Result<Result<api::ResubscribeOutcome, api::SyncError>, HostError> {
        self.invoke(caps, "resubscribe", &self.exports.resubscribe, (s, e))
    }

    /// `import`.
    pub fn import(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        events: &[api::UnsubscribeEvent],
    ) -> Result<Result<api::ImportSummary, api::SyncError>, HostError> {
        self.invoke(caps, "import", &self.exports.import, (s, events))
    }

    /// `nightly` (one bounded step; call again while `in-progress`).
    pub fn nightly(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        o: &api::NightlyOptions,
    ) -> Result<Result<api::NightlyOutcome, api::SyncError>, HostError> {
        self.invoke(caps, "nightly", &self.exports.nightly, (s, *o))
    }

    /// `report-items`.
    pub fn report_items(
        &self,
        caps: &Capabilities,
        run_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Result<api::ReportPage, api::SyncError>, HostError> {
        self.invoke(
            caps,
            "report-items",
            &self.exports.report_items,
            (run_id, after, limit),
        )
    }

    /// `next-nightly`.
    pub fn next_nightly(
        &self,
        caps: &Capabilities,
        schedule: &api::Schedule,
        after: api::Timestamp,
    ) -> Result<Result<api::Timestamp, api::SyncError>, HostError> {
        self.invoke(
            caps,
            "next-nightly",
            &self.exports.next_nightly,
            (schedule, after),
        )
    }

    /// `check`.
    pub fn check(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
    ) -> Result<Result<api::CheckReport, api::SyncError>, HostError> {
        self.invoke(caps, "check", &self.exports.check, (s,))
    }

    /// `status`.
    pub fn status(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
    ) -> Result<Result<api::StatusReport, api::SyncError>, HostError> {
        self.invoke(caps, "status", &self.exports.status, (s,))
    }

    /// `audit`.
    pub fn audit(
        &self,
        caps: &Capabilities,
        person_id: &str,
    ) -> Result<Result<Option<api::AuditTrail>, api::SyncError>, HostError> {
        self.invoke(caps, "audit", &self.exports.audit, (person_id,))
    }

    /// `drain-retries`.
    pub fn drain_retries(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        max: u32,
    ) -> Result<Result<api::DrainSummary, api::SyncError>, HostError> {
        self.invoke(caps, "drain-retries", &self.exports.drain_retries, (s, max))
    }
}
