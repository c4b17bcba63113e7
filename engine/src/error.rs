//! Typed outcomes of shard operations, mapped to Redis's wire error text in one place.

use std::borrow::Cow;

/// What went wrong in a command. [`OpError::message`] is the only place that knows the wire text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    WrongType,
    NotInteger,
    NotFloat,
    Overflow,
    Syntax,
    NoSuchKey,
    IndexOutOfRange,
    OutOfMemory,
    /// `ERR invalid expire time in 'set' command`; holds the lowercase command name.
    InvalidExpire(String),
    /// `ERR wrong number of arguments for 'get' command`; holds the lowercase command name.
    WrongArity(String),
    /// Any other error; the text carries its own prefix.
    Other(Cow<'static, str>),
}

impl OpError {
    pub fn other(text: impl Into<Cow<'static, str>>) -> OpError {
        OpError::Other(text.into())
    }

    pub fn message(&self) -> Cow<'static, str> {
        match self {
            OpError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            OpError::NotInteger => "ERR value is not an integer or out of range".into(),
            OpError::NotFloat => "ERR value is not a valid float".into(),
            OpError::Overflow => "ERR increment or decrement would overflow".into(),
            OpError::Syntax => "ERR syntax error".into(),
            OpError::NoSuchKey => "ERR no such key".into(),
            OpError::IndexOutOfRange => "ERR index out of range".into(),
            OpError::OutOfMemory => {
                "OOM command not allowed when used memory > 'maxmemory'.".into()
            }
            OpError::InvalidExpire(cmd) => {
                format!("ERR invalid expire time in '{cmd}' command").into()
            }
            OpError::WrongArity(cmd) => {
                format!("ERR wrong number of arguments for '{cmd}' command").into()
            }
            OpError::Other(text) => text.clone(),
        }
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for OpError {}

pub type OpResult<T> = Result<T, OpError>;
