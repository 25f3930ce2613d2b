//! `[renderers.<name>]`: a renderer's program and node settings, and the
//! profile keys that add a renderer or change a built-in one. The
//! node-only keys are taken out here; the rest is profile data, checked by
//! the one profile check every profile passes (droprender_shared::profile).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use droprender_shared::profile::{Builder, Kind, Profile, Profiles};

use super::ConfigError;

/// The renderers a config describes.
#[derive(Debug, Clone)]
pub struct Renderers {
    pub profiles: Arc<Profiles>,
    /// Programs the config names, by profile name.
    pub programs: BTreeMap<String, PathBuf>,
    /// `[renderers.maya] allowed`: the `-r` values this node enables.
    pub maya_allowed: Option<Vec<String>>,
    /// `[renderers.blender] engine`.
    pub blender_engine: Option<String>,
}

fn invalid(name: &str, key: &str, want: &str) -> ConfigError {
    ConfigError::Invalid(format!("renderers.{name}.{key}: expected {want}"))
}

fn strings(name: &str, key: &str, v: toml::Value) -> Result<Vec<String>, ConfigError> {
    let want = "a list of strings";
    let toml::Value::Array(items) = v else {
        return Err(invalid(name, key, want));
    };
    items
        .into_iter()
        .map(|i| match i {
            toml::Value::String(s) => Ok(s),
            _ => Err(invalid(name, key, want)),
        })
        .collect()
}

impl Renderers {
    /// Splits each table into node settings and profile keys, then builds
    /// and checks the profiles.
    pub fn from_tables(tables: BTreeMap<String, toml::Table>) -> Result<Self, ConfigError> {
        let mut programs = BTreeMap::new();
        let mut maya_allowed = None;
        let mut blender_engine = None;
        let mut overrides = BTreeMap::new();
        for (name, mut t) in tables {
            if let Some(p) = t.remove("program") {
                let toml::Value::String(p) = p else {
                    return Err(invalid(
                        &name,
                        "program",
                        "a path such as \"/opt/hfs20.5/bin/husk\"",
                    ));
                };
                programs.insert(name.clone(), PathBuf::from(p));
            }
            match name.as_str() {
                "maya" => {
                    if let Some(v) = t.remove("allowed") {
                        maya_allowed = Some(strings(&name, "allowed", v)?);
                    }
                }
                "blender" => {
                    if let Some(v) = t.remove("engine") {
                        let toml::Value::String(e) = v else {
                            return Err(invalid(&name, "engine", "a string such as \"CYCLES\""));
                        };
                        blender_engine = Some(e);
                    }
                }
                _ => {}
            }
            if !t.is_empty() {
                overrides.insert(name, t);
            }
        }
        let profiles =
            Profiles::with_overrides(overrides).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for name in programs.keys() {
            if profiles.get(name).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "renderers.{name}: no such renderer; a new one needs a whole profile (see README, \"Add a renderer\")"
                )));
            }
        }
        if let (Some(allowed), Some(maya)) = (&maya_allowed, profiles.get("maya"))
            && let Some(Kind::OneOf(values)) = maya.select.as_deref().and_then(|s| maya.kind_of(s))
            && let Some(bad) = allowed.iter().find(|a| !values.contains(a))
        {
            return Err(ConfigError::Invalid(format!(
                "renderers.maya.allowed: {bad:?} is not one of {}",
                values.join(", ")
            )));
        }
        Ok(Renderers {
            profiles: Arc::new(profiles),
            programs,
            maya_allowed,
            blender_engine,
        })
    }
}

impl super::Config {
    /// The program that runs `profile`'s renders (as configured; a bare
    /// name is located by [`super::Config::locate_programs`]).
    pub fn program_for(&self, profile: &Profile) -> PathBuf {
        match profile.run.builder {
            Builder::Maya => self.maya.clone(),
            Builder::Blender => self.blender.clone(),
            Builder::Generic => self
                .programs
                .get(&profile.name)
                .cloned()
                .unwrap_or_else(|| PathBuf::from(&profile.run.program)),
        }
    }

    /// Renderer programs the config names by bare name (`Render`, `husk`)
    /// become the paths found on PATH or in their install folders, so
    /// renders run the program status files show.
    pub fn locate_programs(&mut self) {
        use crate::programs::{Found, locate};
        let profiles = Arc::clone(&self.profiles);
        for p in profiles.iter() {
            let key = p.run.install.as_deref().unwrap_or(&p.name);
            let program = self.program_for(p);
            if let Found::OnPath(found) | Found::Installed(found) = locate(key, &program) {
                match p.run.builder {
                    Builder::Maya => self.maya = found,
                    Builder::Blender => self.blender = found,
                    Builder::Generic => {
                        self.programs.insert(p.name.clone(), found);
                    }
                }
            }
        }
        // The preview video's encoder, when there is one.
        if let Some(v) = &mut self.video {
            let wanted = v.ffmpeg.clone().unwrap_or_else(|| "ffmpeg".into());
            v.ffmpeg = Some(locate("ffmpeg", &wanted))
                .filter(Found::is_found)
                .map(|f| f.path().to_path_buf());
        }
    }
}
