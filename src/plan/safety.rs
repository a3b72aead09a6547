//! The deprovisioning limits (rule 8).

use crate::resources::Safety;

/// Whether `planned` deprovisions exceed the limits, given `managed` accounts (managed by
/// Azure AD with an externalId before the sync): more than `maxDeprovisionsPerSync`, or more than
/// `maxDeprovisionPercent` percent of `managed`. Zero deprovisions never exceed them.
pub fn deprovision_limits_exceeded(planned: u32, managed: u32, safety: &Safety) -> bool {
    planned > 0
        && (planned > safety.max_deprovisions_per_sync
            || u64::from(planned) * 100
                > u64::from(safety.max_deprovision_percent) * u64::from(managed))
}

/// Whether `planned` deprovisions may go ahead: within the limits, or approved by exactly that
/// number (the `approve-deprovisions` annotation / `--approve-deprovisions`).
pub fn deprovisions_allowed(
    planned: u32,
    managed: u32,
    safety: &Safety,
    approved: Option<u32>,
) -> bool {
    !deprovision_limits_exceeded(planned, managed, safety) || approved == Some(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safety(max: u32, percent: u32) -> Safety {
        Safety {
            max_deprovisions_per_sync: max,
            max_deprovision_percent: percent,
        }
    }

    #[test]
    fn limits_by_count_and_percent() {
        assert!(!deprovision_limits_exceeded(0, 0, &safety(0, 0)));
        assert!(!deprovision_limits_exceeded(25, 1000, &safety(25, 20)));
        assert!(deprovision_limits_exceeded(26, 1000, &safety(25, 20)));
        assert!(!deprovision_limits_exceeded(2, 10, &safety(25, 20)));
        assert!(deprovision_limits_exceeded(3, 10, &safety(25, 20)));
        assert!(deprovision_limits_exceeded(1, 0, &safety(25, 100)));
        assert!(!deprovision_limits_exceeded(
            1_000_000,
            1_000_000,
            &safety(1_000_000, 100)
        ));
    }

    #[test]
    fn approval_must_match_exactly() {
        let s = safety(1, 20);
        assert!(deprovisions_allowed(5, 10, &s, Some(5)));
        assert!(!deprovisions_allowed(5, 10, &s, Some(4)));
        assert!(!deprovisions_allowed(5, 10, &s, Some(6)));
        assert!(!deprovisions_allowed(5, 10, &s, None));
        assert!(deprovisions_allowed(1, 10, &s, None));
    }
}
