//! Building one ingest job: the index streamed from the job's start, records
//! already opted out skipped, the CSV uploaded and the job closed.

use super::query::load_skip_set;
use super::{
    DRY_RUN_ROWS, LINE_CHUNK, MAX_JOB_ROWS, Phase, blob_prefix, bulk_state, delete_skip_ops, save,
    wait_for,
};
use crate::ledger;
use crate::model::{ItemKind, ReportItem, SObject, StopReason, SyncError};
use crate::nightly::report::add_item;
use crate::nightly::state::RunState;
use crate::nightly::{Interrupt, StepError, interrupt};
use crate::ports::{Level, Ports, WriteOp};
use crate::salesforce::api::OrgApi;
use crate::salesforce::bulk::{self as api_bulk, UpdateCsv};
use crate::sfid;

/// Streams the index from the job's start, skipping records already opted
/// out, and sends one ingest job (or, on a dry run, reports would-writes).
pub(super) fn build(
    state: &mut RunState,
    object: SObject,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    let stretch = scan(state, object, ports)?;
    let Stretch {
        csv,
        lines,
        mut chunks,
        after,
        entries,
        already,
        more,
        items,
        ..
    } = stretch;
    let mut ops: Vec<WriteOp> = Vec::new();
    if !lines.is_empty() {
        let prefix = blob_prefix(state, object);
        ops.push(WriteOp::Set(
            format!("{prefix}lines/{chunks:06}"),
            lines.into_bytes(),
        ));
        chunks += 1;
    }
    for item in &items {
        add_item(state, item, &mut ops);
    }
    let rows = csv.rows();
    {
        let b = bulk_state(state);
        b.end_after = after.clone();
        b.more = more;
        b.line_chunks = chunks;
        b.rows = rows;
    }
    // Counted into the run only with the checkpoint that moves past this
    // stretch: a build the org interrupts (an outage, the budget) is redone
    // from `start_after`, and must not count its skipped records twice.
    if rows == 0 {
        // Nothing to write in this stretch (or a dry run).
        state.done += entries;
        state.counts.already += already;
        state.count_owed(&state.owed_for(object), already);
        let b = bulk_state(state);
        if more {
            b.start_after = after;
        } else {
            b.phase = Phase::Resolve;
            ops.extend(delete_skip_ops(state, object));
        }
        save(state, ops, ports)?;
        return Ok(entries);
    }
    let job = send_job(state, object, csv, api, ports)?;
    state.done += entries;
    state.counts.already += already;
    state.count_owed(&state.owed_for(object), already);
    let b = bulk_state(state);
    b.phase = Phase::PollIngest { job };
    b.polls = 0;
    // The job's lines and the checkpoint land together: a crash before this
    // write redoes the build (the unsent or duplicate job writes the same
    // values); a crash after it resumes polling.
    save(state, ops, ports)?;
    Err(StepError::Wait(wait_for(0)))
}

/// Creates, uploads and closes the ingest job; its ID.
fn send_job(
    state: &RunState,
    object: SObject,
    csv: UpdateCsv,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<String, StepError> {
    api.check_budget(4)
        .map_err(|m| Interrupt::Stop(StopReason::Budget(m)))?;
    let rows = csv.rows();
    let fail = |e| interrupt(e, object, &state.fields);
    let (job, upload_path) = api_bulk::create_ingest_job(api, object).map_err(fail)?;
    api_bulk::upload(api, &upload_path, csv.finish()).map_err(fail)?;
    api_bulk::close(api, &job).map_err(fail)?;
    ports.log.write(
        Level::Info,
        &format!("Bulk write {job}: {rows} {}s to opt out", object.api_name()),
    );
    Ok(job)
}

/// What a build gathered from the index: the job's CSV, the lines that
/// say whose each row is, and where it stopped.
struct Stretch {
    csv: UpdateCsv,
    lines: String,
    line_count: usize,
    chunks: u32,
    after: Option<String>,
    last_id: String,
    entries: u64,
    already: u64,
    more: bool,
    items: Vec<ReportItem>,
}

/// Reads the index from the job's start until the job is full (at a record
/// boundary) or the index ends.
fn scan(state: &mut RunState, object: SObject, ports: Ports<'_>) -> Result<Stretch, SyncError> {
    let skip = load_skip_set(state, object, ports)?;
    let prefix = blob_prefix(state, object);
    let index = ledger::target_prefix(object);
    let remaining = ports.store.count(&index).map_err(ledger::storage_error)?;
    let mut s = Stretch {
        csv: UpdateCsv::new(
            &state.fields_for(object),
            (remaining as usize).min(MAX_JOB_ROWS),
        ),
        lines: String::new(),
        line_count: 0,
        chunks: 0,
        after: bulk_state(state).start_after.clone(),
        last_id: String::new(),
        entries: 0,
        already: 0,
        more: false,
        items: Vec::new(),
    };
    let max_rows = if state.dry_run {
        DRY_RUN_ROWS
    } else {
        MAX_JOB_ROWS
    };
    let owed = state.owed_for(object);
    loop {
        let page = ports
            .store
            .list(&index, s.after.as_deref(), 1000)
            .map_err(ledger::storage_error)?;
        for (key, value) in &page.entries {
            let rows_so_far = if state.dry_run {
                s.items.len()
            } else {
                s.csv.rows() as usize
            };
            let same_record = key.get(4..22) == Some(s.last_id.as_str());
            if rows_so_far >= max_rows && !same_record {
                // The next job starts at a record boundary.
                s.more = true;
                return Ok(s);
            }
            s.after = Some(key.clone());
            s.entries += 1;
            let Some((named, person)) = ledger::parse_target_key(key) else {
                continue;
            };
            if sfid::compact(&named.id).is_some_and(|n| skip.binary_search(&n).is_ok()) {
                s.already += 1;
            } else if state.dry_run {
                s.last_id = named.id.clone();
                s.items.push(ReportItem {
                    kind: ItemKind::WouldWrite,
                    person_id: person,
                    record: Some(named),
                    redirected: None,
                    target: None,
                    error: None,
                    owed: owed.clone(),
                });
            } else {
                s.add_row(&named.id, &person, value.as_slice() == b"c");
                if s.line_count.is_multiple_of(LINE_CHUNK) {
                    // Written at once rather than held until the checkpoint:
                    // the lines are scratch for this run, and holding them
                    // all would double the guest's memory. A redo overwrites
                    // them.
                    let blob = std::mem::take(&mut s.lines).into_bytes();
                    let key = format!("{prefix}lines/{:06}", s.chunks);
                    ports
                        .store
                        .write(vec![WriteOp::Set(key, blob)])
                        .map_err(ledger::storage_error)?;
                    s.chunks += 1;
                }
            }
        }
        if page.next.is_none() {
            return Ok(s);
        }
    }
}

impl Stretch {
    /// A held unsubscribe to write: one CSV row per record, one line per
    /// person (several persons may name one record).
    fn add_row(&mut self, id: &str, person: &str, confirmed: bool) {
        if id != self.last_id {
            self.csv.push(id);
            self.last_id = id.to_string();
        }
        let flag = if confirmed { "c" } else { "-" };
        self.lines.push_str(id);
        self.lines.push('\t');
        self.lines.push_str(&ledger::escape(person));
        self.lines.push('\t');
        self.lines.push_str(flag);
        self.lines.push('\n');
        self.line_count += 1;
    }
}
