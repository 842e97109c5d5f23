//! Text that must fit a limit.
//!
//! A notification's title becomes an email subject and a push alert; its
//! parts (a lead's name, up to 200 characters) come from website forms. The
//! leads service builds notification text to fit the notifier's limits, and
//! the notifier shortens anything still too long instead of refusing it: a
//! valid lead must always produce a bell.
//!
//! Limits count Unicode scalar values (`char`s), as every validator in
//! leadflow does. Cuts fall on extended grapheme-cluster boundaries
//! (UAX #29), so a ZWJ emoji family, a flag or a letter with combining marks
//! is kept whole or dropped whole, never split into something else.

use std::borrow::Cow;

use unicode_segmentation::UnicodeSegmentation;

/// What marks a cut.
pub const ELLIPSIS: &str = "…";

/// The notifier's limits, in characters. The leads service builds text to
/// fit them; the notifier shortens what does not.
pub mod notify {
    /// A title (it becomes an email subject and a push alert's title).
    pub const MAX_TITLE_CHARS: usize = 200;
    /// A body.
    pub const MAX_BODY_CHARS: usize = 2_000;
    /// A lead's name as a notification carries it (the leads service's own
    /// limit for a name is the same).
    pub const MAX_NAME_CHARS: usize = 200;
    /// A recipient's display name.
    pub const MAX_DISPLAY_NAME_CHARS: usize = 200;
}

/// `text` if it has at most `max_chars` characters; otherwise its longest
/// prefix of whole grapheme clusters that, with [`ELLIPSIS`] appended, has at
/// most `max_chars` characters. With `max_chars` 0 the result is empty.
pub fn fit(text: &str, max_chars: usize) -> Cow<'_, str> {
    if text.chars().count() <= max_chars {
        return Cow::Borrowed(text);
    }
    let Some(budget) = max_chars.checked_sub(ELLIPSIS.chars().count()) else {
        return Cow::Borrowed("");
    };
    let mut end = 0;
    let mut used = 0;
    for (at, grapheme) in text.grapheme_indices(true) {
        let chars = grapheme.chars().count();
        if used + chars > budget {
            break;
        }
        used += chars;
        end = at + grapheme.len();
    }
    // No dangling space before the ellipsis ("Jane …" reads as a typo).
    let kept = text[..end].trim_end();
    Cow::Owned(format!("{kept}{ELLIPSIS}"))
}

/// Like [`fit`], for a byte budget (a push payload's limit is in bytes).
pub fn fit_bytes(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let Some(budget) = max_bytes.checked_sub(ELLIPSIS.len()) else {
        return Cow::Borrowed("");
    };
    let mut end = 0;
    for (at, grapheme) in text.grapheme_indices(true) {
        if at + grapheme.len() > budget {
            break;
        }
        end = at + grapheme.len();
    }
    let kept = text[..end].trim_end();
    Cow::Owned(format!("{kept}{ELLIPSIS}"))
}

/// `template` with `{}` replaced by `part`, where `part` is shortened (see
/// [`fit`]) just enough that the whole has at most `max_chars` characters.
/// The fixed words around the part are kept: "Lead assigned to you: Jane
/// Do… (Website)" rather than a title cut before its source.
pub fn fit_into(template: &str, part: &str, max_chars: usize) -> String {
    let (before, after) = template.split_once("{}").unwrap_or((template, ""));
    let fixed = before.chars().count() + after.chars().count();
    let room = max_chars.saturating_sub(fixed);
    let whole = format!("{before}{}{after}", fit(part, room));
    // The fixed words alone may be over the limit (a caller's bug, but the
    // result must still fit).
    fit(&whole, max_chars).into_owned()
}

/// What every service accepts as a user or lead id, in its error messages.
pub const ID_RULE: &str = "must be 1 to 128 printable characters without spaces";

/// Whether `id` is a user or lead id as routing and the notifier accept them
/// ([`ID_RULE`]): ids travel in URLs, logs and Redis keys, so no spaces or
/// control characters, and a bounded length.
pub fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_printable() {
        assert!(is_id("u-1@example.com"));
        assert!(!is_id(""));
        assert!(!is_id("a b"));
        assert!(!is_id("a\u{7}"));
        assert!(is_id(&"x".repeat(128)));
        assert!(!is_id(&"x".repeat(129)));
    }

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    #[test]
    fn short_text_is_untouched() {
        assert!(matches!(fit("Jane Doe", 200), Cow::Borrowed("Jane Doe")));
        assert_eq!(fit("", 0), "");
        assert_eq!(fit("abc", 3), "abc");
    }

    #[test]
    fn ascii_is_cut_with_an_ellipsis_within_the_limit() {
        let name = "a".repeat(200);
        let cut = fit(&name, 50);
        assert_eq!(chars(&cut), 50);
        assert!(cut.ends_with(ELLIPSIS));
        assert!(cut.starts_with(&"a".repeat(49)));
        assert_eq!(fit("Jane Doe", 6), "Jane…", "no space before the ellipsis");
        assert_eq!(fit("abcdef", 1), "…");
        assert_eq!(fit("abcdef", 0), "");
    }

    #[test]
    fn cjk_counts_characters_not_bytes() {
        let name = "山田太郎".repeat(50); // 200 characters, 600 bytes
        let cut = fit(&name, 120);
        assert_eq!(chars(&cut), 120);
        assert!(cut.ends_with(ELLIPSIS));
        let bytes = fit_bytes(&name, 100);
        assert!(bytes.len() <= 100);
        assert!(bytes.ends_with(ELLIPSIS));
        assert_eq!(
            bytes.len(),
            32 * 3 + ELLIPSIS.len(),
            "32 ideographs and the ellipsis"
        );
    }

    #[test]
    fn zwj_emoji_and_flags_are_never_split() {
        // 👨‍👩‍👧‍👦 is 7 chars (4 people, 3 ZWJs); 🇫🇷 is 2 regional indicators.
        let family = "👨\u{200d}👩\u{200d}👧\u{200d}👦";
        let flag = "🇫🇷";
        let name = format!("{family}{flag}").repeat(30);
        for max in 1..60 {
            let cut = fit(&name, max);
            assert!(chars(&cut) <= max, "{max}: {cut}");
            let kept = cut.trim_end_matches(ELLIPSIS);
            // What is kept is whole clusters: re-segmenting gives only
            // whole families and whole flags.
            for g in kept.graphemes(true) {
                assert!(g == family || g == flag, "{max}: split cluster {g:?}");
            }
        }
        let cut = fit(&name, 10);
        assert_eq!(cut, format!("{family}{flag}…"));
        // A letter with a combining accent stays together.
        assert_eq!(fit("e\u{301}e\u{301}e\u{301}", 4), "e\u{301}…");
    }

    #[test]
    fn a_part_is_fitted_into_its_template() {
        let name = "n".repeat(200);
        let title = fit_into("Lead assigned to you: {} (Website)", &name, 200);
        assert_eq!(chars(&title), 200);
        assert!(title.starts_with("Lead assigned to you: nnn"));
        assert!(title.ends_with("n… (Website)"));
        assert_eq!(fit_into("New lead: {}", "Jane", 200), "New lead: Jane");
        assert_eq!(chars(&fit_into(&"x".repeat(300), "y", 200)), 200);
    }
}
