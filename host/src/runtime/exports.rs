//! The component's `sync` exports, found once by name when the runtime is
//! built, so a call only type-checks the one function it calls.

use wasmtime::component::ComponentExportIndex;

use super::error::HostError;

/// The `sync` exports, looked up once: a call then type-checks only the
/// function it calls, not all eleven (as the generated `instantiate` does).
pub(super) struct Exports {
    pub validate_settings: ComponentExportIndex,
    pub push: ComponentExportIndex,
    pub push_many: ComponentExportIndex,
    pub resubscribe: ComponentExportIndex,
    pub import: ComponentExportIndex,
    pub nightly: ComponentExportIndex,
    pub report_items: ComponentExportIndex,
    pub next_nightly: ComponentExportIndex,
    pub check: ComponentExportIndex,
    pub status: ComponentExportIndex,
    pub audit: ComponentExportIndex,
    pub drain_retries: ComponentExportIndex,
}

/// The exported interface's name.
pub(super) const SYNC_INTERFACE: &str = "unsubscribe-sync:salesforce/sync@0.2.0";

impl Exports {
    pub(super) fn resolve(
        component: &wasmtime::component::Component,
    ) -> Result<Exports, HostError> {
        let sync = component
            .get_export_index(None, SYNC_INTERFACE)
            .ok_or_else(|| {
                HostError::Incompatible(format!("the component does not export {SYNC_INTERFACE}"))
            })?;
        let f = |name: &str| {
            component
                .get_export_index(Some(&sync), name)
                .ok_or_else(|| {
                    HostError::Incompatible(format!(
                        "the component's {SYNC_INTERFACE} has no function `{name}`"
                    ))
                })
        };
        Ok(Exports {
            validate_settings: f("validate-settings")?,
            push: f("push")?,
            push_many: f("push-many")?,
            resubscribe: f("resubscribe")?,
            import: f("import")?,
            nightly: f("nightly")?,
            report_items: f("report-items")?,
            next_nightly: f("next-nightly")?,
            check: f("check")?,
            status: f("status")?,
            audit: f("audit")?,
            drain_retries: f("drain-retries")?,
        })
    }
}

impl Exports {
    /// The export's WIT name as a `'static` (error values carry it) and its
    /// index, for a call by name.
    pub(super) fn named(&self, name: &str) -> Option<(&'static str, &ComponentExportIndex)> {
        Some(match name {
            "validate-settings" => ("validate-settings", &self.validate_settings),
            "push" => ("push", &self.push),
            "push-many" => ("push-many", &self.push_many),
            "resubscribe" => ("resubscribe", &self.resubscribe),
            "import" => ("import", &self.import),
            "nightly" => ("nightly", &self.nightly),
            "report-items" => ("report-items", &self.report_items),
            "next-nightly" => ("next-nightly", &self.next_nightly),
            "check" => ("check", &self.check),
            "status" => ("status", &self.status),
            "audit" => ("audit", &self.audit),
            "drain-retries" => ("drain-retries", &self.drain_retries),
            _ => return None,
        })
    }
}
