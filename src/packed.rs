//! Values packed into one allocation, for state the connector keeps between syncs for every
//! user (the Graph state's users, the Password Boss accounts): a field is a varint length (0 for
//! none, else length + 1) and its UTF-8 bytes; an id that is a canonical lowercase GUID is its 16
//! bytes.

/// Writes one optional text field.
pub(crate) fn put(out: &mut Vec<u8>, field: Option<&str>) {
    let mut n = field.map_or(0, |f| f.len() + 1);
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    if let Some(f) = field {
        out.extend_from_slice(f.as_bytes());
    }
}

/// Reads the next field written by `put`.
pub(crate) fn take<'a>(text: &mut &'a [u8]) -> Option<&'a str> {
    let mut n = 0usize;
    let mut shift = 0;
    while let Some((&byte, rest)) = text.split_first() {
        *text = rest;
        n |= ((byte & 0x7f) as usize) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let len = n.checked_sub(1)?;
    let (field, rest) = text.split_at(len.min(text.len()));
    *text = rest;
    // Written from &str by `put`: always UTF-8.
    std::str::from_utf8(field).ok()
}

/// The 16 bytes of `s` when it is a GUID in canonical form (lowercase, hyphenated, what Graph
/// returns), so that it round-trips exactly.
pub(crate) fn canonical_guid(s: &str) -> Option<[u8; 16]> {
    let u = uuid::Uuid::try_parse(s).ok()?;
    let mut buf = uuid::Uuid::encode_buffer();
    (u.hyphenated().encode_lower(&mut buf) == s).then(|| *u.as_bytes())
}

/// Writes an optional id: a tag (0 none, 1 GUID, 2 text), then its 16 bytes or its text.
pub(crate) fn put_id(out: &mut Vec<u8>, id: Option<&str>) {
    match id {
        None => out.push(0),
        Some(id) => match canonical_guid(id) {
            Some(bytes) => {
                out.push(1);
                out.extend_from_slice(&bytes);
            }
            None => {
                out.push(2);
                put(out, Some(id));
            }
        },
    }
}

/// Reads the next id written by `put_id`: `Some(None)` for none, `None` when the bytes are not
/// an id.
pub(crate) fn take_id(text: &mut &[u8]) -> Option<Option<String>> {
    let (&tag, rest) = text.split_first()?;
    *text = rest;
    match tag {
        0 => Some(None),
        1 => {
            let (bytes, rest) = text.split_first_chunk::<16>()?;
            *text = rest;
            Some(Some(
                uuid::Uuid::from_bytes(*bytes).hyphenated().to_string(),
            ))
        }
        2 => take(text).map(|s| Some(s.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn fields_and_ids_round_trip(
            fields in proptest::collection::vec(proptest::option::of(".{0,200}"), 0..6),
            ids in proptest::collection::vec(proptest::option::of("[0-9a-fA-F-]{0,40}|.{0,10}"), 0..4),
            guid in proptest::array::uniform16(0u8..),
        ) {
            let guid = uuid::Uuid::from_bytes(guid).hyphenated().to_string();
            let mut ids = ids;
            ids.push(Some(guid.clone()));
            ids.push(Some(guid.to_uppercase()));
            let mut out = Vec::new();
            for f in &fields {
                put(&mut out, f.as_deref());
            }
            for id in &ids {
                put_id(&mut out, id.as_deref());
            }
            let mut text = out.as_slice();
            for f in &fields {
                proptest::prop_assert_eq!(take(&mut text).map(str::to_owned), f.clone());
            }
            for id in &ids {
                proptest::prop_assert_eq!(take_id(&mut text), Some(id.clone()));
            }
            proptest::prop_assert!(text.is_empty());
        }
    }

    #[test]
    fn a_guid_costs_its_sixteen_bytes() {
        let mut out = Vec::new();
        put_id(&mut out, Some("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert_eq!(out.len(), 17);
    }
}
