//! What the annotations ask for: an immediate sync, an approval of blocked deprovisions. Pure.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::resources::{
    ANNOTATION_APPROVE_DEPROVISIONS, ANNOTATION_FLUX_REQUESTED_AT, ANNOTATION_PLAN_REQUESTED_AT,
    ANNOTATION_SYNC_REQUESTED_AT, ANNOTATION_VERIFY_REQUESTED_AT, AzureAdConnectorStatus,
};

/// The longest request value (`sync-requested-at`, Flux's `requestedAt`, `verify-requested-at`)
/// echoed into status as it is; a longer one is echoed as [`request_token`] makes it.
pub const MAX_ECHOED_REQUEST_BYTES: usize = 128;

/// How a request value is compared and echoed into status: as it is up to
/// [`MAX_ECHOED_REQUEST_BYTES`], else `sha256:` and its SHA-256 in hex (71 bytes), so a tenant's
/// 120 KB value costs the status 71 bytes and is still answered once.
pub fn request_token(value: &str) -> String {
    if value.len() <= MAX_ECHOED_REQUEST_BYTES {
        value.to_owned()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(value.as_bytes())))
    }
}

/// The values of both sync-request annotations, as last seen (long ones as [`request_token`]
/// makes them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestTokens {
    pub passwordboss: Option<String>,
    pub flux: Option<String>,
}

impl RequestTokens {
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| {
            annotations
                .get(k)
                .filter(|v| !v.is_empty())
                .map(|v| request_token(v))
        };
        Self {
            passwordboss: get(ANNOTATION_SYNC_REQUESTED_AT),
            flux: get(ANNOTATION_FLUX_REQUESTED_AT),
        }
    }

    /// The request value not handled yet, if any: a value differs from the status's
    /// `lastHandledSyncRequest` and from the value this process already handled (`seen`), so two
    /// annotations with different values cannot make each other pending forever. The
    /// `passwordboss.com` annotation wins over Flux's when both are new.
    pub fn pending(&self, handled: Option<&str>, seen: Option<&RequestTokens>) -> Option<String> {
        let new = |value: &Option<String>, seen_value: Option<&Option<String>>| {
            value
                .as_deref()
                .filter(|v| Some(*v) != handled)
                .filter(|v| seen_value.is_none_or(|s| s.as_deref() != Some(*v)))
                .map(str::to_string)
        };
        new(&self.passwordboss, seen.map(|s| &s.passwordboss))
            .or_else(|| new(&self.flux, seen.map(|s| &s.flux)))
    }
}

/// The approval to pass to the sync: the annotation's value, trimmed, when not empty. The sync
/// decides what it approves (exactly the held set its token names, once) and reports any other
/// value as not matching; a token already used while nothing is held is simply ignored.
pub fn approval_token(annotations: &BTreeMap<String, String>) -> Option<String> {
    let value = annotations.get(ANNOTATION_APPROVE_DEPROVISIONS)?.trim();
    (!value.is_empty()).then(|| crate::bounded::remote_text(value))
}

/// The verify request not answered yet: the annotation's value (as [`request_token`] makes it)
/// when `status.verify` answers another (or none).
pub fn pending_verify(
    annotations: &BTreeMap<String, String>,
    status: Option<&AzureAdConnectorStatus>,
) -> Option<String> {
    let requested = annotations
        .get(ANNOTATION_VERIFY_REQUESTED_AT)
        .filter(|v| !v.is_empty())
        .map(|v| request_token(v))?;
    let answered = status
        .and_then(|s| s.verify.as_ref())
        .map(|v| v.requested_at.as_str());
    (answered != Some(requested.as_str())).then_some(requested)
}

/// The plan request not answered yet: the annotation's value when `status.planRequest`
/// answers another (or none).
pub fn pending_plan(
    annotations: &BTreeMap<String, String>,
    status: Option<&AzureAdConnectorStatus>,
) -> Option<String> {
    let requested = annotations
        .get(ANNOTATION_PLAN_REQUESTED_AT)
        .filter(|v| !v.is_empty())
        .map(|v| request_token(v))?;
    let answered = status
        .and_then(|s| s.plan_request.as_ref())
        .map(|p| p.requested_at.as_str());
    (answered != Some(requested.as_str())).then_some(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_new_request_value_is_pending_until_handled() {
        let t = RequestTokens::from_annotations(&annotations(&[(
            ANNOTATION_SYNC_REQUESTED_AT,
            "2026-01-01T00:00:00Z",
        )]));
        assert_eq!(
            t.pending(None, None).as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(t.pending(Some("2026-01-01T00:00:00Z"), None), None);
        assert_eq!(t.pending(Some("older"), Some(&t)), None);
    }

    #[test]
    fn flux_counts_and_two_different_values_do_not_ping_pong() {
        let t = RequestTokens::from_annotations(&annotations(&[
            (ANNOTATION_SYNC_REQUESTED_AT, "a"),
            (ANNOTATION_FLUX_REQUESTED_AT, "b"),
        ]));
        assert_eq!(t.pending(None, None).as_deref(), Some("a"));
        assert_eq!(t.pending(Some("a"), None).as_deref(), Some("b"));
        // Once this process handled both, neither is pending whichever one status echoes.
        assert_eq!(t.pending(Some("a"), Some(&t)), None);
        assert_eq!(t.pending(Some("b"), Some(&t)), None);
        let flux_only =
            RequestTokens::from_annotations(&annotations(&[(ANNOTATION_FLUX_REQUESTED_AT, "c")]));
        assert_eq!(flux_only.pending(Some("b"), Some(&t)).as_deref(), Some("c"));
    }

    #[test]
    fn a_verify_request_is_pending_until_status_answers_that_value() {
        let a = annotations(&[(ANNOTATION_VERIFY_REQUESTED_AT, "v1")]);
        assert_eq!(pending_verify(&a, None).as_deref(), Some("v1"));
        let answered = AzureAdConnectorStatus {
            verify: Some(crate::resources::VerifyStatus {
                requested_at: "v1".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(pending_verify(&a, Some(&answered)), None);
        let again = annotations(&[(ANNOTATION_VERIFY_REQUESTED_AT, "v2")]);
        assert_eq!(
            pending_verify(&again, Some(&answered)).as_deref(),
            Some("v2")
        );
        assert_eq!(pending_verify(&annotations(&[]), None), None);
    }

    #[test]
    fn long_request_values_are_echoed_as_a_fixed_size_digest_and_answered_once() {
        let long = "x".repeat(120 * 1024);
        let token = request_token(&long);
        assert_eq!(token.len(), 71);
        assert!(token.starts_with("sha256:"), "{token}");
        assert_eq!(token, request_token(&long), "stable");
        assert_ne!(token, request_token(&"y".repeat(120 * 1024)));
        let edge = "z".repeat(MAX_ECHOED_REQUEST_BYTES);
        assert_eq!(request_token(&edge), edge, "up to the cap, as it is");

        let sync = RequestTokens::from_annotations(&annotations(&[
            (ANNOTATION_SYNC_REQUESTED_AT, &long),
            (ANNOTATION_FLUX_REQUESTED_AT, &long),
        ]));
        let pending = sync.pending(None, None).expect("pending");
        assert_eq!(pending, token);
        assert_eq!(sync.pending(Some(&pending), None), None, "handled once");

        let verify = annotations(&[(ANNOTATION_VERIFY_REQUESTED_AT, &long)]);
        let requested = pending_verify(&verify, None).expect("pending");
        assert_eq!(requested, token);
        let answered = AzureAdConnectorStatus {
            verify: Some(crate::resources::VerifyStatus {
                requested_at: requested,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            pending_verify(&verify, Some(&answered)),
            None,
            "answered once"
        );
    }

    #[test]
    fn a_plan_request_is_pending_until_status_answers_that_value() {
        let a = annotations(&[(ANNOTATION_PLAN_REQUESTED_AT, "p1")]);
        assert_eq!(pending_plan(&a, None).as_deref(), Some("p1"));
        let answered = AzureAdConnectorStatus {
            plan_request: Some(crate::resources::PlanRequestStatus {
                requested_at: "p1".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(pending_plan(&a, Some(&answered)), None);
        let again = annotations(&[(ANNOTATION_PLAN_REQUESTED_AT, "p2")]);
        assert_eq!(pending_plan(&again, Some(&answered)).as_deref(), Some("p2"));
        assert_eq!(pending_plan(&annotations(&[]), None), None);
    }

    #[test]
    fn the_approval_is_the_annotation_value() {
        let a = annotations(&[(ANNOTATION_APPROVE_DEPROVISIONS, " 30-5f1c2a9e ")]);
        assert_eq!(approval_token(&a).as_deref(), Some("30-5f1c2a9e"));
        let empty = annotations(&[(ANNOTATION_APPROVE_DEPROVISIONS, "  ")]);
        assert_eq!(approval_token(&empty), None);
        assert_eq!(approval_token(&annotations(&[])), None);
    }
}
