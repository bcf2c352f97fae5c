//! The nats-server configuration format, parsed into a [`Map`] of values:
//! `key = value`, `key: value` or `key value`; maps `{}` and arrays `[]`;
//! `#` and `//` comments; quoted and bare strings; numbers with size
//! suffixes; `include` of other files (relative to the including file); and
//! `$variables` resolved against enclosing maps, then the environment.
//!
//! Reads files only to follow `include`; everything else is pure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::ConfigError;
use super::lexer::{is_blank, is_newline, shown, Cursor, Scalar};
use super::value::{Item, Map, Pos, Value};

/// How deep includes may nest before we call it a cycle.
const MAX_INCLUDE_DEPTH: usize = 16;
/// How deep maps and arrays may nest: keeps hostile input from exhausting the stack.
const MAX_NESTING: usize = 64;

/// Parses a configuration file.
pub fn parse_file(path: &Path) -> Result<Map, ConfigError> {
    parse_file_at_depth(path, 0, None)
}

fn parse_file_at_depth(path: &Path, depth: usize, from: Option<&Pos>) -> Result<Map, ConfigError> {
    let data = std::fs::read(path).map_err(|e| {
        let message = format!("cannot read configuration file {}: {e}", path.display());
        match from {
            Some(pos) => ConfigError::at(pos, message),
            None => ConfigError::general(message),
        }
    })?;
    Parser::new(&data, Arc::from(path), depth).parse()
}

/// Parses configuration text; `file` names it in errors and anchors includes.
pub fn parse_str(text: &str, file: &Path) -> Result<Map, ConfigError> {
    Parser::new(text.as_bytes(), Arc::from(file), 0).parse()
}

/// Where a value stands decides what may follow it.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    Top,
    Map,
}

struct Parser<'a> {
    cur: Cursor<'a>,
    dir: PathBuf,
    include_depth: usize,
    /// The maps being built, outermost first: the scopes variables resolve in.
    scopes: Vec<Map>,
    pending_keys: Vec<(String, Pos)>,
    nesting: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a [u8], file: Arc<Path>, include_depth: usize) -> Self {
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Parser {
            cur: Cursor::new(src, file),
            dir,
            include_depth,
            scopes: Vec::new(),
            pending_keys: Vec::new(),
            nesting: 0,
        }
    }

    fn parse(mut self) -> Result<Map, ConfigError> {
        self.scopes.push(Map::default());
        loop {
            self.cur.skip_space_and_comments();
            match self.cur.peek() {
                None => break,
                // nats-server lets the whole file be wrapped in braces.
                Some(b'{' | b'}') => {
                    self.cur.bump();
                }
                Some(_) => self.entry(Context::Top)?,
            }
        }
        Ok(self.scopes.pop().unwrap_or_default())
    }

    /// One `key [sep] value` (or `include path`) inside the innermost map.
    fn entry(&mut self, ctx: Context) -> Result<(), ConfigError> {
        let key_pos = self.cur.here();
        if matches!(self.cur.peek(), Some(b'=' | b':')) {
            return Err(self.cur.error(format!(
                "unexpected key separator '{}' where a key was expected",
                shown(self.cur.peek())
            )));
        }
        if ctx == Context::Map && self.cur.peek() == Some(b']') {
            return Err(self.cur.error("unexpected ']' inside a map"));
        }
        let (key, bare) = self.cur.scan_key()?;
        if bare && key.eq_ignore_ascii_case("include") && self.cur.peek().is_some_and(lexer_space) {
            self.include(&key_pos)?;
            return self.value_end(ctx);
        }
        if ctx == Context::Map && self.cur.at_eof() {
            return Err(self
                .cur
                .error("unexpected end of file inside a map (missing '}')"));
        }
        // After a key: any white space, new lines included, then an optional separator.
        self.cur.skip_space();
        if matches!(self.cur.peek(), Some(b'=' | b':')) {
            self.cur.bump();
        } else if self.cur.at_eof() {
            // A key with nothing after it sets nothing (as in nats-server).
            return Ok(());
        }
        // Keys wait on a stack until their value is set, as in nats-server:
        // a value that sets nothing (`1kbb`) leaves its key behind, and the
        // enclosing map is then stored under that key.
        self.pending_keys.push((key, key_pos));
        if let Some(value) = self.value()? {
            let (key, pos) = self.pending_keys.pop().expect("a key was pushed");
            self.scope().insert(key, Item { value, pos });
        }
        self.value_end(ctx)
    }

    fn scope(&mut self) -> &mut Map {
        self.scopes.last_mut().expect("a map scope is always open")
    }

    /// What may follow a value in a map or at the top level: blanks, then a
    /// comment, a new line, `;`, `,`, or the end of the enclosing map.
    fn value_end(&mut self, ctx: Context) -> Result<(), ConfigError> {
        self.cur.skip_blanks();
        if self.cur.skip_comment() {
            return Ok(());
        }
        match self.cur.peek() {
            Some(c) if is_newline(c) => Ok(()),
            Some(b';' | b',') => {
                self.cur.bump();
                Ok(())
            }
            Some(b'}') => Ok(()),
            None if ctx == Context::Top => Ok(()),
            None => Err(self.cur.error("unexpected end of file inside a map (missing '}')")),
            other => Err(self.cur.error(match ctx {
                Context::Top => format!(
                    "expected a new line, comment or end of file after a top-level value, but got '{}'",
                    shown(other)
                ),
                Context::Map => format!(
                    "expected ',' or '}}' after a value in a map, but got '{}'",
                    shown(other)
                ),
            })),
        }
    }

    /// A value after its key and separator. `None` when it sets nothing.
    fn value(&mut self) -> Result<Option<Value>, ConfigError> {
        self.cur.skip_blanks();
        let at = self.cur.here();
        let scalar = match self.cur.peek() {
            Some(b'[') => return self.array().map(Some),
            Some(b'{') => return self.map().map(Some),
            Some(b'\'') => Scalar::Value(Value::String(self.cur.scan_single_quoted()?)),
            Some(b'"') => Scalar::Value(Value::String(self.cur.scan_double_quoted()?)),
            Some(b'(') => Scalar::Value(Value::String(self.cur.scan_block()?)),
            Some(b'-') => self.cur.scan_number()?,
            Some(c) if c.is_ascii_digit() => self.cur.scan_number()?,
            Some(b'.') => return Err(self.cur.error("floats must start with a digit, not '.'")),
            Some(c) if is_newline(c) => {
                return Err(self.cur.error("expected a value but found a new line"))
            }
            _ => self.cur.scan_unquoted()?,
        };
        match scalar {
            Scalar::Value(v) => Ok(Some(v)),
            Scalar::Variable(name) => self.resolve(&name, &at).map(Some),
            Scalar::Ignored => Ok(None),
        }
    }

    fn nest(&mut self) -> Result<(), ConfigError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self
                .cur
                .error(format!("maps and arrays nest more than {MAX_NESTING} deep")));
        }
        Ok(())
    }

    fn map(&mut self) -> Result<Value, ConfigError> {
        let open = self.cur.here();
        self.nest()?;
        self.cur.bump();
        self.scopes.push(Map::default());
        loop {
            self.cur.skip_space_and_comments();
            match self.cur.peek() {
                None => return Err(self.cur.unclosed(&open, "map", "}")),
                Some(b'}') => {
                    self.cur.bump();
                    break;
                }
                Some(b',') => {
                    return Err(self.cur.error("unexpected ',' where a key was expected"))
                }
                Some(_) => self.entry(Context::Map)?,
            }
        }
        self.nesting -= 1;
        Ok(Value::Map(self.scopes.pop().unwrap_or_default()))
    }

    fn array(&mut self) -> Result<Value, ConfigError> {
        let open = self.cur.here();
        self.nest()?;
        self.cur.bump();
        let mut items = Vec::new();
        loop {
            self.cur.skip_space_and_comments();
            match self.cur.peek() {
                None => return Err(self.cur.unclosed(&open, "array", "]")),
                Some(b']') => {
                    self.cur.bump();
                    break;
                }
                Some(b',') => {
                    return Err(self
                        .cur
                        .error("unexpected ',' where an array value was expected"))
                }
                Some(_) => {}
            }
            let pos = self.cur.here();
            if let Some(value) = self.value()? {
                items.push(Item { value, pos });
            }
            // After a value: blanks, then ',' or a new line, ']' or a comment.
            self.cur.skip_blanks();
            if self.cur.skip_comment() {
                continue;
            }
            match self.cur.peek() {
                Some(b',') => {
                    self.cur.bump();
                }
                Some(c) if is_newline(c) => {}
                Some(b']') => {}
                None => continue,
                other => {
                    return Err(self.cur.error(format!(
                        "expected ',' or ']' after a value in an array, but got '{}'",
                        shown(other)
                    )))
                }
            }
        }
        self.nesting -= 1;
        Ok(Value::Array(items))
    }

    /// `include path`: the included file's keys join the current map.
    fn include(&mut self, at: &Pos) -> Result<(), ConfigError> {
        self.cur.skip_blanks();
        let path = match self.cur.peek() {
            Some(b'\'') => self.cur.scan_single_quoted()?,
            Some(b'"') => {
                // Taken as written, without escapes, as nats-server does.
                let open = self.cur.here();
                self.cur.bump();
                let mut s = Vec::new();
                loop {
                    match self.cur.bump() {
                        Some(b'"') => break,
                        Some(c) => s.push(c),
                        None => return Err(self.cur.unclosed(&open, "include path", "\"")),
                    }
                }
                String::from_utf8_lossy(&s).into_owned()
            }
            Some(c @ (b'[' | b'{' | b'(' | b'-' | b'\\' | b'0'..=b'9' | b'\n' | b'\r')) => {
                return Err(self.cur.error(format!(
                    "expected a file name after include, but got '{}'",
                    shown(Some(c))
                )))
            }
            None => return Err(self.cur.error("expected a file name after include")),
            Some(_) => {
                let mut s = Vec::new();
                while let Some(c) = self.cur.peek() {
                    if is_newline(c) || is_blank(c) || c == b';' || c == b'}' {
                        break;
                    }
                    self.cur.bump();
                    if c == b'\'' {
                        break;
                    }
                    s.push(c);
                }
                String::from_utf8_lossy(&s).into_owned()
            }
        };
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::at(
                at,
                format!("includes nest more than {MAX_INCLUDE_DEPTH} deep (does '{path}' include itself?)"),
            ));
        }
        let full = self.dir.join(&path);
        let included = parse_file_at_depth(&full, self.include_depth + 1, Some(at))?;
        let scope = self.scope();
        for entry in included.entries() {
            scope.insert(entry.key.clone(), entry.item.clone());
        }
        Ok(())
    }

    /// `$name`: the nearest enclosing map's earlier entry of that name, else
    /// the environment variable, parsed as a configuration value.
    fn resolve(&mut self, name: &str, at: &Pos) -> Result<Value, ConfigError> {
        // A bare bcrypt hash ($2a$...) is a string, not a variable.
        if name.starts_with("2a$") || name.starts_with("2b$") || name.starts_with("2y$") {
            return Ok(Value::String(format!("${name}")));
        }
        for scope in self.scopes.iter_mut().rev() {
            if let Some(v) = scope.take_variable(name) {
                return Ok(v);
            }
        }
        if let Ok(text) = std::env::var(name) {
            let env_file: Arc<Path> = Arc::from(Path::new(&format!("${name}")));
            let src = format!("pk={text}");
            if let Ok(map) = Parser::new(src.as_bytes(), env_file, MAX_INCLUDE_DEPTH).parse() {
                if let Some(item) = map.get("pk") {
                    return Ok(item.value.clone());
                }
            }
        }
        Err(ConfigError::at(
            at,
            format!("variable reference for '{name}' can not be found (define it earlier in the file or in the environment)"),
        ))
    }
}

fn lexer_space(c: u8) -> bool {
    super::lexer::is_space(c)
}
