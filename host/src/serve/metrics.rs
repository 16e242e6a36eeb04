//! `/metrics`: counters of the service in the Prometheus text format.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{OrgStats, RuntimeStats, api};

/// The service's counters.
#[derive(Default)]
pub struct Metrics {
    /// Pushes by outcome: written, skipped, queued, duplicate, stale.
    pub push_written: AtomicU64,
    /// Held without a Salesforce ID.
    pub push_skipped: AtomicU64,
    /// Queued for retry.
    pub push_queued: AtomicU64,
    /// Already written.
    pub push_duplicate: AtomicU64,
    /// Older than a re-subscribe.
    pub push_stale: AtomicU64,
    /// Pushes the component answered with an error or that trapped.
    pub push_failures: AtomicU64,
    /// Re-subscribes handled.
    pub resubscribes: AtomicU64,
    /// Webhooks accepted.
    pub webhooks_accepted: AtomicU64,
    /// Batches of waiting unsubscribes pushed in one call (`push-many`).
    pub batches: AtomicU64,
    /// Webhooks refused, by reason.
    pub webhooks_rejected: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Retries pending (from the last status).
    pub retries_pending: AtomicU64,
    /// Retry drains run.
    pub retry_drains: AtomicU64,
    /// Nightly runs finished.
    pub nightly_runs: AtomicU64,
    /// Duration of the last nightly run, in milliseconds.
    pub nightly_last_duration_ms: AtomicU64,
    /// Events moved to the dead letters.
    pub dead_letters: AtomicU64,
}

impl Metrics {
    /// Counts a push outcome.
    pub fn push_outcome(&self, o: &api::PushOutcome) {
        let c = match o {
            api::PushOutcome::Written(_) => &self.push_written,
            api::PushOutcome::SkippedNoSalesforceId => &self.push_skipped,
            api::PushOutcome::QueuedForRetry(_) => &self.push_queued,
            api::PushOutcome::Duplicate => &self.push_duplicate,
            api::PushOutcome::Stale(_) => &self.push_stale,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refused webhook.
    pub fn rejected(&self, reason: &'static str) {
        if let Ok(mut m) = self.webhooks_rejected.lock() {
            *m.entry(reason).or_insert(0) += 1;
        }
    }

    /// Renders everything, with the runtime's, the org connection's and the
    /// inbox's figures.
    pub fn render(
        &self,
        runtime: &RuntimeStats,
        org: Option<&OrgStats>,
        inbox_depth: u64,
    ) -> String {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        metric(
            "unsubscribe_sync_pushes_total",
            "counter",
            "Unsubscribes pushed through the component, by outcome.",
            &[
                ("{outcome=\"written\"}", get(&self.push_written)),
                (
                    "{outcome=\"skipped_no_salesforce_id\"}",
                    get(&self.push_skipped),
                ),
                ("{outcome=\"queued_for_retry\"}", get(&self.push_queued)),
                ("{outcome=\"duplicate\"}", get(&self.push_duplicate)),
                ("{outcome=\"stale\"}", get(&self.push_stale)),
            ],
        );
        metric(
            "unsubscribe_sync_push_failures_total",
            "counter",
            "Pushes answered with an error or stopped by a trap.",
            &[("", get(&self.push_failures))],
        );
        metric(
            "unsubscribe_sync_push_batches_total",
            "counter",
            "Batches of waiting unsubscribes pushed in one component call.",
            &[("", get(&self.batches))],
        );
        metric(
            "unsubscribe_sync_resubscribes_total",
            "counter",
            "Re-subscribes handled.",
            &[("", get(&self.resubscribes))],
        );
        let rejected: Vec<(String, u64)> = self
            .webhooks_rejected
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (format!("{{result=\"{k}\"}}"), *v))
                    .collect()
            })
            .unwrap_or_default();
        let mut hooks: Vec<(&str, u64)> =
            vec![("{result=\"accepted\"}", get(&self.webhooks_accepted))];
        hooks.extend(rejected.iter().map(|(k, v)| (k.as_str(), *v)));
        metric(
            "unsubscribe_sync_webhooks_total",
            "counter",
            "Webhook requests, by result.",
            &hooks,
        );
        metric(
            "unsubscribe_sync_retries_pending",
            "gauge",
            "Pushes waiting in the component's retry queue.",
            &[("", get(&self.retries_pending))],
        );
        metric(
            "unsubscribe_sync_retry_drains_total",
            "counter",
            "Retry drains run.",
            &[("", get(&self.retry_drains))],
        );
        metric(
            "unsubscribe_sync_inbox_depth",
            "gauge",
            "Webhook events recorded and not yet handled.",
            &[("", inbox_depth)],
        );
        metric(
            "unsubscribe_sync_dead_letters_total",
            "counter",
            "Events the component could not take, kept in the dead letters.",
            &[("", get(&self.dead_letters))],
        );
        metric(
            "unsubscribe_sync_nightly_runs_total",
            "counter",
            "Nightly runs finished.",
            &[("", get(&self.nightly_runs))],
        );
        let _ = writeln!(
            out,
            "# HELP unsubscribe_sync_nightly_duration_seconds Duration of the last nightly run."
        );
        let _ = writeln!(
            out,
            "# TYPE unsubscribe_sync_nightly_duration_seconds gauge"
        );
        let _ = writeln!(
            out,
            "unsubscribe_sync_nightly_duration_seconds {:.3}",
            get(&self.nightly_last_duration_ms) as f64 / 1000.0
        );
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        metric(
            "unsubscribe_sync_component_calls_total",
            "counter",
            "Calls into the component.",
            &[("", runtime.calls)],
        );
        metric(
            "unsubscribe_sync_component_traps_total",
            "counter",
            "Calls stopped by a trap, the deadline or the memory cap.",
            &[("", runtime.traps)],
        );
        let (api_calls, refreshes) = org
            .map(|o| (o.requests, o.token_refreshes))
            .unwrap_or((0, 0));
        metric(
            "unsubscribe_sync_api_calls_total",
            "counter",
            "Salesforce API requests sent by this process.",
            &[("", api_calls)],
        );
        metric(
            "unsubscribe_sync_token_refreshes_total",
            "counter",
            "OAuth access-token requests.",
            &[("", refreshes)],
        );
        if let Some((used, max)) = org
            .and_then(|o| o.last_limit_info.as_deref())
            .and_then(parse_api_usage)
        {
            metric(
                "unsubscribe_sync_org_api_usage",
                "gauge",
                "The org's daily API requests, from the last Sforce-Limit-Info header.",
                &[("{kind=\"used\"}", used), ("{kind=\"max\"}", max)],
            );
        }
        out
    }
}

/// `api-usage=1201/100000; api-bursts=1/750` -> (1201, 100000).
pub fn parse_api_usage(header: &str) -> Option<(u64, u64)> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        if k.trim() != "api-usage" {
            return None;
        }
        let (used, max) = v.trim().split_once('/')?;
        Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_info_is_parsed_leniently() {
        assert_eq!(
            parse_api_usage("api-usage=1201/100000"),
            Some((1201, 100000))
        );
        assert_eq!(
            parse_api_usage("api-usage=10018/100000; api-bursts=1/750"),
            Some((10018, 100000))
        );
        assert_eq!(parse_api_usage("per-app-api-usage=17/250(appName=x)"), None);
    }

    #[test]
    fn the_text_format_has_help_type_and_samples() {
        let m = Metrics::default();
        m.push_written.fetch_add(3, Ordering::Relaxed);
        m.rejected("bad_signature");
        let org = OrgStats {
            requests: 7,
            last_limit_info: Some("api-usage=5/15000".into()),
            ..Default::default()
        };
        let text = m.render(&RuntimeStats::default(), Some(&org), 2);
        assert!(text.contains("# TYPE unsubscribe_sync_pushes_total counter\n"));
        assert!(text.contains("unsubscribe_sync_pushes_total{outcome=\"written\"} 3\n"));
        assert!(text.contains("unsubscribe_sync_webhooks_total{result=\"bad_signature\"} 1\n"));
        assert!(text.contains("unsubscribe_sync_inbox_depth 2\n"));
        assert!(text.contains("unsubscribe_sync_api_calls_total 7\n"));
        assert!(text.contains("unsubscribe_sync_org_api_usage{kind=\"max\"} 15000\n"));
        assert!(text.contains("unsubscribe_sync_nightly_duration_seconds 0.000\n"));
    }
}
