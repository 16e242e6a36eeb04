//! Turns a method and path into a route and a call kind.

use std::fmt;

use crate::calls::CallKind;
use crate::model::SObject;

/// Oldest API version served; older ones are retired and answer 410 (§10.3).
pub const MIN_VERSION: u32 = 31;
/// Newest API version served.
pub const MAX_VERSION: u32 = 66;

/// A served API version (`62` for `v62.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32);

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.0", self.0)
    }
}

impl ApiVersion {
    /// `/services/data/v62.0`.
    pub fn prefix(self) -> String {
        format!("/services/data/v{self}")
    }

    /// The release label, e.g. `Winter '25` for 62.0 (three releases a year).
    pub fn label(self) -> String {
        let k = i64::from(self.0) - 62;
        let season = ["Winter", "Spring", "Summer"][k.rem_euclid(3) as usize];
        let year = 25 + k.div_euclid(3);
        format!("{season} '{year:02}")
    }
}

/// Which Bulk ingest result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultSet {
    /// `successfulResults/`.
    Successful,
    /// `failedResults/`.
    Failed,
    /// `unprocessedrecords/`.
    Unprocessed,
}

/// A resource under `/services/data/vNN.0/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataRoute {
    /// The version root (resource list).
    Root,
    /// `/limits`.
    Limits,
    /// `/sobjects/{type}/describe`.
    Describe(Result<SObject, String>),
    /// `/sobjects/{type}` without an Id.
    SObjectBase(Result<SObject, String>),
    /// `/sobjects/{type}/{id}`.
    Row(Result<SObject, String>, String),
    /// `/composite/sobjects`.
    Collections,
    /// `/query` or `/queryAll` (`true`).
    Query(bool),
    /// `/query/{locator}` or `/queryAll/{locator}`.
    QueryMore(String),
    /// `/jobs/ingest`.
    IngestJobs,
    /// `/jobs/ingest/{id}`.
    IngestJob(String),
    /// `/jobs/ingest/{id}/batches`.
    IngestBatches(String),
    /// `/jobs/ingest/{id}/{result set}`.
    IngestResults(String, ResultSet),
    /// `/jobs/query`.
    QueryJobs,
    /// `/jobs/query/{id}`.
    QueryJob(String),
    /// `/jobs/query/{id}/results`.
    QueryResults(String),
    /// Nothing here.
    NotFound,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/services/oauth2/token`.
    Token,
    /// `/services/data` or `/services/data/`.
    Versions,
    /// `/services/data/vNN.0/...` for a served version.
    Data(ApiVersion, DataRoute),
    /// A retired version (410).
    Retired,
    /// Anything else (404, not an API call).
    Unknown,
}

fn sobject(name: &str) -> Result<SObject, String> {
    name.parse::<SObject>().map_err(|_| name.to_owned())
}

fn parse_version(segment: &str) -> Option<u32> {
    if segment == "latest" {
        return Some(MAX_VERSION);
    }
    let v = segment.strip_prefix('v')?.strip_suffix(".0")?;
    if v.is_empty() || v.len() > 3 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// Routes a path (trailing slashes are ignored, as Salesforce does for these resources).
pub fn route(path: &str) -> Route {
    let trimmed = path.trim_end_matches('/');
    if trimmed == "/services/oauth2/token" {
        return Route::Token;
    }
    if trimmed == "/services/data" {
        return Route::Versions;
    }
    let Some(rest) = trimmed.strip_prefix("/services/data/") else {
        return Route::Unknown;
    };
    let mut parts = rest.split('/');
    let Some(version) = parts.next().and_then(parse_version) else {
        return Route::Unknown;
    };
    if version < MIN_VERSION {
        return Route::Retired;
    }
    if version > MAX_VERSION {
        // Never-existing versions: behaviour UNCONFIRMED (§10.3); answered 404 NOT_FOUND.
        return Route::Unknown;
    }
    let v = ApiVersion(version);
    let segs: Vec<&str> = parts.collect();
    let data = match segs.as_slice() {
        [] => DataRoute::Root,
        ["limits"] => DataRoute::Limits,
        ["sobjects", obj] => DataRoute::SObjectBase(sobject(obj)),
        ["sobjects", obj, "describe"] => DataRoute::Describe(sobject(obj)),
        ["sobjects", obj, id] => DataRoute::Row(sobject(obj), (*id).to_owned()),
        // Collections since 42.0 (§3.1).
        ["composite", "sobjects"] if version >= 42 => DataRoute::Collections,
        ["query"] => DataRoute::Query(false),
        ["queryAll"] => DataRoute::Query(true),
        ["query" | "queryAll", locator] => DataRoute::QueryMore((*locator).to_owned()),
        // Bulk API 2.0 ingest since 41.0, query jobs since 47.0.
        ["jobs", "ingest"] if version >= 41 => DataRoute::IngestJobs,
        ["jobs", "ingest", id] if version >= 41 => DataRoute::IngestJob((*id).to_owned()),
        ["jobs", "ingest", id, "batches"] if version >= 41 => {
            DataRoute::IngestBatches((*id).to_owned())
        }
        ["jobs", "ingest", id, set] if version >= 41 => match *set {
            "successfulResults" => {
                DataRoute::IngestResults((*id).to_owned(), ResultSet::Successful)
            }
            "failedResults" => DataRoute::IngestResults((*id).to_owned(), ResultSet::Failed),
            "unprocessedrecords" => {
                DataRoute::IngestResults((*id).to_owned(), ResultSet::Unprocessed)
            }
            _ => DataRoute::NotFound,
        },
        ["jobs", "query"] if version >= 47 => DataRoute::QueryJobs,
        ["jobs", "query", id] if version >= 47 => DataRoute::QueryJob((*id).to_owned()),
        ["jobs", "query", id, "results"] if version >= 47 => {
            DataRoute::QueryResults((*id).to_owned())
        }
        _ => DataRoute::NotFound,
    };
    Route::Data(v, data)
}

/// The call kind of a routed request.
pub fn kind(route: &Route, method: &str) -> CallKind {
    let data = match route {
        Route::Token => return CallKind::Token,
        Route::Versions => return CallKind::Versions,
        Route::Data(_, d) => d,
        Route::Retired | Route::Unknown => return CallKind::Other,
    };
    match (data, method) {
        (DataRoute::Row(..), "GET") => CallKind::SobjectGet,
        (DataRoute::Row(..), "PATCH") => CallKind::SobjectPatch,
        (DataRoute::Describe(_), _) => CallKind::Describe,
        (DataRoute::Limits, _) => CallKind::Limits,
        (DataRoute::Collections, _) => CallKind::Collections,
        (DataRoute::Query(_), _) => CallKind::Query,
        (DataRoute::QueryMore(_), _) => CallKind::QueryMore,
        (DataRoute::IngestJobs, "POST") => CallKind::BulkIngestCreate,
        (DataRoute::IngestBatches(_), "PUT") => CallKind::BulkIngestUpload,
        (DataRoute::IngestJob(_), "PATCH") => CallKind::BulkIngestClose,
        (DataRoute::IngestJob(_), "GET") => CallKind::BulkIngestPoll,
        (DataRoute::IngestResults(..), "GET") => CallKind::BulkIngestResults,
        (DataRoute::QueryJobs, "POST") => CallKind::BulkQueryCreate,
        (DataRoute::QueryJob(_), "GET") => CallKind::BulkQueryPoll,
        (DataRoute::QueryResults(_), "GET") => CallKind::BulkQueryResults,
        _ => CallKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/services/data/"), Route::Versions);
        assert_eq!(route("/services/data/v29.0/limits"), Route::Retired);
        assert_eq!(route("/services/data/v99.0/limits"), Route::Unknown);
        assert_eq!(route("/services/data/v62/limits"), Route::Unknown);
        assert_eq!(
            route("/services/data/v62.0/jobs/ingest/7505e00000AaBbCAAV/failedResults/"),
            Route::Data(
                ApiVersion(62),
                DataRoute::IngestResults("7505e00000AaBbCAAV".into(), ResultSet::Failed)
            )
        );
        assert_eq!(
            route("/services/data/v41.0/composite/sobjects"),
            Route::Data(ApiVersion(41), DataRoute::NotFound)
        );
    }

    #[test]
    fn labels() {
        assert_eq!(ApiVersion(62).label(), "Winter '25");
        assert_eq!(ApiVersion(64).label(), "Summer '25");
        assert_eq!(ApiVersion(66).label(), "Spring '26");
        assert_eq!(ApiVersion(31).label(), "Summer '14");
    }
}
