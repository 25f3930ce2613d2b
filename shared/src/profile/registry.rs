//! [`Profiles`]: the renderers one node (or one client) knows — the
//! built-ins, with a node's config profiles merged over them — and the
//! program tokens that pick them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{LazyLock, Mutex, OnceLock};

use thiserror::Error;

use super::RendererKind;
use super::model::{Profile, ProfileRef};

/// The built-in profiles, as shipped (`builtin/*.toml`).
pub const BUILTIN_TOML: &[(&str, &str)] = &[
    ("maya", include_str!("builtin/maya.toml")),
    ("blender", include_str!("builtin/blender.toml")),
    ("max", include_str!("builtin/max.toml")),
    ("husk", include_str!("builtin/husk.toml")),
    ("c4d", include_str!("builtin/c4d.toml")),
    ("kick", include_str!("builtin/kick.toml")),
    ("vray", include_str!("builtin/vray.toml")),
];

/// Why a set of profiles cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProfileError {
    #[error("renderer profile `{name}`: {problem}")]
    Invalid { name: String, problem: String },
    #[error("renderer profiles: {0}")]
    Set(String),
}

fn invalid(name: &str, problem: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        name: name.to_string(),
        problem: problem.into(),
    }
}

/// Renderer names live as long as the process (jobs copy them freely);
/// only profile names are interned, never text from a line.
pub(crate) fn intern(name: &str) -> &'static str {
    static NAMES: LazyLock<Mutex<BTreeSet<&'static str>>> =
        LazyLock::new(|| Mutex::new(["maya", "blender"].into_iter().collect()));
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// The renderers a node or client knows, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profiles {
    list: Vec<ProfileRef>,
}

/// Tables merge key by key (a config's `[renderers.husk.run]` changes only
/// the keys it names); any other value replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn builtin_table(name: &str) -> Option<toml::Table> {
    let text = BUILTIN_TOML.iter().find(|(n, _)| *n == name)?.1;
    text.parse::<toml::Table>().ok()
}

impl Profiles {
    /// Checks each profile and the set: unique names and program tokens,
    /// exactly one default profile.
    pub fn new(profiles: Vec<Profile>) -> Result<Self, ProfileError> {
        let mut list = Vec::new();
        let mut tokens: BTreeMap<String, String> = BTreeMap::new();
        for mut p in profiles {
            p.check().map_err(|e| invalid(&p.name, e))?;
            if list.iter().any(|o: &ProfileRef| o.name == p.name) {
                return Err(ProfileError::Set(format!("`{}` is defined twice", p.name)));
            }
            for t in &p.programs {
                if let Some(other) = tokens.insert(t.clone(), p.name.clone()) {
                    return Err(ProfileError::Set(format!(
                        "the program token `{t}` picks both `{other}` and `{}`",
                        p.name
                    )));
                }
            }
            p.kind = RendererKind(intern(&p.name));
            list.push(ProfileRef::new(p));
        }
        match list.iter().filter(|p| p.default).count() {
            1 => {}
            n => {
                return Err(ProfileError::Set(format!(
                    "exactly one profile has default = true (lines without a program token use it); {n} do"
                )));
            }
        }
        let set = Profiles { list };
        for p in &set.list {
            // The example is what help.txt shows: it must be a line this
            // profile accepts, picked by its own program token.
            let rest = p.example.strip_prefix("rend:").unwrap_or("");
            // Split on spaces only: examples need no quotes (and the
            // grammar's tokenizer sits above this module).
            let mut tokens: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
            match tokens.first().and_then(|t| set.for_program(t)) {
                Some(q) if q.name == p.name => {
                    tokens.remove(0);
                }
                _ if p.default => {}
                _ => {
                    return Err(invalid(
                        &p.name,
                        "example: start with `rend:` and one of its program tokens",
                    ));
                }
            }
            p.validate(&tokens)
                .map_err(|e| invalid(&p.name, format!("example `{}`: {e}", p.example)))?;
        }
        Ok(set)
    }

    /// The built-in profiles with `overrides` merged over them: a table
    /// for a built-in name changes only the keys it sets; a new name must
    /// be a whole profile (its `name` key may be left out).
    pub fn with_overrides(overrides: BTreeMap<String, toml::Table>) -> Result<Self, ProfileError> {
        let mut tables: Vec<(String, toml::Table)> = BUILTIN_TOML
            .iter()
            .map(|(n, _)| {
                let t = builtin_table(n)
                    .ok_or_else(|| invalid(n, "the built-in TOML does not parse"))?;
                Ok(((*n).to_string(), t))
            })
            .collect::<Result<_, ProfileError>>()?;
        for (name, over) in overrides {
            match tables.iter_mut().find(|(n, _)| *n == name) {
                Some((_, base)) => merge(base, over),
                None => {
                    let mut t = toml::Table::new();
                    t.insert("name".into(), toml::Value::String(name.clone()));
                    merge(&mut t, over);
                    tables.push((name, t));
                }
            }
        }
        let mut profiles = Vec::new();
        for (name, t) in tables {
            if t.get("name").and_then(toml::Value::as_str) != Some(name.as_str()) {
                return Err(invalid(&name, "name: must be the table's own name"));
            }
            let p: Profile = toml::Value::Table(t)
                .try_into()
                .map_err(|e: toml::de::Error| invalid(&name, e.message().to_string()))?;
            profiles.push(p);
        }
        Profiles::new(profiles)
    }

    /// What a node publishes in renderers.json.
    pub fn to_json(&self) -> String {
        let list: Vec<&Profile> = self.list.iter().map(|p| &**p).collect();
        serde_json::to_string_pretty(&list).unwrap_or_default()
    }

    /// A node's renderers.json, checked like any other profiles.
    pub fn from_json(text: &str) -> Result<Self, ProfileError> {
        let list: Vec<Profile> =
            serde_json::from_str(text).map_err(|e| ProfileError::Set(e.to_string()))?;
        Profiles::new(list)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ProfileRef> {
        self.list.iter()
    }

    pub fn get(&self, name: &str) -> Option<&ProfileRef> {
        self.list.iter().find(|p| p.name == name)
    }

    /// The profile a program token after `rend:` picks (any case).
    pub fn for_program(&self, token: &str) -> Option<&ProfileRef> {
        let t = token.to_ascii_lowercase();
        self.list.iter().find(|p| p.programs.contains(&t))
    }

    /// The profile of lines without a program token.
    pub fn default_profile(&self) -> &ProfileRef {
        self.list
            .iter()
            .find(|p| p.default)
            .unwrap_or(&self.list[0])
    }

    /// Every scene extension a profile accepts, sorted.
    pub fn scene_extensions(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.list.iter().flat_map(|p| &p.scene_extensions).collect();
        set.into_iter().cloned().collect()
    }
}

static BUILTIN: LazyLock<Profiles> = LazyLock::new(|| {
    Profiles::with_overrides(BTreeMap::new())
        .unwrap_or_else(|e| panic!("the built-in profiles are invalid: {e}"))
});
static INSTALLED: OnceLock<Profiles> = OnceLock::new();

/// The built-in profiles (tests hold them valid).
pub fn builtin() -> &'static Profiles {
    &BUILTIN
}

/// The profiles this process parses lines with by default: the built-ins,
/// unless [`install`] was called (a node installs its config's profiles
/// once at start, so lines read anywhere in it — the channel, the
/// journal's replay — see the same renderers).
pub fn installed() -> &'static Profiles {
    INSTALLED.get().unwrap_or_else(|| builtin())
}

/// Makes `profiles` this process's default; only the first call counts.
pub fn install(profiles: Profiles) -> Result<(), Profiles> {
    INSTALLED.set(profiles)
}
