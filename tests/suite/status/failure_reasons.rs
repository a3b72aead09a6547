//! The failure reasons are one closed set, and every place that names them uses that set: the
//! README's table lists exactly them, with the connection state each leaves, and a failed sync's
//! reason is the `Ready` reason, the Warning Event's reason and the metric label.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use pbconnector::sync::report::{Reached, SyncReport};
use pbconnector::sync::status::failure::{FailureReason, SyncFailure};
use pbconnector::sync::status::{status_from_report, transitions, waiting_status};
use pbconnector::telemetry::metrics::Metrics;

/// `reason → connection` from the README's "Failure reasons" table.
fn readme_table() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("\n### Failure reasons\n")
        .nth(1)
        .expect("a \"Failure reasons\" section");
    let section = section.split("\n#").next().unwrap_or(section);
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (
                cells[1].trim_matches('`').to_string(),
                cells[2].trim_matches('`').to_string(),
            )
        })
        .collect()
}

#[test]
fn the_readme_table_lists_exactly_the_failure_reasons_with_their_connection_state() {
    let table = readme_table();
    let expected: BTreeMap<String, String> = FailureReason::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), r.connection().as_str().to_string()))
        .collect();
    assert_eq!(table, expected);
}

#[test]
fn a_failed_syncs_reason_names_the_condition_the_event_and_the_metric() {
    let metrics = Metrics::new();
    for reason in FailureReason::ALL {
        let before = waiting_status(Some(1), Timestamp::UNIX_EPOCH);
        let report = SyncReport::failed(
            Timestamp::now(),
            SyncFailure::new(reason, "it failed"),
            Reached::default(),
        );
        let status = status_from_report(Some(&before), &report, Some(1), None);
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .expect("Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reason.as_str())
        );
        assert_eq!(status.connection, reason.connection());
        let events: Vec<&str> = transitions(Some(&before), &status)
            .into_iter()
            .map(|(_, r, _)| r)
            .collect();
        assert!(
            events.contains(&reason.as_str()),
            "{reason}: the Event is named by the reason: {events:?}"
        );
        metrics.observe_sync(&report);
    }
    let text = metrics.encode();
    for reason in FailureReason::ALL {
        let line = format!(
            "pbconnector_sync_failures_total{{reason=\"{reason}\",target=\"passwordboss\"}} 1"
        );
        assert!(text.contains(&line), "{line} in\n{text}");
    }
}
