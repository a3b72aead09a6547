//! Fault injection (fail or delay the next N requests matching a verb and resource) and the
//! request log tests read back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a matching request gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with a `Status` of this HTTP code (reason derived from it, e.g. 500 InternalError).
    Fail(u16),
    /// Wait this long, then serve the request normally.
    Delay(Duration),
}

#[derive(Clone, Debug)]
struct Rule {
    verb: String,
    resource: String,
    remaining: usize,
    action: FaultAction,
}

/// Injected faults. `verb` is a Kubernetes verb (`get`, `list`, `watch`, `create`, `update`,
/// `patch`, `delete`) and `resource` a plural, with `/status` for the subresource
/// (`azureadconnectors/status`); `*` matches any.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Rule>>>,
}

impl Faults {
    /// The next `times` matching requests fail with `code`.
    pub fn fail_next(&self, verb: &str, resource: &str, times: usize, code: u16) {
        self.push(verb, resource, times, FaultAction::Fail(code));
    }

    /// The next `times` matching requests are served after `delay`.
    pub fn delay_next(&self, verb: &str, resource: &str, times: usize, delay: Duration) {
        self.push(verb, resource, times, FaultAction::Delay(delay));
    }

    /// Forgets every pending fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, verb: &str, resource: &str, times: usize, action: FaultAction) {
        self.lock().push(Rule {
            verb: verb.into(),
            resource: resource.into(),
            remaining: times,
            action,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the fault for one request, if any rule matches.
    pub(crate) fn take(&self, verb: &str, resource: &str) -> Option<FaultAction> {
        let mut rules = self.lock();
        let rule = rules.iter_mut().find(|r| {
            r.remaining > 0
                && (r.verb == "*" || r.verb == verb)
                && (r.resource == "*" || r.resource == resource)
        })?;
        rule.remaining -= 1;
        let action = rule.action.clone();
        rules.retain(|r| r.remaining > 0);
        Some(action)
    }
}

/// One served request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// Kubernetes verb and resource, for resource requests.
    pub verb: Option<String>,
    pub resource: Option<String>,
}

/// Every request the server answered, in order (watches are logged when they start).
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    records: Arc<Mutex<Vec<RequestRecord>>>,
}

impl RequestLog {
    pub(crate) fn push(&self, record: RequestRecord) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }

    /// A copy of the log so far.
    pub fn all(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests with this verb and resource.
    pub fn matching(&self, verb: &str, resource: &str) -> Vec<RequestRecord> {
        self.all()
            .into_iter()
            .filter(|r| r.verb.as_deref() == Some(verb) && r.resource.as_deref() == Some(resource))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_applies_to_exactly_the_next_n_matching_requests() {
        let faults = Faults::default();
        faults.fail_next("patch", "things/status", 2, 500);
        assert_eq!(faults.take("patch", "things"), None);
        assert_eq!(
            faults.take("patch", "things/status"),
            Some(FaultAction::Fail(500))
        );
        assert_eq!(
            faults.take("patch", "things/status"),
            Some(FaultAction::Fail(500))
        );
        assert_eq!(faults.take("patch", "things/status"), None);
    }
}
