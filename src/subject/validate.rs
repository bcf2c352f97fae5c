//! Subject and queue name validation, byte for byte as nats-server decides it.
//!
//! All functions work on raw bytes and never allocate.

/// The bytes nats-server refuses inside a subject: space, `\t`, `\n`, `\r`
/// and form feed. Vertical tab, NUL and non-ASCII bytes are accepted.
#[inline]
fn is_subject_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

/// A valid subject, wildcards allowed (nats-server's `IsValidSubject`).
///
/// Non-empty, made of non-empty tokens separated by `.` (so no leading,
/// trailing or doubled dot), no whitespace (space, tab, CR, LF, form feed),
/// and a `>` token only as the last token. `*` may be any token. `*` and `>`
/// inside a longer token (`a*b`, `>x`, `foo.>>`) are ordinary characters.
/// Bytes are not checked for UTF-8 validity.
pub fn is_valid_subject(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b == b'.' {
            // The token [start, i) just ended and another one follows, so it
            // may neither be empty nor be `>`.
            if i == start || (i - start == 1 && s[start] == b'>') {
                return false;
            }
            start = i + 1;
        } else if is_subject_space(b) {
            return false;
        }
    }
    start < s.len()
}

/// A subject with no empty token and no wildcard token (nats-server's
/// `IsValidLiteralSubject`, what pedantic mode checks a PUB subject with).
///
/// Like nats-server, this does not look for whitespace: the protocol parser
/// has already split the arguments on it. Use [`is_valid_publish_subject`]
/// for the stricter check.
pub fn is_valid_literal_subject(s: &[u8]) -> bool {
    let mut start = 0;
    for i in 0..=s.len() {
        if i == s.len() || s[i] == b'.' {
            let tok = &s[start..i];
            if tok.is_empty() || tok == b"*" || tok == b">" {
                return false;
            }
            start = i + 1;
        }
    }
    true
}

/// [`is_valid_subject`] and no wildcard token (nats-server's
/// `IsValidPublishSubject`).
pub fn is_valid_publish_subject(s: &[u8]) -> bool {
    is_valid_subject(s) && !has_wildcard(s)
}

/// Whether any whole token is `*` or `>` (nats-server's `subjectHasWildcard`).
///
/// Does not validate: `foo*` and `a.>b` have no wildcard.
#[inline]
pub fn has_wildcard(s: &[u8]) -> bool {
    let n = s.len();
    for (i, &b) in s.iter().enumerate() {
        if (b == b'*' || b == b'>')
            && (i == 0 || s[i - 1] == b'.')
            && (i + 1 == n || s[i + 1] == b'.')
        {
            return true;
        }
    }
    false
}

/// A valid queue group name: non-empty and free of the whitespace a subject
/// may not contain. Dots and `*`/`>` are allowed (queue names are opaque).
///
/// nats-server itself has no separate check (the parser splits on
/// whitespace); the clients refuse whitespace, and so does this.
pub fn is_valid_queue_name(q: &[u8]) -> bool {
    !q.is_empty() && !q.iter().any(|&b| is_subject_space(b))
}

/// Whether the subject has no empty token (and is not empty). This is all
/// the publish path requires before walking the index.
#[inline]
pub(crate) fn has_no_empty_tokens(s: &[u8]) -> bool {
    if s.is_empty() || s[0] == b'.' || s[s.len() - 1] == b'.' {
        return false;
    }
    !s.windows(2).any(|w| w == b"..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_subjects() {
        for s in [
            "foo",
            "foo.bar.*",
            "foo.bar.>",
            "*",
            ">",
            "*.*",
            "*.>",
            "foo*",
            "foo**",
            "foo.**",
            "foo*bar",
            "foo.*bar",
            "foo*.bar",
            "*bar",
            "foo>",
            "foo.>>",
            "foo>bar",
            "foo.>bar",
            "foo>.bar",
            ">bar",
            "foo.\u{e9}t\u{e9}",
            "a\u{0b}b",
            "a\0b",
        ] {
            assert!(is_valid_subject(s.as_bytes()), "{s:?} should be valid");
        }
        // Invalid UTF-8 is accepted (nats-server only checks runes on request).
        assert!(is_valid_subject(b"foo.\xff\xfe"));
    }

    #[test]
    fn invalid_subjects() {
        for s in [
            "",
            ".",
            "..",
            ".foo",
            "foo.",
            "foo..bar",
            ">.bar",
            "foo.>.bar",
            ">.>",
            "foo.>.*",
            "foo bar",
            "foo\tbar",
            "foo\nbar",
            "foo\rbar",
            "foo\x0cbar",
            " ",
            "\t",
            "foo. ",
            " .foo",
        ] {
            assert!(!is_valid_subject(s.as_bytes()), "{s:?} should be invalid");
        }
    }

    #[test]
    fn valid_literal_subjects() {
        for s in [
            "foo", "foo*", "foo**", "foo.**", "foo*bar", "foo.*bar", "foo*.bar", "*bar", "foo>",
            "foo>>", "foo.>>", "foo>bar", "foo.>bar", "foo>.bar", ">bar",
            // nats-server does not check whitespace here.
            "foo bar",
        ] {
            assert!(is_valid_literal_subject(s.as_bytes()), "{s:?}");
        }
        for s in [
            "",
            ".foo",
            "foo.",
            "foo..bar",
            "foo.bar.*",
            "foo.bar.>",
            "*",
            ">",
            "foo.*.bar",
        ] {
            assert!(!is_valid_literal_subject(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn valid_publish_subjects() {
        assert!(is_valid_publish_subject(b"foo.bar"));
        assert!(is_valid_publish_subject(b"foo.b*r"));
        assert!(!is_valid_publish_subject(b"foo.*"));
        assert!(!is_valid_publish_subject(b"foo.>"));
        assert!(!is_valid_publish_subject(b"foo bar"));
        assert!(!is_valid_publish_subject(b"foo..bar"));
    }

    #[test]
    fn subject_has_wildcard() {
        for s in ["*", ">", "foo.*", "foo.>", "foo.*.>", "foo.*.bar", "*.bar"] {
            assert!(has_wildcard(s.as_bytes()), "{s:?}");
        }
        for s in [
            "", "foo", "foo.bar", "foo*.bar", "foo.b*", ">bar", "foo.>>", "**",
        ] {
            assert!(!has_wildcard(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn queue_names() {
        for q in ["q", "workers", "a.b", "a..b", "*", ">", "w\u{e9}"] {
            assert!(is_valid_queue_name(q.as_bytes()), "{q:?}");
        }
        for q in ["", " ", "a b", "a\tb", "a\r", "\nb", "a\x0cb"] {
            assert!(!is_valid_queue_name(q.as_bytes()), "{q:?}");
        }
    }

    #[test]
    fn empty_tokens() {
        assert!(has_no_empty_tokens(b"a"));
        assert!(has_no_empty_tokens(b"a.b.c"));
        assert!(has_no_empty_tokens(b"*.>"));
        for s in ["", ".", "a.", ".a", "a..b"] {
            assert!(!has_no_empty_tokens(s.as_bytes()), "{s:?}");
        }
    }
}
