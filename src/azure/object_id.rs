//! Entra object ids as the connector keeps them between syncs: 16 bytes for the GUIDs Graph
//! uses, without an allocation each (the state holds one per user and per membership).

use std::fmt;

/// A Graph object id. A canonical lowercase GUID (what Graph returns) is held as its 16 bytes;
/// any other text is kept as it is, so every id round-trips exactly.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ObjectId {
    Guid([u8; 16]),
    Text(Box<str>),
}

impl From<&str> for ObjectId {
    fn from(s: &str) -> Self {
        match crate::packed::canonical_guid(s) {
            Some(bytes) => Self::Guid(bytes),
            None => Self::Text(s.into()),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Guid(bytes) => fmt::Display::fmt(&uuid::Uuid::from_bytes(*bytes).hyphenated(), f),
            Self::Text(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_guids_are_compact_and_every_id_round_trips() {
        let guid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert!(matches!(ObjectId::from(guid), ObjectId::Guid(_)));
        for id in [
            guid,
            "0F8FAD5B-D9CB-469F-A165-70867728950E",
            "{0f8fad5b-d9cb-469f-a165-70867728950e}",
            "0f8fad5bd9cb469fa16570867728950e",
            "not-a-guid",
            "",
        ] {
            assert_eq!(ObjectId::from(id).to_string(), id);
        }
        assert_ne!(
            ObjectId::from(guid),
            ObjectId::from("0F8FAD5B-D9CB-469F-A165-70867728950E"),
            "ids compare as Graph wrote them"
        );
        assert!(std::mem::size_of::<ObjectId>() <= 24);
    }
}
