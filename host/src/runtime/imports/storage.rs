//! The `storage` import: the component's durable key-value store.
//!
//! Keys and values from the component are checked against the size caps in
//! [`crate::limits`] and page sizes are clamped ([`crate::policy`]) before
//! the injected [`Storage`] backend sees them.

use std::sync::Arc;

use wasmtime::component::Linker;

use super::guest_errors;
use crate::ports::storage::{Storage, StorageError, WriteOp};
use crate::runtime::bindings::wit_storage;
use crate::{limits, policy};

/// A store's data that can lend the `storage` import its per-call context.
pub trait StorageState {
    /// The `storage` context of this call.
    fn storage(&mut self) -> &mut StorageCtx;
}

/// Per-call state of the `storage` import.
pub struct StorageCtx {
    /// The ledger the component reads and writes.
    pub backend: Arc<dyn Storage>,
}

/// The borrowed view that implements the generated `Host` trait.
pub(crate) struct StorageView<'a>(pub &'a mut StorageCtx);

/// `HasData` marker for [`StorageView`].
pub(crate) struct StorageData;
impl wasmtime::component::HasData for StorageData {
    type Data<'a> = StorageView<'a>;
}

fn too_large(text: String) -> StorageError {
    StorageError::TooLarge(text)
}

impl wit_storage::Host for StorageView<'_> {
    fn get_many(&mut self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        if keys.len() > limits::MAX_GET_MANY_KEYS {
            return Err(too_large(format!(
                "get-many of {} keys; the host accepts at most {}",
                keys.len(),
                limits::MAX_GET_MANY_KEYS
            )));
        }
        for k in &keys {
            policy::check_key(k).map_err(too_large)?;
        }
        self.0.backend.get_many(&keys)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), StorageError> {
        policy::check_key(&key).map_err(too_large)?;
        policy::check_value(&key, value.len()).map_err(too_large)?;
        self.0.backend.set(&key, &value)
    }

    fn delete(&mut self, key: String) -> Result<(), StorageError> {
        policy::check_key(&key).map_err(too_large)?;
        self.0.backend.delete(&key)
    }

    fn write(&mut self, ops: Vec<wit_storage::WriteOp>) -> Result<(), StorageError> {
        if ops.len() > limits::MAX_WRITE_OPS {
            return Err(too_large(format!(
                "a write of {} operations; the host accepts at most {}",
                ops.len(),
                limits::MAX_WRITE_OPS
            )));
        }
        let mut bytes = 0usize;
        let mut converted = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                wit_storage::WriteOp::Set((k, v)) => {
                    policy::check_key(&k).map_err(too_large)?;
                    policy::check_value(&k, v.len()).map_err(too_large)?;
                    bytes += k.len() + v.len();
                    converted.push(WriteOp::Set(k, v));
                }
                wit_storage::WriteOp::Delete(k) => {
                    policy::check_key(&k).map_err(too_large)?;
                    bytes += k.len();
                    converted.push(WriteOp::Delete(k));
                }
            }
        }
        if bytes > limits::MAX_WRITE_BYTES {
            return Err(too_large(format!(
                "a write of {bytes} bytes; the host accepts at most {}",
                limits::MAX_WRITE_BYTES
            )));
        }
        if converted.is_empty() {
            return Ok(());
        }
        self.0.backend.write(converted)
    }

    fn list(
        &mut self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<wit_storage::Page, StorageError> {
        policy::check_key(&prefix).map_err(too_large)?;
        if let Some(a) = &after {
            policy::check_key(a).map_err(too_large)?;
        }
        let page = self
            .0
            .backend
            .list(&prefix, after.as_deref(), policy::clamp_page(limit))?;
        Ok(wit_storage::Page {
            entries: page.entries,
            next: page.next,
        })
    }

    fn count(&mut self, prefix: String) -> Result<u64, StorageError> {
        policy::check_key(&prefix).map_err(too_large)?;
        self.0.backend.count(&prefix)
    }

    fn convert_storage_error(
        &mut self,
        err: StorageError,
    ) -> wasmtime::Result<wit_storage::StorageError> {
        guest_errors::storage_error_for_guest(err)
    }
}

/// Adds the `storage` import to a linker whose store data lends a [`StorageCtx`].
pub fn add_to_linker<T: StorageState + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit_storage::add_to_linker::<T, StorageData>(linker, |s| StorageView(s.storage()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::storage::MemoryStorage;
    use wit_storage::Host as _;

    #[test]
    fn the_view_refuses_oversized_keys_and_clamps_pages() {
        let backend = Arc::new(MemoryStorage::new());
        let mut ctx = StorageCtx {
            backend: backend.clone(),
        };
        let mut view = StorageView(&mut ctx);
        let big = "k".repeat(limits::MAX_KEY_BYTES + 1);
        assert!(matches!(
            view.get_many(vec![big.clone()]),
            Err(StorageError::TooLarge(_))
        ));
        assert!(matches!(
            view.write(vec![
                wit_storage::WriteOp::Set(("ok".into(), vec![])),
                wit_storage::WriteOp::Delete(big)
            ]),
            Err(StorageError::TooLarge(_))
        ));
        // Nothing of the refused write was applied.
        assert_eq!(backend.get("ok").unwrap(), None);
        for i in 0..3 {
            view.set(format!("p/{i}"), vec![]).unwrap();
        }
        let page = view.list("p/".into(), None, 0).unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.next.as_deref(), Some("p/0"));
    }
}
