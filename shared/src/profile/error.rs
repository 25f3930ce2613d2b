//! Why a `rend:` line's flags or scene were refused, in plain words for
//! LOG.txt. The grammar wraps these in its own `ParseError`.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlagError {
    #[error("`rend:` needs a scene file as its last argument")]
    MissingScene,
    #[error("{flag} is not allowed: {why}")]
    DeniedFlag { flag: String, why: String },
    /// The flag, and whose flags these are (`Render`, `husk`).
    #[error("{0} is not a known {1} flag")]
    UnknownFlag(String, String),
    #[error("{0} is not a known {1} flag (did you mean {2}?)")]
    MisspelledFlag(String, String, String),
    #[error("{0} is given twice")]
    DuplicateFlag(String),
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error("{flag} {value}: {rule}")]
    BadValue {
        flag: String,
        value: String,
        rule: String,
    },
    #[error("`{0}` comes after the scene; the scene must be the last argument")]
    AfterScene(String),
    /// The scene, the product (`Maya`) and what was expected.
    #[error("the scene `{0}` is not a {1} file ({2})")]
    BadScene(String, String, String),
    #[error("{0}")]
    Invalid(String),
}
