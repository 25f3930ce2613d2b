//! How a command failed, for the exit code: refused lines exit 2,
//! everything else 1.

#[derive(Debug)]
pub enum Failure {
    /// The grammar refused the line; nothing was appended.
    Refused(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}
