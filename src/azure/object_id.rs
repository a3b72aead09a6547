//! Entra object ids as the connector keeps them between syncs.

use std::fmt;

/// A Graph object id, kept as Graph wrote it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ObjectId(Box<str>);

impl From<&str> for ObjectId {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}
