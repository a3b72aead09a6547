//! Lists in messages are capped: a message names the first few things and counts the rest.

use std::fmt::Display;

/// A message lists at most this many items.
pub const MAX_LISTED: usize = 10;

/// `a, b, c … and N more`, naming at most `MAX_LISTED` items.
pub fn capped_list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    capped_join(items, ", ")
}

/// The items joined by `separator`, at most `MAX_LISTED` of them, then `… and N more`. Each
/// item is cleaned and cut like remote text.
pub fn capped_join<T: Display>(items: impl IntoIterator<Item = T>, separator: &str) -> String {
    let mut out = String::new();
    let mut rest = 0usize;
    for (i, item) in items.into_iter().enumerate() {
        if i >= MAX_LISTED {
            rest += 1;
            continue;
        }
        if i > 0 {
            out.push_str(separator);
        }
        out.push_str(&super::remote_text(&item.to_string()));
    }
    if rest > 0 {
        out.push_str(&format!(" … and {rest} more"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_items_make_a_short_message() {
        let listed = capped_list((0..10_000).map(|i| format!("group-{i}")));
        assert!(listed.starts_with("group-0, group-1"), "{listed}");
        assert!(listed.ends_with(" … and 9990 more"), "{listed}");
        assert!(listed.len() < 200, "{}", listed.len());
        assert_eq!(capped_list(["a", "b"]), "a, b");
        assert_eq!(capped_join(["a", "b"], "\n"), "a\nb");
    }
}
