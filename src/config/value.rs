//! The value tree a configuration file parses into: maps, arrays and scalars,
//! each remembering where it was written so later checks can point at it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where something was written: file, 1-based line and 1-based column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<Path>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// An ISO 8601 Zulu date-time, kept as written (no option takes one).
    Datetime(String),
    Array(Vec<Item>),
    Map(Map),
}

impl Value {
    /// The name of the value's type, as used in error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }
}

/// A value and where it stands. For a map entry, `pos` is the key's position,
/// which is what errors about the entry point at (as nats-server does).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub value: Value,
    pub pos: Pos,
}

/// Entries of a map in the order written. A key written twice keeps its
/// first place and its last value, as nats-server keeps the last value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub item: Item,
    /// Set when a `$key` reference used this entry as a variable: such an
    /// entry is not reported as an unknown field.
    pub used_as_variable: bool,
}

impl Map {
    pub fn insert(&mut self, key: String, item: Item) {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(e) => e.item = item,
            None => self.entries.push(Entry {
                key,
                item,
                used_as_variable: false,
            }),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Item> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.item)
    }

    /// Looks a variable up and marks the entry as used.
    pub(crate) fn take_variable(&mut self, key: &str) -> Option<Value> {
        let e = self.entries.iter_mut().find(|e| e.key == key)?;
        e.used_as_variable = true;
        Some(e.item.value.clone())
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
