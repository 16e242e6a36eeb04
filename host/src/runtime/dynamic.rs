//! Dynamically typed export calls.

use wasmtime::component::Val;
use wasmtime::component::types::{ComponentFunc, ComponentItem};

use super::exports::SYNC_INTERFACE;
use super::{Capabilities, Runtime};
use crate::runtime::error::HostError;

/// Dynamically typed calls, for callers that handle the WIT's values
/// generically from the export's type (the fixture suite reads them from
/// JSON) instead of through the generated Rust types. Same store, limits and
/// error classification as the typed calls above.
impl Runtime {
    /// The type of the `sync` export named `name` (its WIT name, such as
    /// `push` or `drain-retries`); none when there is no such function.
    pub fn export_type(&self, name: &str) -> Option<ComponentFunc> {
        self.exports.named(name)?;
        let component = self.pre.instance_pre().component().component_type();
        let ComponentItem::ComponentInstance(sync) =
            component.get_export(&self.engine, SYNC_INTERFACE)?.ty
        else {
            return None;
        };
        match sync.get_export(&self.engine, name)?.ty {
            ComponentItem::ComponentFunc(func) => Some(func),
            _ => None,
        }
    }

    /// Calls the `sync` export named `name` with `args`, which must match its
    /// [`export_type`](Self::export_type); returns its results.
    pub fn call_dynamic(
        &self,
        caps: &Capabilities,
        name: &str,
        args: &[Val],
    ) -> Result<Vec<Val>, HostError> {
        let (export, index) = self.exports.named(name).ok_or_else(|| {
            HostError::Incompatible(format!("{SYNC_INTERFACE} has no function `{name}`"))
        })?;
        self.call(caps, export, |instance, store| {
            let func = instance
                .get_func(&mut *store, index)
                .ok_or_else(|| wasmtime::format_err!("`{export}` is not a function"))?;
            let mut results = vec![Val::Bool(false); func.ty(&*store).results().len()];
            func.call(&mut *store, args, &mut results)?;
            Ok(results)
        })
    }
}
