//! Faults the simulator injects on request.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::state::PathKind;
use crate::hostile::Hostile;

/// What a request of one kind gets instead of its real answer (`SimFaults::answer_next`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// This status with Graph's error body for it (404 `Request_ResourceNotFound`, 403
    /// `Authorization_RequestDenied`, 5xx `serviceNotAvailable`, …).
    Status(u16),
    /// `200` with a JSON body of the wrong shape (`{"id": 42, "value": "malformed"}`).
    Malformed,
    /// `200` with the real body, but another object's id in it.
    OtherId,
}

#[derive(Default, Debug, Clone)]
pub(crate) struct Faults {
    /// The next n Graph requests answer 429 with this Retry-After (seconds).
    pub throttle: Option<(u32, u64)>,
    /// The next n Graph requests answer this 5xx status, with an optional Retry-After.
    pub unavailable: Option<(u32, (u16, Option<u64>))>,
    /// The next n `$batch` sub-requests answer 429 with this Retry-After.
    pub batch_throttle: Option<(u32, u64)>,
    /// The next n token requests answer 503.
    pub token_unavailable: u32,
    /// Every Graph answer is delayed this long.
    pub delay: Option<Duration>,
    /// Every Graph request of these tenants (by id) answers 429 with this Retry-After, until
    /// cleared: one customer's tenant throttled while the others are not.
    pub tenant_throttle: HashMap<String, u64>,
    /// Hostile or broken behaviour for every request, token endpoint included.
    pub hostile: Option<Hostile>,
    /// The next n requests of a kind (direct or inside `$batch`), whose path contains the text
    /// when one is given, get this answer.
    pub answers: HashMap<(PathKind, Option<String>), (u32, Answer)>,
    /// Users the users delta does not list yet (replication lag), though they exist and keep
    /// their memberships.
    pub users_delta_lag: BTreeSet<String>,
    /// Users the next users-delta replay reports `@removed` though they exist (a replay).
    pub users_delta_removals: BTreeSet<String>,
}

/// Takes one use of a counted fault.
pub(crate) fn take<T: Copy>(slot: &mut Option<(u32, T)>) -> Option<T> {
    let (n, v) = (*slot)?;
    *slot = (n > 1).then_some((n - 1, v));
    Some(v)
}
