//! The one way text from a remote server (or from a directory: names, emails) is made fit for a
//! status, an Event, a log line or a terminal: control and Unicode format characters (bidi
//! overrides, zero-width characters…) are removed and the text is cut to a bounded length.

/// Remote text is cut to this many characters (an ellipsis marks the cut).
pub const MAX_REMOTE_TEXT_CHARS: usize = 512;

/// Unicode format characters (general category Cf) and the line/paragraph separators: invisible
/// characters that can reorder or hide what a person reads.
const FORMAT_RANGES: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// A control character or an invisible format character.
pub fn is_hidden_char(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    let code = c as u32;
    FORMAT_RANGES
        .iter()
        .any(|&(first, last)| (first..=last).contains(&code))
}

/// Whether `s` holds any character `is_hidden_char` names.
pub fn has_hidden_chars(s: &str) -> bool {
    s.chars().any(is_hidden_char)
}

/// `s` without hidden characters (tabs and line breaks become spaces), at most
/// `MAX_REMOTE_TEXT_CHARS` characters.
pub fn remote_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_REMOTE_TEXT_CHARS * 4));
    let mut kept = 0;
    for c in s.chars() {
        let c = match c {
            '\t' | '\n' | '\r' => ' ',
            c if is_hidden_char(c) => continue,
            c => c,
        };
        if kept == MAX_REMOTE_TEXT_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        kept += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_overrides_zero_width_and_controls_are_removed() {
        let text = "evil\u{202E}gpj.exe\u{200B}\u{2066}x\u{0007}\u{1b}[31m\0y\r\nz\u{feff}";
        assert_eq!(remote_text(text), "evilgpj.exex[31my  z");
        for c in [
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200D}',
            '\u{E0041}',
        ] {
            assert!(is_hidden_char(c), "{:04X}", c as u32);
        }
        assert!(!has_hidden_chars("Zoë Ångström-Łukasz 山田"));
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let cut = remote_text(&"x".repeat(10_000));
        assert_eq!(cut.chars().count(), MAX_REMOTE_TEXT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(
            remote_text(&"y".repeat(MAX_REMOTE_TEXT_CHARS)).len(),
            MAX_REMOTE_TEXT_CHARS
        );
    }
}
