//! Matching one literal subject against one subscription pattern.

/// Splits off the first token: `(token, rest after the dot)`.
#[inline(always)]
pub(crate) fn split_token(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == b'.') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// Whether the published (literal) subject `literal` is matched by the
/// subscription subject `pattern`, exactly as the [`SubjectIndex`] would
/// deliver it.
///
/// In `pattern`, a whole `*` token matches any one token and a final whole
/// `>` token matches one or more tokens; everything else compares bytewise.
/// Tokens of `literal` are taken as plain bytes (a `*` token in it only
/// matches `*` or `>` in the pattern). A `literal` that is empty or has an
/// empty token matches nothing, as the index returns nothing for it.
///
/// [`SubjectIndex`]: super::SubjectIndex
pub fn subject_matches_pattern(literal: &[u8], pattern: &[u8]) -> bool {
    let (l, p) = (literal, pattern);
    if l.is_empty() || p.is_empty() {
        return false;
    }
    // One pass over both; `li` and `pi` sit at the start of a token.
    let (mut li, mut pi) = (0, 0);
    loop {
        let whole = pi + 1 == p.len() || p[pi + 1] == b'.';
        if whole && p[pi] == b'>' && pi + 1 == p.len() {
            // One or more (non-empty) tokens left in the literal.
            return super::validate::has_no_empty_tokens(&l[li..]);
        }
        let start = li;
        if whole && p[pi] == b'*' {
            while li < l.len() && l[li] != b'.' {
                li += 1;
            }
            pi += 1;
        } else {
            while pi < p.len() && p[pi] != b'.' {
                if li == l.len() || l[li] != p[pi] {
                    return false;
                }
                li += 1;
                pi += 1;
            }
            if li < l.len() && l[li] != b'.' {
                return false;
            }
        }
        if li == start {
            return false; // empty token
        }
        // Both at a '.' or at their end.
        match (pi == p.len(), li == l.len()) {
            (true, true) => return true,
            (false, false) => {
                pi += 1;
                li += 1;
                if pi == p.len() || li == l.len() {
                    return false; // trailing '.'
                }
            }
            _ => return false,
        }
    }
}

/// Whether every subject `sub` matches is matched by `pattern`. Unlike
/// nats-server, which matches a subscription's `>` token as if it were one
/// literal token (so `foo.*` there admits `SUB foo.>` and with it every
/// deeper subject), a `>` is covered only by a `>`.
pub fn pattern_covers(pattern: &[u8], sub: &[u8]) -> bool {
    let mut p = pattern.split(|&b| b == b'.');
    let mut s = sub.split(|&b| b == b'.');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(b">"), Some(_)) => return true,
            (Some(b"*"), Some(t)) if t != b">" => {}
            (Some(pt), Some(st)) if pt == st && pt != b"*" && pt != b">" => {}
            _ => return false,
        }
    }
}

/// Whether two patterns can match one subject.
pub fn patterns_collide(a: &[u8], b: &[u8]) -> bool {
    let mut a = a.split(|&c| c == b'.');
    let mut b = b.split(|&c| c == b'.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(b">"), Some(_)) | (Some(_), Some(b">")) => return true,
            (Some(x), Some(y)) if x == b"*" || y == b"*" || x == y => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(l: &str, p: &str) -> bool {
        subject_matches_pattern(l.as_bytes(), p.as_bytes())
    }

    #[test]
    fn match_literals() {
        assert!(m("foo", "foo"));
        assert!(!m("foo", "bar"));
        assert!(m("foo", "*"));
        assert!(m("foo", ">"));
        assert!(m("foo.bar", ">"));
        assert!(m("foo.bar", "foo.>"));
        assert!(!m("foo.bar", "bar.>"));
        assert!(m("stats.test.22", "stats.>"));
        assert!(m("stats.test.22", "stats.*.*"));
        assert!(!m("foo.bar", "foo"));
        assert!(m("stats.test.foos", "stats.test.foos"));
        assert!(!m("stats.test.foos", "stats.test.foo"));
        assert!(!m("stats.test", "stats.test.*"));
        assert!(!m("stats.test.foos", "stats.*"));
        assert!(!m("stats.test.foos", "stats.*.*.foos"));
        assert!(!m("foo", "foo.>"));
        assert!(!m("foo", "foo.*"));
        assert!(m("foo.bar.baz", "*.bar.*"));
        assert!(m("foo.bar.baz", "*.>"));
        assert!(!m("foo", "*.>"));
    }

    #[test]
    fn wildcard_characters_inside_tokens_are_literal() {
        for s in [
            "*bar",
            "foo*",
            "foo*bar",
            "foo.***.bar",
            ">bar",
            "foo>",
            "foo>bar",
            "foo.>>>.bar",
        ] {
            assert!(m(s, s), "{s:?}");
        }
        assert!(!m("foo.x", "foo.*x"));
        assert!(!m("foo.x", "foo.>x"));
        assert!(!m("foo.bar", "foo.*-"));
        assert!(!m("foo.bar", "foo.>-"));
    }

    #[test]
    fn invalid_literals_match_nothing() {
        for l in ["", ".", "foo.", ".foo", "foo..bar", "foo.bar."] {
            assert!(!m(l, ">"), "{l:?}");
            assert!(!m(l, "*.>"), "{l:?}");
            assert!(!m(l, "foo.>"), "{l:?}");
            assert!(!m(l, l), "{l:?}");
        }
        assert!(!m("foo", ""));
    }

    /// Straightforward token-split version of the same rules.
    fn reference(literal: &[u8], pattern: &[u8]) -> bool {
        let lt: Vec<&[u8]> = literal.split(|&b| b == b'.').collect();
        let pt: Vec<&[u8]> = pattern.split(|&b| b == b'.').collect();
        if literal.is_empty() || pattern.is_empty() || lt.iter().any(|t| t.is_empty()) {
            return false;
        }
        for (i, &ptok) in pt.iter().enumerate() {
            if ptok == b">" && i + 1 == pt.len() {
                return lt.len() > i;
            }
            match lt.get(i) {
                Some(&ltok) if ptok == b"*" || ptok == ltok => {}
                _ => return false,
            }
        }
        lt.len() == pt.len()
    }

    #[test]
    fn agrees_with_token_split_reference() {
        let mut rng = fastrand::Rng::with_seed(9);
        let parts: [&[u8]; 9] = [b"a", b"b", b"*", b">", b".", b"..", b"a*", b">b", b"ab"];
        let random = |rng: &mut fastrand::Rng| {
            let mut v = Vec::new();
            for _ in 0..rng.usize(0..7) {
                v.extend_from_slice(parts[rng.usize(..parts.len())]);
            }
            v
        };
        for _ in 0..200_000 {
            let l = random(&mut rng);
            let p = random(&mut rng);
            assert_eq!(
                subject_matches_pattern(&l, &p),
                reference(&l, &p),
                "literal {:?} pattern {:?}",
                String::from_utf8_lossy(&l),
                String::from_utf8_lossy(&p)
            );
        }
    }

    #[test]
    fn wildcard_tokens_in_literal() {
        // A published "foo.*" is a literal token "*": wildcards match it,
        // literal patterns other than itself do not.
        assert!(m("foo.*", "foo.*"));
        assert!(m("foo.*", "foo.>"));
        assert!(!m("foo.*", "foo.bar"));
        assert!(m("foo.>", "foo.*"));
    }
}
