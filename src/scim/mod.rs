//! The SCIM 2.0 side (RFC 7643/7644): a second target beside Password Boss. The wire format
//! lives behind this module only; the sync's read step gets a `DirectoryState` from it
//! (`state`), and its apply step turns a plan into these calls (`sync::apply::scim_writes`).
//!
//! The service is untrusted input: filter values are escaped, ids go into the URL as one
//! percent-encoded path segment, `meta.location` and `Location` are never followed (the token
//! stays on the configured base URL), bodies are bounded, listings are capped, and a create whose
//! answer was lost is looked up before it is sent again (SCIM has no idempotency key).

mod client;
mod config;
mod error;
mod state;
pub mod wire;

pub use client::{Features, ScimClient};
pub use config::{DEFAULT_PAGE_SIZE, ScimConfig, normalised_base_url};
pub use error::ScimError;
pub use state::is_entra_object_id;
