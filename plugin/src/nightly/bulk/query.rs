//! The Bulk query of the records already opted out: kept as a sorted set of
//! compact IDs in storage (the skip set), so the job writes only the others.

use super::{
    Phase, RESULTS_PAGE_ROWS, SKIP_CHUNK, blob_prefix, bulk_state, fall_back, poll_again, save,
    wait_for,
};
use crate::ledger;
use crate::model::{SObject, StopReason, SyncError};
use crate::nightly::state::RunState;
use crate::nightly::{Interrupt, StepError, interrupt};
use crate::ports::{Level, Ports, WriteOp};
use crate::salesforce::api::OrgApi;
use crate::salesforce::bulk as api_bulk;
use crate::sfid;

/// Starts the Bulk query of the records already opted out.
pub(super) fn start(
    state: &mut RunState,
    object: SObject,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    api.check_budget(3)
        .map_err(|m| Interrupt::Stop(StopReason::Budget(m)))?;
    let job = api_bulk::create_query_job(api, &skip_query(object, &state.fields_for(object)))
        .map_err(|e| interrupt(e, object, &state.fields))?;
    ports.log.write(
        Level::Info,
        &format!(
            "Bulk read {job} of opted-out {}s started",
            object.api_name()
        ),
    );
    let b = bulk_state(state);
    b.phase = Phase::PollQuery { job };
    b.polls = 0;
    save(state, Vec::new(), ports)?;
    Err(StepError::Wait(wait_for(0)))
}

/// Polls the query job; stores its results as the skip set when done.
pub(super) fn poll(
    state: &mut RunState,
    object: SObject,
    job: &str,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    let info = api_bulk::query_job(api, job).map_err(|e| interrupt(e, object, &state.fields))?;
    if !info.is_final() {
        return Err(poll_again(state, ports)?);
    }
    if info.state != "JobComplete" {
        let why = format!(
            "Bulk read {job} {}: {}",
            info.state,
            info.error_message.unwrap_or_default()
        );
        fall_back(state, object, &why, ports)?;
        return Ok(0);
    }
    store_skip_set(state, object, job, api, ports)?;
    // The build streams the whole index: it gets a fresh call of its own.
    Err(StepError::Wait(0))
}

/// `SELECT Id FROM <object> WHERE <every field> = true [AND IsConverted = false]`.
pub(super) fn skip_query(object: SObject, fields: &[String]) -> String {
    let mut conditions: Vec<String> = fields.iter().map(|f| format!("{f} = true")).collect();
    if object == SObject::Lead {
        // Converted Leads are written (and fail, and are followed to their
        // Contact) whatever their own checkbox says.
        conditions.push("IsConverted = false".into());
    }
    format!(
        "SELECT Id FROM {} WHERE {}",
        object.api_name(),
        conditions.join(" AND ")
    )
}

/// Fetches the query job's results and stores them as sorted compact IDs.
fn store_skip_set(
    state: &mut RunState,
    object: SObject,
    job: &str,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<(), StepError> {
    let mut ids: Vec<u128> = Vec::new();
    let mut locator: Option<String> = None;
    loop {
        let page = api_bulk::query_results(api, job, locator.as_deref(), RESULTS_PAGE_ROWS)
            .map_err(|e| interrupt(e, object, &state.fields))?;
        api_bulk::read_csv(&page.csv, |headers, record| {
            if let Some(n) = api_bulk::column(headers, record, "Id").and_then(sfid::compact) {
                ids.push(n);
            }
        })
        .map_err(|e| interrupt(e, object, &state.fields))?;
        match page.next {
            Some(next) => locator = Some(next),
            None => break,
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let prefix = blob_prefix(state, object);
    let mut ops = Vec::new();
    let chunks = ids.chunks(SKIP_CHUNK).count() as u32;
    for (i, chunk) in ids.chunks(SKIP_CHUNK).enumerate() {
        let bytes: Vec<u8> = chunk.iter().flat_map(|n| n.to_le_bytes()).collect();
        ops.push(WriteOp::Set(format!("{prefix}skip/{i:04}"), bytes));
    }
    ports.log.write(
        Level::Info,
        &format!(
            "{} {}s are already opted out in Salesforce",
            ids.len(),
            object.api_name()
        ),
    );
    let b = bulk_state(state);
    b.skip_chunks = chunks;
    b.phase = Phase::Build;
    b.polls = 0;
    save(state, ops, ports)?;
    Ok(())
}

pub(super) fn load_skip_set(
    state: &RunState,
    object: SObject,
    ports: Ports<'_>,
) -> Result<Vec<u128>, SyncError> {
    let prefix = blob_prefix(state, object);
    let chunks = state.bulk.as_ref().map_or(0, |b| b.skip_chunks);
    let keys: Vec<String> = (0..chunks)
        .map(|i| format!("{prefix}skip/{i:04}"))
        .collect();
    let mut ids = Vec::new();
    for (key, value) in keys
        .iter()
        .zip(ports.store.get_many(&keys).map_err(ledger::storage_error)?)
    {
        let bytes = value.ok_or_else(|| SyncError::StorageFailure(format!("{key} is missing")))?;
        ids.extend(
            bytes
                .chunks_exact(16)
                .map(|b| u128::from_le_bytes(b.try_into().expect("16 bytes"))),
        );
    }
    Ok(ids)
}
