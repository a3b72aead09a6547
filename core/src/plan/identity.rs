//! How an Entra user becomes a Password Boss identity: which address is the email (rule 1) and
//! which first and last name it gets (rule 2). Pure functions of one `EntraUser`.

use super::rules::EmailAttribute;
use crate::domain::EntraUser;
use crate::domain::is_routable_email;

/// The key emails are compared by: ASCII lowercase (Password Boss compares case-insensitively).
pub(super) fn email_key(email: &str) -> String {
    email.to_ascii_lowercase()
}

/// An email as a hash key that compares like `email_key` without allocating it: the planner
/// looks up every user by email on every sync.
#[derive(Clone, Copy, Debug)]
pub(super) struct EmailKey<'a>(pub &'a str);

impl PartialEq for EmailKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for EmailKey<'_> {}

impl std::hash::Hash for EmailKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The ASCII-lowercased bytes, 8 at a time, without allocating: equal keys hash the same,
        // and different keys hash like different values.
        let bytes = self.0.as_bytes();
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut word: [u8; 8] = word.try_into().expect("chunks of 8");
            word.make_ascii_lowercase();
            state.write_u64(u64::from_le_bytes(word));
        }
        let tail = words.remainder();
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        last.make_ascii_lowercase();
        state.write_u64(u64::from_le_bytes(last));
        state.write_usize(bytes.len());
    }
}

/// Rule 1. `Mail` takes `mail` when it is non-empty after trimming, else `userPrincipalName`;
/// `UserPrincipalName` takes the UPN. The trimmed address is returned as Entra has it (case kept)
/// when Password Boss would accept it (`is_routable_email`), else `None` (a `NoEmail` conflict).
pub(super) fn resolve_email(user: &EntraUser, attribute: EmailAttribute) -> Option<&str> {
    let upn = || non_empty(user.user_principal_name.as_deref());
    let chosen = match attribute {
        EmailAttribute::Mail => non_empty(user.mail.as_deref()).or_else(upn),
        EmailAttribute::UserPrincipalName => upn(),
    }?;
    is_routable_email(chosen).then_some(chosen)
}

/// Rule 2. Trimmed `givenName` and `surname`; a missing part is taken from `displayName` split at
/// its first whitespace (first token → first name, the rest → last name). A one-word display name
/// fills whichever single part is missing. `None` when either part is still missing (`NoName`):
/// with both parts missing, a one-word display name is not enough.
pub(super) fn resolve_names(user: &EntraUser) -> Option<(&str, &str)> {
    let given = non_empty(user.given_name.as_deref());
    let surname = non_empty(user.surname.as_deref());
    let (first, last) = match (given, surname) {
        (Some(first), Some(last)) => (first, last),
        (given, surname) => {
            let display = non_empty(user.display_name.as_deref())?;
            let (head, rest) = match display.split_once(char::is_whitespace) {
                Some((head, rest)) => (head, non_empty(Some(rest))),
                None => (display, None),
            };
            match (given, surname, rest) {
                (Some(first), None, Some(rest)) => (first, rest),
                (Some(first), None, None) => (first, head),
                (None, Some(last), _) => (head, last),
                (None, None, Some(rest)) => (head, rest),
                (None, None, None) | (Some(_), Some(_), _) => return None,
            }
        }
    };
    (usable_name(first) && usable_name(last)).then_some((first, last))
}

/// Names longer than this are refused (`NoName`): Password Boss and people read them.
pub const MAX_NAME_CHARS: usize = 256;

/// A name Password Boss may be given: not absurdly long, and without control characters or
/// invisible format characters (bidi overrides, zero-width characters) that disguise text.
fn usable_name(name: &str) -> bool {
    name.chars().count() <= MAX_NAME_CHARS && !crate::text::has_hidden_chars(name)
}

/// Whether Entra counts the user as enabled (`accountEnabled` absent counts as enabled).
pub(super) fn is_enabled(user: &EntraUser) -> bool {
    user.account_enabled != Some(false)
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(given: Option<&str>, surname: Option<&str>, display: Option<&str>) -> EntraUser {
        EntraUser {
            id: "u".into(),
            display_name: display.map(Into::into),
            given_name: given.map(Into::into),
            surname: surname.map(Into::into),
            mail: None,
            user_principal_name: None,
            account_enabled: None,
            user_type: None,
        }
    }

    type NameCase = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<(&'static str, &'static str)>,
    );

    #[test]
    fn names_with_hidden_characters_or_absurd_length_are_not_usable() {
        let long = "a".repeat(MAX_NAME_CHARS + 1);
        let fine = "b".repeat(MAX_NAME_CHARS);
        for bad in [
            "Ada\u{202E}",
            "Ada\0",
            "\u{2066}Ada",
            "Ad\u{200B}a",
            long.as_str(),
        ] {
            let u = user(Some(bad), Some("Lovelace"), None);
            assert_eq!(resolve_names(&u), None, "{bad:?}");
        }
        let u = user(Some(&fine), Some("Łukasz"), None);
        assert_eq!(resolve_names(&u), Some((fine.as_str(), "Łukasz")));
    }

    #[test]
    fn names_follow_rule_two() {
        let cases: &[NameCase] = &[
            (
                Some(" Ada "),
                Some(" Lovelace "),
                None,
                Some(("Ada", "Lovelace")),
            ),
            (
                None,
                None,
                Some(" Ada  King Lovelace "),
                Some(("Ada", "King Lovelace")),
            ),
            (
                Some("Ada"),
                None,
                Some("Countess of Lovelace"),
                Some(("Ada", "of Lovelace")),
            ),
            (
                Some("Ada"),
                Some(" "),
                Some("Lovelace"),
                Some(("Ada", "Lovelace")),
            ),
            (
                None,
                Some("Lovelace"),
                Some("Ada"),
                Some(("Ada", "Lovelace")),
            ),
            (
                None,
                Some("Lovelace"),
                Some("Ada B"),
                Some(("Ada", "Lovelace")),
            ),
            (None, None, Some("Reception"), None),
            (Some("Ada"), None, None, None),
            (None, None, Some("   "), None),
        ];
        for (given, surname, display, want) in cases {
            let user = user(*given, *surname, *display);
            assert_eq!(
                resolve_names(&user),
                *want,
                "given={given:?} surname={surname:?} display={display:?}"
            );
        }
    }

    proptest::proptest! {
        /// `EmailKey` equality and hashing agree with comparing `email_key`s.
        #[test]
        fn email_keys_compare_like_lowercase_emails(
            a in "[a-cA-C.@é]{0,70}",
            flips in proptest::collection::vec(proptest::bool::ANY, 70),
        ) {
            use std::hash::BuildHasher;
            // `b` is `a` with some letters' case flipped: the same key.
            let b: String = a
                .chars()
                .zip(flips.iter().chain(std::iter::repeat(&false)))
                .map(|(c, flip)| if *flip { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let hasher = foldhash::fast::FixedState::with_seed(7);
            proptest::prop_assert_eq!(EmailKey(&a), EmailKey(&b));
            proptest::prop_assert_eq!(hasher.hash_one(EmailKey(&a)), hasher.hash_one(EmailKey(&b)));
            let c = format!("{a}x");
            proptest::prop_assert_eq!(EmailKey(&a) == EmailKey(&c), email_key(&a) == email_key(&c));
        }

        /// Different keys hash differently (but for 64-bit collisions), including bytes that
        /// differ only in bit 5 without being letters (`^` and `~`, `é` and `É`), which would
        /// otherwise crowd a hash map's buckets. `b` is `a` with some characters swapped for their
        /// bit-5 twin, which is the same key only where they are ASCII letters.
        #[test]
        fn different_email_keys_hash_differently(
            a in "[aA^~éÉ@.]{0,12}",
            flips in proptest::collection::vec(proptest::bool::ANY, 12),
        ) {
            use std::hash::BuildHasher;
            let twin = |c: char| match c {
                'a' => 'A', 'A' => 'a', '^' => '~', '~' => '^', 'é' => 'É', 'É' => 'é', c => c,
            };
            let b: String = a
                .chars()
                .zip(flips.iter().chain(std::iter::repeat(&false)))
                .map(|(c, flip)| if *flip { twin(c) } else { c })
                .collect();
            let hasher = foldhash::fast::FixedState::with_seed(7);
            let same_hash = hasher.hash_one(EmailKey(&a)) == hasher.hash_one(EmailKey(&b));
            proptest::prop_assert_eq!(same_hash, email_key(&a) == email_key(&b));
        }
    }

    #[test]
    fn email_falls_back_to_upn_and_must_be_routable() {
        let mut u = user(None, None, None);
        u.mail = Some("  ".into());
        u.user_principal_name = Some(" Ada@Contoso.com ".into());
        assert_eq!(
            resolve_email(&u, EmailAttribute::Mail),
            Some("Ada@Contoso.com")
        );
        u.mail = Some("ada.l@contoso.com".into());
        assert_eq!(
            resolve_email(&u, EmailAttribute::Mail),
            Some("ada.l@contoso.com")
        );
        assert_eq!(
            resolve_email(&u, EmailAttribute::UserPrincipalName),
            Some("Ada@Contoso.com")
        );
        u.mail = Some("ada@contoso.local".into());
        assert_eq!(resolve_email(&u, EmailAttribute::Mail), None);
        u.user_principal_name = None;
        assert_eq!(resolve_email(&u, EmailAttribute::UserPrincipalName), None);
    }
}
