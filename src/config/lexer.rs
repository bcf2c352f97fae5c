//! Character-level scanning of the nats-server configuration format: keys,
//! strings, numbers, comments, with line and column tracking. Which scanner
//! runs where is the parser's business (the format is context-sensitive:
//! the same characters are a key in one place and a value in another).
//! No IO here.

use std::path::Path;
use std::sync::Arc;

use super::error::ConfigError;
use super::value::{Pos, Value};

pub(crate) struct Cursor<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
    col: u32,
    file: Arc<Path>,
}

/// A scanned scalar, before variables are resolved.
pub(crate) enum Scalar {
    Value(Value),
    /// `$name`: resolved by the parser against the enclosing maps and the environment.
    Variable(String),
    /// A number with a size suffix nats-server does not know (`1kbb`): it
    /// sets no value, as in nats-server.
    Ignored,
}

/// What may end an unquoted value where it stands.
pub(crate) fn ends_unquoted(c: Option<u8>) -> bool {
    matches!(
        c,
        None | Some(b'\n' | b'\r' | b';' | b',' | b']' | b'}' | b' ' | b'\t')
    )
}

pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

pub(crate) fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

pub(crate) fn is_newline(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

/// Renders a character for an error message.
pub(crate) fn shown(c: Option<u8>) -> String {
    match c {
        None => "end of file".to_string(),
        Some(b'\n') => "\\n".to_string(),
        Some(b'\r') => "\\r".to_string(),
        Some(b'\t') => "\\t".to_string(),
        Some(c) if c.is_ascii_graphic() || c == b' ' => (c as char).to_string(),
        Some(c) => format!("\\x{c:02x}"),
    }
}

impl<'a> Cursor<'a> {
    pub fn new(src: &'a [u8], file: Arc<Path>) -> Self {
        Cursor {
            src,
            pos: 0,
            line: 1,
            col: 1,
            file,
        }
    }

    pub fn here(&self) -> Pos {
        Pos {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }

    /// An error about the character at the cursor. A new line is counted
    /// as nats-server counts it, on the line it starts, so both name the
    /// same line.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        let mut pos = self.here();
        if self.peek() == Some(b'\n') {
            pos.line += 1;
            pos.col = 1;
        }
        ConfigError::at(&pos, message)
    }

    /// The end of the file came before something opened at `open` was
    /// closed. Reported where the file ends (as nats-server does), naming
    /// where it was opened.
    pub fn unclosed(&self, open: &Pos, what: &str, closer: &str) -> ConfigError {
        self.error(format!(
            "unexpected end of file: the {what} opened at line {} column {} is never closed (missing '{closer}')",
            open.line, open.col
        ))
    }

    pub fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    pub fn peek_at(&self, n: usize) -> Option<u8> {
        self.src.get(self.pos + n).copied()
    }

    pub fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if c & 0xC0 != 0x80 {
            // Columns count characters, not the continuation bytes of UTF-8.
            self.col += 1;
        }
        Some(c)
    }

    pub fn at_eof(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// Skips spaces and tabs.
    pub fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.bump();
        }
    }

    /// Skips white space of every kind, new lines included.
    pub fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.bump();
        }
    }

    /// At `#` or `//`: true, with the comment consumed up to (not including)
    /// the end of its line.
    pub fn skip_comment(&mut self) -> bool {
        let starts = match self.peek() {
            Some(b'#') => true,
            Some(b'/') => self.peek_at(1) == Some(b'/'),
            _ => false,
        };
        if starts {
            while self.peek().is_some_and(|c| !is_newline(c)) {
                self.bump();
            }
        }
        starts
    }

    /// Skips white space, new lines and comments.
    pub fn skip_space_and_comments(&mut self) {
        loop {
            self.skip_space();
            if !self.skip_comment() {
                return;
            }
        }
    }

    /// A key: quoted with `"` or `'` (taken as written), or bare up to white
    /// space or a `=` / `:` separator. Returns the key and whether it was bare.
    pub fn scan_key(&mut self) -> Result<(String, bool), ConfigError> {
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                self.bump();
                let start = self.pos;
                loop {
                    match self.peek() {
                        None => {
                            return Err(self.error("unexpected end of file inside a quoted key"))
                        }
                        Some(c) if c == q => break,
                        Some(_) => {
                            self.bump();
                        }
                    }
                }
                let key = self.text(start, self.pos);
                self.bump();
                Ok((key, false))
            }
            _ => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if is_space(c) || c == b'=' || c == b':' {
                        break;
                    }
                    self.bump();
                }
                Ok((self.text(start, self.pos), true))
            }
        }
    }

    fn text(&self, start: usize, end: usize) -> String {
        String::from_utf8_lossy(&self.src[start..end]).into_owned()
    }

    /// A single-quoted string: everything up to the next `'`, no escapes.
    pub fn scan_single_quoted(&mut self) -> Result<String, ConfigError> {
        let open = self.here();
        self.bump();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b'\'' {
                let s = self.text(start, self.pos);
                self.bump();
                return Ok(s);
            }
            self.bump();
        }
        Err(self.unclosed(&open, "string", "'"))
    }

    /// A double-quoted string with escapes `\t \n \r \" \\ \xHH`.
    pub fn scan_double_quoted(&mut self) -> Result<String, ConfigError> {
        let open = self.here();
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.unclosed(&open, "string", "\"")),
                Some(b'"') => {
                    self.bump();
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => self.scan_escape(&mut out)?,
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
    }

    fn scan_escape(&mut self, out: &mut Vec<u8>) -> Result<(), ConfigError> {
        self.bump();
        let at = self.here();
        let c = self.bump();
        let plain = match c {
            Some(b't') => b'\t',
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'x') => {
                let hex = [self.bump(), self.bump()];
                let digit = |c: Option<u8>| c.and_then(|c| (c as char).to_digit(16));
                match (digit(hex[0]), digit(hex[1])) {
                    (Some(h), Some(l)) => (h * 16 + l) as u8,
                    _ => {
                        return Err(ConfigError::at(
                            &at,
                            "expected two hexadecimal digits after '\\x'",
                        ))
                    }
                }
            }
            other => {
                return Err(ConfigError::at(
                    &at,
                    format!(
                        "invalid escape character '{}': only \\xXX, \\t, \\n, \\r, \\\" and \\\\ are allowed",
                        shown(other)
                    ),
                ))
            }
        };
        out.push(plain);
        Ok(())
    }

    /// A `( ... )` block: the text up to a `)` alone on its line.
    pub fn scan_block(&mut self) -> Result<String, ConfigError> {
        let open = self.here();
        self.bump();
        let start = self.pos;
        while let Some(c) = self.bump() {
            if c == b'\n'
                && self.peek() == Some(b')')
                && matches!(self.peek_at(1), None | Some(b'\n'))
            {
                let s = self.text(start, self.pos - 1);
                self.bump();
                return Ok(s);
            }
        }
        Err(self.unclosed(&open, "block", ")"))
    }

    /// An unquoted value: up to a new line, `;`, `,`, `]`, `}` or white
    /// space, with escapes. Words of the boolean spellings are booleans and
    /// `$name` is a variable.
    pub fn scan_unquoted(&mut self) -> Result<Scalar, ConfigError> {
        self.scan_unquoted_after(Vec::new())
    }

    /// An unquoted value whose first bytes, `prefix`, are already read.
    fn scan_unquoted_after(&mut self, mut out: Vec<u8>) -> Result<Scalar, ConfigError> {
        let mut escaped = false;
        loop {
            let c = self.peek();
            if ends_unquoted(c) {
                break;
            }
            match c {
                Some(b'\\') => {
                    self.scan_escape(&mut out)?;
                    escaped = true;
                }
                Some(b'\'') => {
                    // nats-server ends an unquoted string at a quote and drops it.
                    self.bump();
                    break;
                }
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
                None => unreachable!(),
            }
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        if !escaped {
            match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => return Ok(Scalar::Value(Value::Bool(true))),
                "false" | "no" | "off" => return Ok(Scalar::Value(Value::Bool(false))),
                _ => {}
            }
            if let Some(name) = text.strip_prefix('$') {
                return Ok(Scalar::Variable(name.to_string()));
            }
        }
        Ok(Scalar::Value(Value::String(text)))
    }

    /// A value starting with a digit or `-`: an integer (with an optional
    /// size suffix), a float, a date-time, an address (`127.0.0.1:4222`) or,
    /// as nats-server does, an unquoted string that merely starts with a
    /// digit (`2s`, `100ms`).
    pub fn scan_number(&mut self) -> Result<Scalar, ConfigError> {
        let start = self.pos;
        let mark = (self.pos, self.line, self.col);
        let negative = self.peek() == Some(b'-');
        if negative {
            self.bump();
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {}
                Some(b'.') => return Err(self.error("floats must start with a digit, not '.'")),
                other => {
                    return Err(self.error(format!("expected a digit but got '{}'", shown(other))))
                }
            }
        }
        let mut digits = 0;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            digits += 1;
        }
        match self.peek() {
            Some(b'-') if !negative => {
                if digits != 4 {
                    return Err(self
                        .error("dates must be in full ISO 8601 Zulu form (2006-01-02T15:04:05Z)"));
                }
                return self.scan_datetime(start);
            }
            Some(b'.') => {
                self.bump();
                if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(self.error(format!(
                        "floats must have a digit after the '.', but got '{}'",
                        shown(self.peek())
                    )));
                }
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
                if self.peek() == Some(b'.') && !negative {
                    // Not a float after all: an address such as 127.0.0.1:4222.
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b':' | b'-'))
                    {
                        self.bump();
                    }
                    return Ok(Scalar::Value(Value::String(self.text(start, self.pos))));
                }
                let text = self.text(start, self.pos);
                let f: f64 = text
                    .parse()
                    .map_err(|_| self.error(format!("'{text}' is not a valid float")))?;
                return Ok(Scalar::Value(Value::Float(f)));
            }
            Some(c) if is_size_suffix(c) => {
                self.bump();
                while self
                    .peek()
                    .is_some_and(|c| matches!(c, b'b' | b'B' | b'i' | b'I'))
                {
                    self.bump();
                }
                if negative || ends_number(self.peek()) {
                    return self.integer(start, mark);
                }
            }
            c if ends_number(c) || negative => return self.integer(start, mark),
            Some(_) => {
                // Digits then something else (`2s`, `100ms`): an unquoted
                // string. As in nats-server, the character that ended the
                // digits belongs to the string whatever it is, even a `]`.
                let mut prefix = self.src[start..self.pos].to_vec();
                prefix.extend(self.bump());
                return self.scan_unquoted_after(prefix);
            }
            None => unreachable!("end of input ends a number"),
        }
        // A size suffix followed by more letters (`100ms`): an unquoted string.
        self.rewind(mark);
        self.scan_unquoted()
    }

    fn rewind(&mut self, mark: (usize, u32, u32)) {
        (self.pos, self.line, self.col) = mark;
    }

    fn integer(&mut self, start: usize, mark: (usize, u32, u32)) -> Result<Scalar, ConfigError> {
        let text = self.text(start, self.pos);
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(text.len());
        let (num, suffix) = text.split_at(split);
        let at = Pos {
            file: self.file.clone(),
            line: mark.1,
            col: mark.2,
        };
        let n: i64 = num
            .parse()
            .map_err(|_| ConfigError::at(&at, format!("integer '{text}' is out of range")))?;
        let Some(mult) = size_multiplier(suffix) else {
            return Ok(Scalar::Ignored);
        };
        n.checked_mul(mult)
            .map(|v| Scalar::Value(Value::Integer(v)))
            .ok_or_else(|| ConfigError::at(&at, format!("integer '{text}' is out of range")))
    }

    fn scan_datetime(&mut self, start: usize) -> Result<Scalar, ConfigError> {
        // "YYYY" read; now "-MM-DDTHH:MM:SSZ".
        const SHAPE: &[u8] = b"-00-00T00:00:00Z";
        for &want in SHAPE {
            let c = self.peek();
            let ok = match want {
                b'0' => c.is_some_and(|c| c.is_ascii_digit()),
                _ => c == Some(want),
            };
            if !ok {
                return Err(self.error(format!(
                    "expected '{}' in ISO 8601 date-time, but found '{}'",
                    if want == b'0' {
                        "digit".to_string()
                    } else {
                        (want as char).to_string()
                    },
                    shown(c)
                )));
            }
            self.bump();
        }
        Ok(Scalar::Value(Value::Datetime(self.text(start, self.pos))))
    }
}

fn is_size_suffix(c: u8) -> bool {
    matches!(
        c.to_ascii_lowercase(),
        b'k' | b'm' | b'g' | b't' | b'p' | b'e'
    )
}

/// Characters after which a number is complete. Not `]`: nats-server
/// reads `[1, 2]` as the number 1 and the string "2]", and so do we.
fn ends_number(c: Option<u8>) -> bool {
    matches!(
        c,
        None | Some(b'\n' | b'\r' | b';' | b',' | b'}' | b' ' | b'\t' | b'0'..=b'9')
    )
}

/// nats-server's size suffixes: `k` is 1000, `kb`/`ki`/`kib` 1024, and so on
/// up to `e` (exa). Case does not matter.
pub(crate) fn size_multiplier(suffix: &str) -> Option<i64> {
    let s = suffix.to_ascii_lowercase();
    let (unit, binary) = match s.len() {
        0 => return Some(1),
        1 => (s.as_bytes()[0], false),
        _ if matches!(&s[1..], "b" | "i" | "ib") => (s.as_bytes()[0], true),
        _ => return None,
    };
    let power = match unit {
        b'k' => 1,
        b'm' => 2,
        b'g' => 3,
        b't' => 4,
        b'p' => 5,
        b'e' => 6,
        _ => return None,
    };
    Some(if binary {
        1i64 << (10 * power)
    } else {
        10i64.pow(3 * power)
    })
}
