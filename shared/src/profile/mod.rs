//! Renderer profiles: which flags a remote line may carry, checked without I/O.
//!
//! A profile is data ([`Profile`]): the built-ins are TOML files in
//! `builtin/` (Maya, Blender, 3ds Max, husk, Cinema 4D, kick, V-Ray), and a
//! node's config may add or override profiles with the same schema. Every
//! profile passes the same check ([`Profile::check`]) and every line the
//! same walk ([`Profile::validate`]): an allow-list of flags with value
//! kinds, a deny-list with the reason a user reads in LOG.txt, anything
//! else refused. Paths are only checked for shape here; the node resolves
//! them inside its roots.

pub mod blender;
mod check;
mod error;
pub mod frames;
pub mod kinds;
mod lists;
pub mod maya;
mod model;
mod registry;
mod walk;

#[cfg(test)]
mod tests;

pub use check::{UNSAFE_FLAGS, is_unsafe};
pub use error::FlagError;
pub use frames::Frames;
pub use kinds::Kind;
pub use model::{
    Builder, DeniedValue, DenySpec, ExitMeaning, FlagSpec, FrameSpec, OutputSpec, Patterns,
    Profile, ProfileRef, Requires, Resume, Run, ScenePlace, Syntax,
};
pub use registry::{BUILTIN_TOML, ProfileError, Profiles, builtin, install, installed};

/// The most frames one line may ask for, whatever the renderer.
pub const MAX_FRAMES: f64 = 100_000.0;

/// A renderer, by its profile's name. Copyable, so jobs and executors pass
/// it around freely; the names of config profiles are interned once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RendererKind(&'static str);

// CamelCase constants keep `RendererKind::Maya` reading as it did when
// this was an enum of two renderers.
#[allow(non_upper_case_globals)]
impl RendererKind {
    pub const Maya: RendererKind = RendererKind("maya");
    pub const Blender: RendererKind = RendererKind("blender");

    /// The renderer a profile name means.
    pub fn named(name: &str) -> Self {
        RendererKind(registry::intern(name))
    }

    /// Recognises the optional program token after `rend:`.
    pub fn from_program_token(token: &str) -> Option<Self> {
        installed().for_program(token).map(|p| p.kind())
    }

    pub fn name(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for RendererKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// One validated flag with its canonical name. A value of several
/// arguments (`--res 1280 720`) is kept joined by single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

fn profile_of(kind: RendererKind) -> &'static ProfileRef {
    installed()
        .get(kind.name())
        .or_else(|| builtin().get(kind.name()))
        .unwrap_or_else(|| installed().default_profile())
}

/// Validates the tokens after the program token; returns the flags and the scene.
pub fn validate(kind: RendererKind, tokens: &[String]) -> Result<(Vec<Flag>, String), FlagError> {
    profile_of(kind).validate(tokens)
}

/// Every denied flag of a renderer with the reason, for help texts and tests.
pub fn denied_flags(kind: RendererKind) -> impl Iterator<Item = (&'static str, &'static str)> {
    profile_of(kind).denied_names()
}

/// Maya's boolean spellings.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}
