//! Configuration errors. Every error names the file, line and column it is
//! about, followed by a sentence a person understands.

use std::fmt;

use super::value::Pos;

#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// Where the fault is; `None` only for faults about no place in a file
    /// (a file that cannot be opened, a flag on the command line).
    pub pos: Option<Pos>,
    pub message: String,
}

impl ConfigError {
    pub fn at(pos: &Pos, message: impl Into<String>) -> Self {
        ConfigError {
            pos: Some(pos.clone()),
            message: message.into(),
        }
    }

    pub fn general(message: impl Into<String>) -> Self {
        ConfigError {
            pos: None,
            message: message.into(),
        }
    }

    pub fn line(&self) -> Option<u32> {
        self.pos.as_ref().map(|p| p.line)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pos {
            Some(pos) => write!(f, "{pos}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// All the faults found in one file: nats-server reports every one it finds,
/// not only the first, and so do we.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
