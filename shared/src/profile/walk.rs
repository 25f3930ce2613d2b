//! Walking a line's tokens against a profile: every flag allowed, with a
//! value of its kind, or refused with the reason; the scene last (or after
//! the profile's scene flag). The same walk serves every profile.

use super::kinds::{self, Kind, arity};
use super::model::{FlagSpec, Profile, Syntax};
use super::{Flag, FlagError};

/// The escape-hatch reason for Maya's `-ns:flag` namespaces.
const NAMESPACE: &str =
    "renderer namespace flags are an escape hatch; only the listed ones are allowed";

impl Profile {
    fn fold(&self, s: &str) -> String {
        if self.deny_ignores_case || self.ignore_case {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    }

    /// The reason a token (or the flag name in it) is denied.
    pub fn denied(&self, token: &str) -> Option<&str> {
        let t = self.fold(token);
        self.denied_names().find_map(|(n, why)| {
            let n = self.fold(n);
            let hit = match n.strip_suffix('*') {
                Some(prefix) => t.starts_with(prefix),
                None => t == n,
            };
            hit.then_some(why)
        })
    }

    fn name_eq(&self, a: &str, b: &str) -> bool {
        if self.ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    /// The allowed flag a name (or alias) means.
    pub fn allowed(&self, name: &str) -> Option<&FlagSpec> {
        self.allow.iter().find(|s| {
            self.name_eq(&s.name, name) || s.aliases.iter().any(|a| self.name_eq(a, name))
        })
    }

    fn misspelled(&self, name: &str) -> Option<&str> {
        self.allow
            .iter()
            .find(|s| {
                s.name.eq_ignore_ascii_case(name)
                    || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
            })
            .map(|s| s.name.as_str())
    }

    fn is_scene_flag(&self, name: &str) -> bool {
        self.scene_flag
            .as_deref()
            .is_some_and(|f| self.name_eq(f, name))
    }

    fn looks_like_scene(&self, token: &str) -> bool {
        let lower = token.to_ascii_lowercase();
        self.scene_extensions.iter().any(|e| lower.ends_with(e))
    }

    /// `-name:value` / `-name=value` → name and inline value, per syntax.
    /// Space syntax has no inline values; the split still finds a denied
    /// name glued to a value (`--prerender-script=x.py`).
    fn split<'t>(&self, token: &'t str) -> (&'t str, Option<&'t str>) {
        let at = match self.syntax {
            Syntax::Space | Syntax::Equals => token.find('='),
            Syntax::Colon => token.find([':', '=']),
        };
        match at {
            Some(i) => (&token[..i], Some(&token[i + 1..])),
            None => (token, None),
        }
    }

    /// Checks `flags… scene` (or the scene after the scene flag): returns
    /// the flags with canonical names and values, and the scene.
    pub fn validate(&self, tokens: &[String]) -> Result<(Vec<Flag>, String), FlagError> {
        let (flags, scene) = self.walk(tokens)?;
        self.check_scene(&scene)?;
        for (spec, f) in &flags {
            let Some(req) = &spec.requires else { continue };
            let chosen = flags
                .iter()
                .find(|(s, _)| s.name == req.flag)
                .and_then(|(_, f)| f.value.as_deref());
            if let Some(r) = chosen
                && !req.values.iter().any(|v| v == r)
            {
                return Err(FlagError::Invalid(format!(
                    "{} belongs to the {} renderer, not {r}",
                    f.name,
                    req.values.join("/")
                )));
            }
        }
        let flags: Vec<Flag> = flags.into_iter().map(|(_, f)| f).collect();
        self.frames.check(self, &flags, &scene)?;
        Ok((flags, scene))
    }

    #[allow(clippy::type_complexity)]
    fn walk<'p>(
        &'p self,
        tokens: &[String],
    ) -> Result<(Vec<(&'p FlagSpec, Flag)>, String), FlagError> {
        // With a scene flag in the line, its last token may be a value.
        let scene_by_flag = tokens
            .iter()
            .any(|t| t.starts_with('-') && self.is_scene_flag(self.split(t).0));
        let mut flags: Vec<(&'p FlagSpec, Flag)> = Vec::new();
        let mut scene: Option<String> = None;
        let mut i = 0;
        while i < tokens.len() {
            let tok = tokens[i].as_str();
            let (head, inline) = self.split(tok);
            if let Some(why) = self.denied(tok).or_else(|| self.denied(head)) {
                let flag = if self.denied(tok).is_some() {
                    tok
                } else {
                    head
                };
                return Err(FlagError::DeniedFlag {
                    flag: flag.to_string(),
                    why: why.to_string(),
                });
            }
            if !tok.starts_with('-') || tok == "-" {
                if let Some(extra) = tokens.get(i + 1) {
                    return Err(FlagError::AfterScene(extra.clone()));
                }
                if scene.is_some() {
                    return Err(FlagError::Invalid(format!(
                        "the scene is named twice: after {} and as `{tok}`",
                        self.scene_flag.as_deref().unwrap_or_default()
                    )));
                }
                return Ok((flags, tok.to_string()));
            }
            let inline = inline.filter(|_| self.syntax != Syntax::Space);
            let name = if self.syntax == Syntax::Space {
                tok
            } else {
                head
            };
            // The value tokens after position `i`: never the last token
            // (the scene) unless a scene flag names the scene.
            let takes = |n: usize| i + n < tokens.len() - usize::from(!scene_by_flag);
            if self.is_scene_flag(name) {
                let v = match inline {
                    Some(v) => v.to_string(),
                    None if i + 1 < tokens.len() => {
                        i += 1;
                        tokens[i].clone()
                    }
                    None => return Err(FlagError::MissingScene),
                };
                if scene.replace(v).is_some() {
                    return Err(FlagError::DuplicateFlag(name.to_string()));
                }
                i += 1;
                continue;
            }
            let Some(spec) = self.allowed(name) else {
                if self.deny_namespaces && name[1..].contains(':') {
                    return Err(FlagError::DeniedFlag {
                        flag: name.to_string(),
                        why: NAMESPACE.to_string(),
                    });
                }
                return Err(match self.misspelled(name).filter(|_| !self.ignore_case) {
                    Some(good) => {
                        FlagError::MisspelledFlag(name.to_string(), self.label.clone(), good.into())
                    }
                    None => FlagError::UnknownFlag(name.to_string(), self.label.clone()),
                });
            };
            if flags.iter().any(|(s, _)| s.name == spec.name) {
                return Err(FlagError::DuplicateFlag(spec.name.clone()));
            }
            let value = match (arity(&spec.kind), inline) {
                ((0, _), None) => None,
                ((0, _), Some(_)) => {
                    return Err(FlagError::Invalid(format!("{} takes no value", spec.name)));
                }
                (_, Some(v)) => Some(v.to_string()),
                ((least, most), None) => {
                    let mut parts: Vec<&str> = Vec::new();
                    while parts.len() < most && takes(parts.len() + 1) {
                        let next = tokens[i + parts.len() + 1].as_str();
                        let numeric = next
                            .trim_start_matches('-')
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                            && !next.trim_start_matches('-').is_empty();
                        if parts.len() >= least && !numeric {
                            break;
                        }
                        parts.push(next);
                    }
                    if parts.len() < least {
                        return Err(match tokens.get(i + parts.len() + 1) {
                            Some(last) if !scene_by_flag && !self.looks_like_scene(last) => {
                                FlagError::MissingScene
                            }
                            _ => FlagError::MissingValue(spec.name.clone()),
                        });
                    }
                    i += parts.len();
                    Some(parts.join(" "))
                }
            };
            if let Some(v) = &value {
                if let Some(d) = self
                    .deny_values
                    .iter()
                    .find(|d| d.flag == spec.name && d.value.eq_ignore_ascii_case(v))
                {
                    return Err(FlagError::DeniedFlag {
                        flag: format!("{} {v}", spec.name),
                        why: d.why.clone(),
                    });
                }
                kinds::check(&spec.name, &spec.kind, v)?;
            }
            let value = value.map(|v| kinds::canonical(&spec.kind, &v));
            flags.push((
                spec,
                Flag {
                    name: spec.name.clone(),
                    value,
                },
            ));
            i += 1;
        }
        scene.map(|s| (flags, s)).ok_or(FlagError::MissingScene)
    }

    /// The scene token's shape: extension and no leading dash.
    pub(crate) fn check_scene(&self, scene: &str) -> Result<(), FlagError> {
        let lower = scene.to_ascii_lowercase();
        if !self
            .scene_extensions
            .iter()
            .any(|e| lower.ends_with(e.as_str()) && lower.len() > e.len())
        {
            return Err(FlagError::BadScene(
                scene.to_string(),
                self.title.clone(),
                format!("expected {}", self.extensions_text()),
            ));
        }
        if scene.len() > 1024 || scene.starts_with('-') || scene.chars().any(|c| c.is_control()) {
            return Err(FlagError::BadScene(
                scene.to_string(),
                self.title.clone(),
                "the path is not usable".into(),
            ));
        }
        Ok(())
    }

    /// `.ma or .mb`, `.usd, .usda or .usdc`.
    pub fn extensions_text(&self) -> String {
        match self.scene_extensions.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
        }
    }

    /// A flag as the program's command line spells it: `-s 1`,
    /// `-start:1`, `-frames=1-10`, `--res 1280 720`.
    pub fn words(&self, name: &str, value: Option<&str>) -> Vec<String> {
        let Some(v) = value else {
            return vec![name.to_string()];
        };
        match self.syntax {
            Syntax::Colon => vec![format!("{name}:{v}")],
            Syntax::Equals => vec![format!("{name}={v}")],
            Syntax::Space => {
                let multi = self
                    .kind_of(name)
                    .is_some_and(|k| arity(k).1 > 1 || matches!(k, Kind::IntPair(..)));
                let mut out = vec![name.to_string()];
                if multi {
                    out.extend(v.split(' ').map(str::to_string));
                } else {
                    out.push(v.to_string());
                }
                out
            }
        }
    }
}
