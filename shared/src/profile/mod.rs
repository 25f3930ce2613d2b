//! Renderer profiles: which flags a remote line may carry, checked without I/O.
//!
//! Each renderer owns an allow-list and a deny-list (with the reason a user
//! reads in LOG.txt). Anything in neither list is rejected too. Paths are only
//! checked for shape here; the node resolves them inside its roots.

pub mod blender;
mod error;
pub mod maya;

pub use error::FlagError;

/// The most frames one line may ask for, whatever the renderer.
pub const MAX_FRAMES: f64 = 100_000.0;

/// The renderers droprender knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RendererKind {
    Maya,
    Blender,
}

impl RendererKind {
    /// Recognises the optional program token after `rend:`.
    pub fn from_program_token(token: &str) -> Option<Self> {
        match token.to_ascii_lowercase().as_str() {
            "render" | "render.exe" | "maya" => Some(Self::Maya),
            "blender" | "blender.exe" => Some(Self::Blender),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Maya => "maya",
            Self::Blender => "blender",
        }
    }

    /// Scene file extensions this renderer reads (lower case, with the dot).
    pub fn scene_extensions(self) -> &'static [&'static str] {
        match self {
            Self::Maya => &[".ma", ".mb"],
            Self::Blender => &[".blend"],
        }
    }
}

/// One validated flag with its canonical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// Validates the tokens after the program token; returns the flags and the scene.
pub fn validate(kind: RendererKind, tokens: &[String]) -> Result<(Vec<Flag>, String), FlagError> {
    match kind {
        RendererKind::Maya => maya::validate(tokens),
        RendererKind::Blender => blender::validate(tokens),
    }
}

/// How a flag's value is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value {
    /// No value.
    Switch,
    /// `on|yes|true|1|off|no|false|0`.
    Bool,
    /// A frame number: `^-?\d{1,6}(\.\d{1,3})?$`.
    Frame,
    /// An unsigned whole frame number (Blender reads a sign as "relative").
    WholeFrame,
    Int(i64, i64),
    Float(f64, f64),
    /// `^[A-Za-z_][A-Za-z0-9_:|]{0,127}$` (Maya camera names).
    CameraName,
    /// Comma list of `^[A-Za-z_][A-Za-z0-9_:]{0,63}$`.
    LayerNames,
    /// A directory the node resolves inside one of its roots.
    Dir,
    /// `^[A-Za-z0-9_.<>-]{1,128}$`, no `/`.
    ImagePrefix,
    OneOf(&'static [&'static str]),
    /// `WIDTHxHEIGHT`, each 1..16384.
    Resolution,
}

pub(crate) struct FlagSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub value: Value,
    /// Maya renderers this flag belongs to; empty means all.
    pub only_for: &'static [&'static str],
}

pub(crate) struct DenySpec {
    pub names: &'static [&'static str],
    pub why: &'static str,
}

/// Flags as walked: each with the spec it matched.
pub(crate) type Walked = (Vec<(&'static FlagSpec, Flag)>, String);

pub(crate) struct Profile {
    pub label: &'static str,
    pub allow: &'static [FlagSpec],
    pub deny: &'static [DenySpec],
    /// Deny any `-ns:flag` not in the allow-list (Maya's renderer namespaces).
    pub deny_namespaces: bool,
    /// Maya flags are matched against the deny-list ignoring case, to be
    /// safe; Blender's are case-sensitive (`-f` renders, `-F` sets a format).
    pub deny_ignores_case: bool,
    /// Flag values that are denied although the flag is allowed.
    pub deny_values: &'static [(&'static str, &'static str, &'static str)],
    pub scene_exts: &'static [&'static str],
}

impl Profile {
    fn denied(&self, token: &str) -> Option<&'static str> {
        let fold = |s: &str| {
            if self.deny_ignores_case {
                s.to_ascii_lowercase()
            } else {
                s.to_string()
            }
        };
        let lower = fold(token);
        for d in self.deny {
            for n in d.names {
                let n = fold(n);
                let hit = match n.strip_suffix('*') {
                    Some(prefix) => lower.starts_with(prefix),
                    None => lower == n,
                };
                if hit {
                    return Some(d.why);
                }
            }
        }
        None
    }

    fn looks_like_scene(&self, token: &str) -> bool {
        let lower = token.to_ascii_lowercase();
        self.scene_exts.iter().any(|e| lower.ends_with(e))
    }

    fn allowed(&self, token: &str) -> Option<&'static FlagSpec> {
        self.allow
            .iter()
            .find(|s| s.name == token || s.aliases.contains(&token))
    }

    fn misspelled(&self, token: &str) -> Option<&'static str> {
        self.allow
            .iter()
            .find(|s| {
                s.name.eq_ignore_ascii_case(token)
                    || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(token))
            })
            .map(|s| s.name)
    }

    /// Walks `flags… scene`, checking every flag against the lists.
    pub(crate) fn walk(&self, tokens: &[String]) -> Result<Walked, FlagError> {
        let mut flags: Vec<(&'static FlagSpec, Flag)> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let tok = &tokens[i];
            if !tok.starts_with('-') || tok == "-" {
                if let Some(extra) = tokens.get(i + 1) {
                    return Err(FlagError::AfterScene(extra.clone()));
                }
                return Ok((flags, tok.clone()));
            }
            if let Some(why) = self.denied(tok) {
                return Err(FlagError::DeniedFlag {
                    flag: tok.clone(),
                    why,
                });
            }
            let Some(spec) = self.allowed(tok) else {
                if self.deny_namespaces && tok[1..].contains(':') {
                    return Err(FlagError::DeniedFlag {
                        flag: tok.clone(),
                        why: "renderer namespace flags are an escape hatch; only the listed ones are allowed",
                    });
                }
                return Err(match self.misspelled(tok) {
                    Some(good) => FlagError::MisspelledFlag(tok.clone(), self.label, good),
                    None => FlagError::UnknownFlag(tok.clone(), self.label),
                });
            };
            if flags.iter().any(|(s, _)| s.name == spec.name) {
                return Err(FlagError::DuplicateFlag(spec.name.to_string()));
            }
            let value = match spec.value {
                Value::Switch => None,
                kind => {
                    let v = match tokens.get(i + 1) {
                        // The last token is the scene, never a value.
                        Some(v) if i + 2 < tokens.len() => v,
                        Some(last) if !self.looks_like_scene(last) => {
                            return Err(FlagError::MissingScene);
                        }
                        _ => return Err(FlagError::MissingValue(spec.name.to_string())),
                    };
                    if let Some((_, _, why)) = self
                        .deny_values
                        .iter()
                        .find(|(f, val, _)| *f == spec.name && val.eq_ignore_ascii_case(v))
                    {
                        return Err(FlagError::DeniedFlag {
                            flag: format!("{} {v}", spec.name),
                            why,
                        });
                    }
                    check_value(spec.name, kind, v)?;
                    i += 1;
                    Some(canonical_value(kind, v))
                }
            };
            flags.push((
                spec,
                Flag {
                    name: spec.name.to_string(),
                    value,
                },
            ));
            i += 1;
        }
        Err(FlagError::MissingScene)
    }
}

fn bad(flag: &str, value: &str, rule: impl Into<String>) -> FlagError {
    FlagError::BadValue {
        flag: flag.to_string(),
        value: value.to_string(),
        rule: rule.into(),
    }
}

fn is_frame(v: &str, signed: bool) -> bool {
    let digits = if signed {
        v.strip_prefix('-').unwrap_or(v)
    } else {
        v
    };
    let (int, frac) = match digits.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (digits, None),
    };
    let int_ok = (1..=6).contains(&int.len()) && int.bytes().all(|b| b.is_ascii_digit());
    let frac_ok =
        frac.is_none_or(|f| (1..=3).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()));
    int_ok && frac_ok
}

fn check_value(flag: &str, kind: Value, v: &str) -> Result<(), FlagError> {
    match kind {
        Value::Switch => Ok(()),
        Value::Bool => parse_bool(v)
            .map(|_| ())
            .ok_or_else(|| bad(flag, v, "expected on/off, yes/no, true/false or 1/0")),
        Value::Frame => is_frame(v, true)
            .then_some(())
            .ok_or_else(|| bad(flag, v, "expected a frame number such as 1, -10 or 12.5")),
        Value::WholeFrame => (is_frame(v, false) && !v.contains('.'))
            .then_some(())
            .ok_or_else(|| {
                bad(
                    flag,
                    v,
                    "expected a whole frame number without a sign, such as 1 or 240",
                )
            }),
        Value::Int(lo, hi) => match v.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(()),
            _ => Err(bad(
                flag,
                v,
                format!("expected a whole number from {lo} to {hi}"),
            )),
        },
        Value::Float(lo, hi) => match v.parse::<f64>() {
            Ok(n) if n.is_finite() && (lo..=hi).contains(&n) && v.len() <= 12 => Ok(()),
            _ => Err(bad(flag, v, format!("expected a number from {lo} to {hi}"))),
        },
        Value::CameraName => name_ok(v, 128, |c| c.is_ascii_alphanumeric() || "_:|".contains(c))
            .then_some(())
            .ok_or_else(|| {
                bad(
                    flag,
                    v,
                    "a camera name is letters, digits, _ : and |, starting with a letter or _",
                )
            }),
        Value::LayerNames => v
            .split(',')
            .all(|n| name_ok(n, 64, |c| c.is_ascii_alphanumeric() || "_:".contains(c)))
            .then_some(())
            .ok_or_else(|| {
                bad(
                    flag,
                    v,
                    "layer names are letters, digits, _ and :, separated by commas",
                )
            }),
        Value::Dir => {
            let ok = !v.is_empty()
                && v.len() <= 1024
                && !v.starts_with('-')
                && !v.chars().any(|c| c.is_control());
            ok.then_some(())
                .ok_or_else(|| bad(flag, v, "expected a directory path"))
        }
        Value::ImagePrefix => {
            let ok = (1..=128).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.<>-".contains(c))
                && !v.starts_with('.');
            ok.then_some(()).ok_or_else(|| {
                bad(
                    flag,
                    v,
                    "an image prefix is letters, digits and _ . < > -, without /",
                )
            })
        }
        Value::Resolution => {
            let ok = v.split_once(['x', 'X']).is_some_and(|(w, h)| {
                [w, h].iter().all(|n| {
                    n.len() <= 5 && n.parse::<u32>().is_ok_and(|n| (1..=16384).contains(&n))
                })
            });
            ok.then_some(())
                .ok_or_else(|| bad(flag, v, "expected WIDTHxHEIGHT, such as 1920x1080"))
        }
        Value::OneOf(set) => set
            .iter()
            .any(|s| s.eq_ignore_ascii_case(v))
            .then_some(())
            .ok_or_else(|| bad(flag, v, format!("expected one of: {}", set.join(", ")))),
    }
}

fn canonical_value(kind: Value, v: &str) -> String {
    match kind {
        Value::OneOf(set) => set
            .iter()
            .find(|s| s.eq_ignore_ascii_case(v))
            .map_or_else(|| v.to_string(), |s| (*s).to_string()),
        Value::Resolution => v.to_ascii_lowercase(),
        _ => v.to_string(),
    }
}

fn name_ok(v: &str, max: usize, rest: impl Fn(char) -> bool) -> bool {
    let mut chars = v.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && v.len() <= max
        && chars.all(rest)
}

/// Maya's boolean spellings.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Checks the scene token's shape: extension and no leading dash.
pub(crate) fn check_scene(
    scene: &str,
    kind: RendererKind,
    label: &'static str,
) -> Result<(), FlagError> {
    let lower = scene.to_ascii_lowercase();
    let exts = kind.scene_extensions();
    if !exts
        .iter()
        .any(|e| lower.ends_with(e) && lower.len() > e.len())
    {
        let want = match kind {
            RendererKind::Maya => "expected .ma or .mb",
            RendererKind::Blender => "expected .blend",
        };
        return Err(FlagError::BadScene(scene.to_string(), label, want));
    }
    if scene.len() > 1024 || scene.chars().any(|c| c.is_control()) {
        return Err(FlagError::BadScene(
            scene.to_string(),
            label,
            "the path is not usable",
        ));
    }
    Ok(())
}

/// Every denied flag of a renderer with the reason, for help texts and tests.
pub fn denied_flags(kind: RendererKind) -> impl Iterator<Item = (&'static str, &'static str)> {
    let profile = match kind {
        RendererKind::Maya => &maya::PROFILE,
        RendererKind::Blender => &blender::PROFILE,
    };
    profile
        .deny
        .iter()
        .flat_map(|d| d.names.iter().map(move |n| (*n, d.why)))
}
