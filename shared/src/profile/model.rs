//! A renderer profile as data. Built-in profiles are TOML files in
//! `builtin/`; a node's config adds or overrides profiles with the same
//! schema (`[renderers.<name>]`). Every profile, built-in or not, passes
//! [`Profile::check`] before it is used.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::RendererKind;
use super::kinds::Kind;

/// What a `rend:` line may say to one program, and how the node runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `[a-z][a-z0-9_-]*`: `maya`, `husk`, a studio's `karma-xpu`.
    pub name: String,
    /// Whose flags these are, in messages: "-x is not a known {label} flag".
    pub label: String,
    /// The product, in messages about scenes and in help.txt.
    pub title: String,
    /// Tokens after `rend:` that pick this profile, matched ignoring case.
    /// Never executed: the node runs its own configured program.
    pub programs: Vec<String>,
    /// A line without a program token uses this profile (exactly one has it).
    #[serde(default)]
    pub default: bool,
    /// Lower case, with the dot: `.ma`, `.usda`, `.ass.gz`.
    pub scene_extensions: Vec<String>,
    /// A flag that may name the scene instead of the last token (`-render`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_flag: Option<String>,
    #[serde(default)]
    pub syntax: Syntax,
    /// Allowed names match ignoring case (the CLI does: 3dsmaxcmd, vray).
    #[serde(default)]
    pub ignore_case: bool,
    /// Denied names match ignoring case even where allowed ones do not.
    #[serde(default)]
    pub deny_ignores_case: bool,
    /// Any `-ns:flag` not allowed is refused as an escape hatch (Maya).
    #[serde(default)]
    pub deny_namespaces: bool,
    /// The flag whose value picks a sub-renderer (Maya `-r`); the node's
    /// config may enable fewer of its values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<String>,
    /// A complete line for help.txt; it must pass this profile's checks.
    pub example: String,
    pub allow: Vec<FlagSpec>,
    #[serde(default)]
    pub deny: Vec<DenySpec>,
    #[serde(default)]
    pub deny_values: Vec<DeniedValue>,
    #[serde(default)]
    pub frames: FrameSpec,
    pub run: Run,
    /// Set by the registry; not part of the schema.
    #[serde(skip, default = "maya_kind")]
    pub(crate) kind: RendererKind,
}

fn maya_kind() -> RendererKind {
    RendererKind::Maya
}

/// How a flag carries its value on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Syntax {
    /// `-s 1`, `--res 1280 720` (Maya, Blender, husk, kick, Cinema 4D).
    #[default]
    Space,
    /// `-start:1`; a line may also write `-start=1` or `-start 1` (3dsmaxcmd).
    Colon,
    /// `-frames=1-10`; a line may also write `-frames 1-10` (vray).
    Equals,
}

/// One flag a line may set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSpec {
    /// The canonical spelling (what argv and the canonical line use).
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub kind: Kind,
    /// Allowed only when another flag, if given, has one of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<Requires>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    pub flag: String,
    pub values: Vec<String>,
}

/// Flags refused with the reason a user reads in LOG.txt. A name ending in
/// `*` is a prefix (`--python*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenySpec {
    pub names: Vec<String>,
    pub why: String,
}

/// A value refused although its flag is allowed (`-r interBatch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeniedValue {
    pub flag: String,
    pub value: String,
    pub why: String,
}

/// Which flags name the frames, so they can be counted, checked and resumed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// How many frames from the start (husk `-n`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    /// A frame list (`-frames:1,3,5-12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// `start [end [step]]` in one flag (Cinema 4D `-frame`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<String>,
    /// The program renders from this frame when the line gives no start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_start: Option<i64>,
    /// A start without an end renders that one frame.
    #[serde(default)]
    pub end_defaults_to_start: bool,
    /// One scene file per frame, numbered in its name (kick's `.ass`).
    #[serde(default)]
    pub from_scene_name: bool,
}

/// How the node runs the program: node-side data, checked like the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default)]
    pub builder: Builder,
    /// The program when the config names none (a bare name is looked for
    /// on PATH and in the install folders of `install`).
    pub program: String,
    /// The key of the program's install folders in `programs.rs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    /// Arguments the node always passes, before the line's flags.
    #[serde(default)]
    pub fixed: Vec<String>,
    #[serde(default)]
    pub scene: ScenePlace,
    /// The output the node sets when the line names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputSpec>,
    #[serde(default)]
    pub frames: Resume,
    /// Digits of `{frame}` in the output pattern and of per-frame scenes.
    #[serde(default = "four")]
    pub pad: u8,
    /// Arguments added when resuming a job whose frames the node cannot
    /// count (`-skipExistingFrames=1`).
    #[serde(default)]
    pub skip_existing: Vec<String>,
    #[serde(default)]
    pub patterns: Patterns,
    #[serde(default)]
    pub exit_codes: Vec<ExitMeaning>,
}

fn four() -> u8 {
    4
}

/// Which argv builder runs the profile. Maya's and Blender's keep their
/// own rules (`-rd`, renumbering; `-Y`, the node's setup script).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builder {
    Maya,
    Blender,
    #[default]
    Generic,
}

/// Where the scene goes in argv.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenePlace {
    #[default]
    Last,
    First,
    /// After the profile's `scene_flag`.
    Flag,
}

/// How the node passes the frames still missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resume {
    /// One process per contiguous run, with the start/end (or start/count,
    /// or span) flags.
    #[default]
    Runs,
    /// One process with the frame-list flag naming the missing frames.
    List,
    /// One process per frame, on that frame's scene file (kick).
    PerFrame,
}

/// `flag` + `pattern`: `{dir}` the job's output folder, `{stem}` the scene's
/// name (letters, digits, `_` and `-` only), `{frame}` the padded frame.
/// Anything else is passed literally (husk's `$F4`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub flag: String,
    pub pattern: String,
}

/// Regexes over output lines. Named groups carry values: `percent`, or
/// `done` and `total`; `path` or `frame` for frame lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patterns {
    #[serde(default)]
    pub frame_started: Vec<String>,
    #[serde(default)]
    pub percent: Vec<String>,
    #[serde(default)]
    pub frame_done: Vec<String>,
    #[serde(default)]
    pub error: Vec<String>,
}

/// What a non-zero exit code means, in the words LOG.txt shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitMeaning {
    pub code: i32,
    pub meaning: String,
}

/// A shared profile; equal when it is the same profile or the same data.
#[derive(Clone)]
pub struct ProfileRef(pub(crate) Arc<Profile>);

impl ProfileRef {
    pub fn new(p: Profile) -> Self {
        ProfileRef(Arc::new(p))
    }
}

impl std::ops::Deref for ProfileRef {
    type Target = Profile;
    fn deref(&self) -> &Profile {
        &self.0
    }
}

impl PartialEq for ProfileRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

// Profiles hold floats only as checked, finite bounds: equality is total.
impl Eq for ProfileRef {}

impl std::fmt::Debug for ProfileRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Profile({})", self.name)
    }
}

impl Profile {
    /// The renderer this profile is, as jobs and status files name it.
    pub fn kind(&self) -> RendererKind {
        self.kind
    }

    /// The spec of a flag by canonical name.
    pub fn spec(&self, name: &str) -> Option<&FlagSpec> {
        self.allow.iter().find(|s| s.name == name)
    }

    /// The kind of a flag by canonical name.
    pub fn kind_of(&self, name: &str) -> Option<&Kind> {
        self.spec(name).map(|s| &s.kind)
    }

    /// Every denied name with its reason.
    pub fn denied_names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.deny
            .iter()
            .flat_map(|d| d.names.iter().map(move |n| (n.as_str(), d.why.as_str())))
    }
}
