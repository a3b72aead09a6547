//! Faults the simulator injects on request.

use std::collections::HashMap;
use std::time::Duration;

use crate::hostile::Hostile;

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
}

/// Takes one use of a counted fault.
pub(crate) fn take<T: Copy>(slot: &mut Option<(u32, T)>) -> Option<T> {
    let (n, v) = (*slot)?;
    *slot = (n > 1).then_some((n - 1, v));
    Some(v)
}
