//! The class of a target service's error (Password Boss, a SCIM service): what the sync does
//! about it. Each client maps its own errors onto it.

/// The class of an error: what the caller should do about it (and a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The token was refused: fix the Secret.
    Unauthorized,
    /// The object does not exist (any more).
    NotFound,
    /// 409: the write collides with the company's state (email taken, no licence, name taken).
    Conflict,
    /// The request was refused as invalid or forbidden (400, 403, 422).
    Rejected,
    /// 429 after every retry.
    Throttled,
    /// 5xx or connection failures after every retry.
    Transient,
    /// An answer that breaks the contract.
    Protocol,
    /// Bad client configuration.
    Config,
    /// A response body passed `bounded::MAX_RESPONSE_BYTES`.
    TooLarge,
    /// A listing's cursors went round in a cycle or past `bounded::MAX_PAGES`.
    Paging,
    /// The process-wide memory budget for response bodies had no room within its wait.
    MemoryBudget,
}
