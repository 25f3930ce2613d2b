//! The words status files use for a job's phase and a node's state, as
//! enums. The wire keeps the exact lowercase words (`"rendering"`), so
//! scripts and phones that read status.json or status.txt see no change; a
//! word a newer node writes that this build does not know reads as
//! `Unknown` instead of failing the whole document.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a job is, as status files show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobPhase {
    #[default]
    Queued,
    /// Queued, but held: a dependency, a syncing scene, render hours.
    Waiting,
    Rendering,
    /// Rendering, frozen by `suspend:`.
    Suspended,
    Finished,
    Failed,
    /// The node stopped while it rendered; it resumes after the restart.
    Interrupted,
    Cancelled,
    #[serde(other)]
    Unknown,
}

impl JobPhase {
    pub const ALL: [JobPhase; 8] = [
        JobPhase::Queued,
        JobPhase::Waiting,
        JobPhase::Rendering,
        JobPhase::Suspended,
        JobPhase::Finished,
        JobPhase::Failed,
        JobPhase::Interrupted,
        JobPhase::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobPhase::Queued => "queued",
            JobPhase::Waiting => "waiting",
            JobPhase::Rendering => "rendering",
            JobPhase::Suspended => "suspended",
            JobPhase::Finished => "finished",
            JobPhase::Failed => "failed",
            JobPhase::Interrupted => "interrupted",
            JobPhase::Cancelled => "cancelled",
            JobPhase::Unknown => "unknown",
        }
    }

    /// Over for good: nothing more happens unless someone sends `retry:`.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobPhase::Finished | JobPhase::Failed | JobPhase::Cancelled
        )
    }
}

/// What a node is doing, as status files show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    #[default]
    Idle,
    Rendering,
    Paused,
    /// Jobs are queued but none can start (render hours, dependencies…).
    Waiting,
    /// Asked to stop; waiting for renderers to exit.
    Stopping,
    Stopped,
    #[serde(other)]
    Unknown,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Idle => "idle",
            NodeState::Rendering => "rendering",
            NodeState::Paused => "paused",
            NodeState::Waiting => "waiting",
            NodeState::Stopping => "stopping",
            NodeState::Stopped => "stopped",
            NodeState::Unknown => "unknown",
        }
    }
}

macro_rules! word_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

word_impls!(JobPhase);
word_impls!(NodeState);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_words_are_the_old_strings() {
        for p in JobPhase::ALL {
            let json = serde_json::to_string(&p).expect("json");
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<JobPhase>(&json).expect("parse"), p);
        }
        assert_eq!(
            serde_json::from_str::<NodeState>("\"rendering\"").expect("parse"),
            NodeState::Rendering
        );
        assert_eq!(
            serde_json::from_str::<JobPhase>("\"teleporting\"").expect("parse"),
            JobPhase::Unknown
        );
        assert!(JobPhase::Cancelled == "cancelled");
        assert!(JobPhase::Finished.is_final() && !JobPhase::Interrupted.is_final());
    }
}
