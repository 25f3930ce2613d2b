//! Finding a renderer's program when the config does not name one: on
//! PATH, then in the folders its installer uses on this OS (the newest
//! version when several are installed). Status files say which was found
//! and where.

use std::path::{Path, PathBuf};

/// Where a renderer's program was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The config (or a flag) named it, and it is there.
    Configured(PathBuf),
    /// On PATH.
    OnPath(PathBuf),
    /// In its usual install folder.
    Installed(PathBuf),
    /// Nowhere: the bare name is kept, and renders fail with a clear error.
    Missing(PathBuf),
}

impl Found {
    pub fn path(&self) -> &Path {
        match self {
            Found::Configured(p) | Found::OnPath(p) | Found::Installed(p) | Found::Missing(p) => p,
        }
    }

    pub fn is_found(&self) -> bool {
        !matches!(self, Found::Missing(_))
    }
}

/// Install folders per renderer on this OS, as patterns in which `*`
/// stands for one path component (a version).
pub fn install_patterns(renderer: &str) -> &'static [&'static str] {
    installs::patterns(renderer)
}

/// Finds `program` for `renderer`: as given when it is a path; else on
/// PATH (with the OS's executable suffix); else in the install folders.
pub fn locate(renderer: &str, program: &Path) -> Found {
    if program.components().count() > 1 {
        return if program.is_file() {
            Found::Configured(program.to_path_buf())
        } else {
            Found::Missing(program.to_path_buf())
        };
    }
    if let Some(p) = on_path(program) {
        return Found::OnPath(p);
    }
    install_patterns(renderer)
        .iter()
        .find_map(|pat| newest_match(pat))
        .map_or_else(|| Found::Missing(program.to_path_buf()), Found::Installed)
}

fn on_path(program: &Path) -> Option<PathBuf> {
    let names: Vec<PathBuf> = match std::env::consts::EXE_SUFFIX {
        "" => vec![program.to_path_buf()],
        sfx => vec![
            program.to_path_buf(),
            PathBuf::from(format!("{}{sfx}", program.display())),
        ],
    };
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// The greatest existing path matching `pattern` (`*` = one component;
/// version numbers compare as numbers: Maya2025 after Maya2024, Houdini
/// 20.5.332 after 19.5.805).
pub fn newest_match(pattern: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = vec![PathBuf::new()];
    for part in split(pattern) {
        let mut next = Vec::new();
        for base in &found {
            if !part.contains('*') {
                next.push(if base.as_os_str().is_empty() {
                    PathBuf::from(part)
                } else {
                    base.join(part)
                });
                continue;
            }
            let Ok(rd) = std::fs::read_dir(base) else {
                continue;
            };
            for e in rd.flatten() {
                if let Some(name) = e.file_name().to_str()
                    && matches(part, name)
                {
                    next.push(base.join(name));
                }
            }
        }
        found = next;
    }
    found.into_iter().filter(|p| p.is_file()).max_by_key(|p| {
        let text = p.to_string_lossy().to_lowercase();
        (version_key(&text), text)
    })
}

/// Components of a pattern; a leading `/` or drive stays with the first.
fn split(pattern: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in pattern.char_indices() {
        if c == '/' || c == '\\' {
            let piece = &pattern[start..=i];
            // Keep the root (`/`, `C:\`) as the first component.
            if parts.is_empty() && (i == 0 || pattern[..i].ends_with(':')) {
                parts.push(piece);
            } else if i > start {
                parts.push(&pattern[start..i]);
            }
            start = i + 1;
        }
    }
    if start < pattern.len() {
        parts.push(&pattern[start..]);
    }
    parts
}

/// `*` matches any run of characters; the rest literally, ignoring case
/// (install folders differ in case across versions and OSes).
fn matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_lowercase(), name.to_lowercase());
    let pieces: Vec<&str> = p.split('*').collect();
    let mut rest = n.as_str();
    for (i, piece) in pieces.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(piece) else {
                return false;
            };
            rest = r;
        } else if i == pieces.len() - 1 {
            return rest.ends_with(piece);
        } else {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

/// The numbers in a path, in order: versions compare as numbers
/// (`Maya2025.1` → [2025, 1] after `Maya2025` → [2025]).
fn version_key(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().unwrap_or(u64::MAX))
        .collect()
}

/// Where installers put renderers, per OS (sources: docs/renderers.md and
/// the vendors' default install folders).
mod installs {
    #[cfg(windows)]
    pub fn patterns(renderer: &str) -> &'static [&'static str] {
        match renderer {
            "maya" => &[r"C:\Program Files\Autodesk\Maya*\bin\Render.exe"],
            "blender" => &[
                r"C:\Program Files\Blender Foundation\Blender*\blender.exe",
                r"C:\Program Files (x86)\Steam\steamapps\common\Blender\blender.exe",
            ],
            "max" => &[r"C:\Program Files\Autodesk\3ds Max *\3dsmaxcmd.exe"],
            "husk" => &[r"C:\Program Files\Side Effects Software\Houdini *\bin\husk.exe"],
            "c4d" => &[
                r"C:\Program Files\Maxon Cinema 4D *\Commandline.exe",
                r"C:\Program Files\MAXON\CINEMA 4D *\Commandline.exe",
            ],
            "kick" => &[r"C:\Program Files\Autodesk\Arnold\maya*\bin\kick.exe"],
            "ffmpeg" => &[
                r"C:\Program Files\ffmpeg\bin\ffmpeg.exe",
                r"C:\ffmpeg\bin\ffmpeg.exe",
            ],
            "vray" => &[
                r"C:\Program Files\Chaos Group\V-Ray\Standalone for x64\bin\x64\*\vray.exe",
                r"C:\Program Files\Chaos\V-Ray\Standalone for x64\bin\vray.exe",
            ],
            _ => &[],
        }
    }

    #[cfg(target_os = "macos")]
    pub fn patterns(renderer: &str) -> &'static [&'static str] {
        match renderer {
            "maya" => &["/Applications/Autodesk/maya*/Maya.app/Contents/bin/Render"],
            "blender" => &["/Applications/Blender.app/Contents/MacOS/Blender"],
            "husk" => &[
                "/Applications/Houdini/Houdini*/Frameworks/Houdini.framework/Versions/Current/Resources/bin/husk",
            ],
            "c4d" => &[
                "/Applications/Maxon Cinema 4D */Commandline.app/Contents/MacOS/Commandline",
                "/Applications/MAXON/CINEMA 4D */Commandline.app/Contents/MacOS/Commandline",
            ],
            "vray" => &["/Applications/ChaosGroup/V-Ray/Standalone_for_*/bin/*/*/vray"],
            "ffmpeg" => &["/opt/homebrew/bin/ffmpeg", "/usr/local/bin/ffmpeg"],
            _ => &[],
        }
    }

    #[cfg(not(any(windows, target_os = "macos")))]
    pub fn patterns(renderer: &str) -> &'static [&'static str] {
        match renderer {
            "maya" => &["/usr/autodesk/maya*/bin/Render"],
            "blender" => &["/opt/blender*/blender", "/snap/bin/blender"],
            "husk" => &["/opt/hfs*/bin/husk"],
            "c4d" => &["/opt/maxon/cinema4d/*/bin/c4d_clr"],
            "kick" => &[
                "/opt/solidangle/mtoa/*/bin/kick",
                "/opt/autodesk/arnold/*/bin/kick",
            ],
            "vray" => &["/usr/ChaosGroup/V-Ray/Standalone_for_linux_x64/bin/linux_x64/*/vray"],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_install_is_found() {
        let d = tempfile::tempdir().expect("tempdir");
        for v in ["Maya2024", "Maya2025", "Maya2025.1", "maya2023", "Maya9"] {
            let bin = d.path().join(v).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("Render"), b"").expect("write");
        }
        std::fs::create_dir_all(d.path().join("Maya2030").join("bin")).expect("no Render in it");
        let pat = format!("{}/Maya*/bin/Render", d.path().display());
        let got = newest_match(&pat).expect("found");
        assert!(got.ends_with("Maya2025.1/bin/Render"), "{}", got.display());
        assert_eq!(
            newest_match(&format!("{}/Nope*/bin/Render", d.path().display())),
            None
        );
    }

    #[test]
    fn patterns_and_numbers() {
        assert!(matches("Houdini *", "houdini 20.5.332"));
        assert!(matches("maya*", "Maya2025"));
        assert!(!matches("maya*", "amaya"));
        assert!(version_key("houdini 20.5.332") > version_key("houdini 19.5.805"));
        assert!(version_key("a10") > version_key("a9"));
        assert_eq!(
            split(r"C:\Program Files\x*\bin"),
            [r"C:\", "Program Files", "x*", "bin"]
        );
        assert_eq!(split("/usr/a*/b"), ["/", "usr", "a*", "b"]);
    }

    #[test]
    fn a_configured_path_is_used_as_given() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("Render");
        assert!(matches!(locate("maya", &p), Found::Missing(_)));
        std::fs::write(&p, b"").expect("write");
        assert_eq!(locate("maya", &p), Found::Configured(p));
    }
}
