//! Subject transforms of imports: a subject matched by one pattern becomes
//! a subject of another, the wildcard tokens carried over. As nats-server
//! allows for imports, a destination token may be a literal, `*` (the
//! source's wildcards in order), `$N` or `{{wildcard(N)}}` (the source's
//! Nth `*`), or a final `>` (what the source's `>` matched).

use super::validate::is_valid_subject;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transform {
    from: Vec<Box<[u8]>>,
    to: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(Box<[u8]>),
    /// The source's Nth `*` (from 1).
    Wildcard(usize),
    /// What the source's `>` matched.
    Rest,
}

impl Transform {
    /// `from` → `to`; the error says why the pair cannot be a transform.
    pub fn new(from: &str, to: &str) -> Result<Transform, String> {
        if !is_valid_subject(from.as_bytes()) || !is_valid_subject(to.as_bytes()) {
            return Err("invalid subject".into());
        }
        let from: Vec<Box<[u8]>> = from.split('.').map(|t| t.as_bytes().into()).collect();
        let stars = from.iter().filter(|t| &***t == b"*").count();
        let ends_in_rest = from.last().is_some_and(|t| &**t == b">");
        let mut next_star = 0;
        let mut to_tokens = Vec::new();
        for t in to.split('.') {
            let token = if t == "*" {
                next_star += 1;
                Token::Wildcard(next_star)
            } else if t == ">" {
                Token::Rest
            } else if let Some(n) = wildcard_reference(t)? {
                Token::Wildcard(n)
            } else {
                Token::Literal(t.as_bytes().into())
            };
            match token {
                Token::Wildcard(n) if n == 0 || n > stars => {
                    return Err(format!(
                        "the destination refers to wildcard {n} and the source has {stars}"
                    ))
                }
                Token::Rest if !ends_in_rest => {
                    return Err("the destination has a '>' and the source does not".into())
                }
                _ => {}
            }
            to_tokens.push(token);
        }
        Ok(Transform {
            from,
            to: to_tokens,
        })
    }

    /// The subject `subject` (which the source matches) becomes; `None`
    /// when the source does not match it.
    pub fn apply(&self, subject: &[u8]) -> Option<Vec<u8>> {
        let tokens: Vec<&[u8]> = subject.split(|&b| b == b'.').collect();
        let mut stars: Vec<&[u8]> = Vec::new();
        let mut rest: &[u8] = &[];
        let mut i = 0;
        for p in &self.from {
            match &**p {
                b">" => {
                    if i >= tokens.len() {
                        return None;
                    }
                    let start = tokens[..i].iter().map(|t| t.len() + 1).sum::<usize>();
                    rest = &subject[start..];
                    i = tokens.len();
                    break;
                }
                b"*" => stars.push(*tokens.get(i)?),
                lit => {
                    if tokens.get(i) != Some(&lit) {
                        return None;
                    }
                }
            }
            i += 1;
        }
        if i != tokens.len() {
            return None;
        }
        let mut out = Vec::with_capacity(subject.len() + 16);
        for (n, t) in self.to.iter().enumerate() {
            if n > 0 {
                out.push(b'.');
            }
            match t {
                Token::Literal(l) => out.extend_from_slice(l),
                Token::Wildcard(w) => out.extend_from_slice(stars[w - 1]),
                Token::Rest => out.extend_from_slice(rest),
            }
        }
        Some(out)
    }
}

/// `$N` or `{{wildcard(N)}}` → `Some(N)`; another mapping function is an
/// error (imports allow only this one); anything else is a literal.
fn wildcard_reference(t: &str) -> Result<Option<usize>, String> {
    if let Some(n) = t.strip_prefix('$') {
        if let Ok(n) = n.parse() {
            return Ok(Some(n));
        }
        return Ok(None);
    }
    let Some(inner) = t.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")) else {
        return Ok(None);
    };
    let inner = inner.trim();
    let lower = inner.to_ascii_lowercase();
    if let Some(arg) = lower
        .strip_prefix("wildcard(")
        .and_then(|a| a.strip_suffix(')'))
    {
        return arg
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("invalid mapping function {t}"));
    }
    Err("the only mapping function allowed for import transforms is {{Wildcard()}}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(from: &str, to: &str, subject: &str) -> Option<String> {
        let t = Transform::new(from, to).unwrap();
        t.apply(subject.as_bytes())
            .map(|s| String::from_utf8(s).unwrap())
    }

    #[test]
    fn literals_and_prefixes() {
        assert_eq!(map("help", "a.help", "help").as_deref(), Some("a.help"));
        assert_eq!(map("help", "a.help", "other"), None);
        assert_eq!(
            map("pub.>", "froma.pub.>", "pub.x.y").as_deref(),
            Some("froma.pub.x.y")
        );
        assert_eq!(map("pub.>", "froma.pub.>", "pub"), None, "> needs a token");
    }

    #[test]
    fn wildcards_in_order_or_by_number() {
        assert_eq!(map("a.*.*", "b.*.*", "a.1.2").as_deref(), Some("b.1.2"));
        assert_eq!(map("a.*.*", "b.$2.$1", "a.1.2").as_deref(), Some("b.2.1"));
        assert_eq!(
            map("a.*.>", "{{wildcard(1)}}.x.>", "a.1.2.3").as_deref(),
            Some("1.x.2.3")
        );
        assert_eq!(map("a.*", "b.*", "a.1.2"), None);
        assert_eq!(map("a.*", "b.*", "x.1"), None);
    }

    #[test]
    fn impossible_pairs_are_refused() {
        assert!(Transform::new("a.*", "b.$2").is_err());
        assert!(Transform::new("a.*", "b.>").is_err());
        assert!(Transform::new("a.*", "b.{{partition(2,1)}}").is_err());
        assert!(Transform::new("a..b", "c").is_err());
    }
}
