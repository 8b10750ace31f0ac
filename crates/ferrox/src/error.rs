//! The one error type of ferrox. Every failure a caller can cause is an `Error`, never a panic.
//!
//! ```
//! use ferrox::{ops, Error};
//! let a = ops::zeros(&[2, 3], None)?;
//! match ops::add(&a, &ops::zeros(&[4], None)?) {
//!     Err(Error::Invalid(msg)) => assert!(msg.contains("[2, 3]") && msg.contains("[4]")),
//!     _ => unreachable!(),
//! }
//! # Ok::<(), ferrox::Error>(())
//! ```

use std::fmt;

/// What went wrong, with a message naming the shapes, axes or dtypes involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A bad argument: shapes that do not broadcast, an axis out of range, a wrong dtype.
    /// Python raises `ValueError`.
    Invalid(String),
    /// An index out of range where one is checked. Python raises `IndexError`.
    Index(String),
    /// A wrong kind of argument. Python raises `TypeError`.
    Type(String),
    /// Allocation failed or passed the memory limit. Python raises `RuntimeError`.
    Memory(String),
    /// A failure while evaluating (a device that is not there, a kernel error).
    /// Python raises `RuntimeError`.
    Runtime(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(m)
            | Error::Index(m)
            | Error::Type(m)
            | Error::Memory(m)
            | Error::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The same kind of error with its message rewritten (to add the op's name or the
    /// shapes involved): an axis error stays an [`Error::Index`].
    ///
    /// ```
    /// use ferrox::Error;
    /// let e = Error::Index("Axis 2 is out of bounds".into()).map_message(|m| format!("[op] {m}"));
    /// assert_eq!(e, Error::Index("[op] Axis 2 is out of bounds".into()));
    /// ```
    pub fn map_message(self, f: impl FnOnce(&str) -> String) -> Error {
        match self {
            Error::Invalid(m) => Error::Invalid(f(&m)),
            Error::Index(m) => Error::Index(f(&m)),
            Error::Type(m) => Error::Type(f(&m)),
            Error::Memory(m) => Error::Memory(f(&m)),
            Error::Runtime(m) => Error::Runtime(f(&m)),
        }
    }
}

/// `Result` with ferrox's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Returns early with `Error::Invalid(format!(...))`.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => { return Err($crate::Error::Invalid(format!($($arg)*))) };
}
