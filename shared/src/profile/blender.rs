//! Blender: the channel may set frames, format, threads, engine, resolution
//! and camera. Resolution and camera reach Blender through the node's own
//! script after `--`, never as Python from the channel.

use super::{Flag, FlagError, RendererKind};

pub const FORMATS: &[&str] = &["PNG", "JPEG", "TIFF", "OPEN_EXR"];
pub const ENGINES: &[&str] = &["CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH"];

/// Validates Blender flags and the scene (builtin/blender.toml).
pub fn validate(tokens: &[String]) -> Result<(Vec<Flag>, String), FlagError> {
    super::validate(RendererKind::Blender, tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(line: &str) -> Result<(Vec<Flag>, String), FlagError> {
        let tokens: Vec<String> = line.split(' ').map(str::to_string).collect();
        validate(&tokens)
    }

    /// Every code-running flag in blender.md's deny list, and the ones the node owns.
    pub(crate) const DENIED: &[&str] = &[
        "-P x.py",
        "--python x.py",
        "--python-text t",
        "--python-expr x",
        "--python-console",
        "--addons a",
        "-c x",
        "--command x",
        "-y",
        "--enable-autoexec",
        "--python-use-system-env",
        "--env-system-scripts /x",
        "--app-template t",
        "-r",
        "--register",
        "--register-allusers",
        "--open-last",
        "--log-file /tmp/x",
        "--debug-python",
        "-o /tmp/x",
        "-b",
        "-a",
        "-f 1",
        "--",
    ];

    #[test]
    fn every_denied_flag_is_rejected() {
        for d in DENIED {
            let err = v(&format!("{d} s.blend")).expect_err(d);
            assert!(err.to_string().contains("is not allowed"), "{d}: {err}");
        }
    }

    #[test]
    fn allowed_and_shapes() {
        let (flags, scene) =
            v("-s 1 -e 3 -F png -t 2 -E cycles -res 64x48 -cam Camera s.blend").expect("ok");
        assert_eq!(scene, "s.blend");
        assert_eq!(flags[2].value.as_deref(), Some("PNG"));
        assert!(
            v("-s -5 s.blend").is_err(),
            "signed frames are relative in Blender"
        );
        assert!(v("-s 1.5 s.blend").is_err());
        assert!(v("-s 3 -e 1 s.blend").is_err());
        assert!(v("-s 1 s.mb").is_err());
        let p = crate::profile::builtin().get("blender").expect("blender");
        for (flag, list) in [("-F", FORMATS), ("-E", ENGINES)] {
            assert_eq!(
                p.kind_of(flag),
                Some(&crate::profile::Kind::OneOf(
                    list.iter().map(|s| s.to_string()).collect()
                ))
            );
        }
    }
}
