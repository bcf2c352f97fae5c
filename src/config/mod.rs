//! nats-server's configuration format and the options it sets.
//!
//! `lexer` and `parser` turn text into a [`Map`] of values with positions;
//! `options` and `blocks` read typed [`Options`] out of it with nats-server's
//! keys and rules; `validate` holds the rules nats-server checks only when
//! it starts; `cli` lays command-line flags over the file. Nothing here
//! opens a socket; only `include` reads files.

mod blocks;
pub mod cli;
pub mod error;
mod lexer;
pub mod options;
pub mod parser;
#[cfg(test)]
mod parser_tests;
mod read;
mod validate;
pub mod value;

pub use cli::{Cli, IoMode};
pub use error::{ConfigError, ConfigErrors};
pub use options::Options;
pub use parser::{parse_file, parse_str};
pub use read::{is_bcrypt, parse_go_duration};
pub use value::{Item, Map, Pos, Value};
