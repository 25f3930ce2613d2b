//! Blender: the channel may set frames, format, threads, engine, resolution
//! and camera. Resolution and camera reach Blender through the node's own
//! script after `--`, never as Python from the channel.

use super::{DenySpec, FlagError, FlagSpec, Profile, RendererKind, Value, check_scene};
use crate::profile::Flag;

pub const FORMATS: &[&str] = &["PNG", "JPEG", "TIFF", "OPEN_EXR"];
pub const ENGINES: &[&str] = &["CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH"];

const fn allow(name: &'static str, aliases: &'static [&'static str], value: Value) -> FlagSpec {
    FlagSpec {
        name,
        aliases,
        value,
        only_for: &[],
    }
}

static ALLOW: &[FlagSpec] = &[
    allow("-s", &["--frame-start"], Value::WholeFrame),
    allow("-e", &["--frame-end"], Value::WholeFrame),
    allow("-F", &["--render-format"], Value::OneOf(FORMATS)),
    allow("-t", &["--threads"], Value::Int(0, 1024)),
    allow("-E", &["--engine"], Value::OneOf(ENGINES)),
    // Not -x/-y: Blender's own -y enables auto-run scripts.
    allow("-res", &[], Value::Resolution),
    allow("-cam", &[], Value::CameraName),
];

static DENY: &[DenySpec] = &[
    DenySpec {
        names: &[
            "-P",
            "--python",
            "--python-text",
            "--python-expr",
            "--python-console",
            "--python-exit-code",
            "--addons",
            "-c",
            "--command",
        ],
        why: "it runs Python code",
    },
    DenySpec {
        names: &["-y", "--enable-autoexec"],
        why: "it lets scripts embedded in the .blend run",
    },
    DenySpec {
        names: &[
            "--python-use-system-env",
            "--env-system-*",
            "--app-template",
        ],
        why: "it loads Python from a path of the sender's choice",
    },
    DenySpec {
        names: &["-r", "--register*", "--unregister", "--open-last"],
        why: "it changes the machine's Blender setup instead of rendering",
    },
    DenySpec {
        names: &["--log-file", "-o", "--render-output"],
        why: "it writes files at a path of the sender's choice; the node chooses where frames go",
    },
    DenySpec {
        names: &["--debug*", "-d"],
        why: "debug modes are not for remote use",
    },
    DenySpec {
        names: &[
            "-b",
            "--background",
            "-a",
            "--render-anim",
            "-f",
            "--render-frame",
            "-Y",
            "--disable-autoexec",
        ],
        why: "the node adds it itself; write `rend:blender -s 1 -e 10 shot.blend`",
    },
    DenySpec {
        names: &["--"],
        why: "arguments after -- go to scripts, and the channel never supplies scripts",
    },
];

pub(crate) static PROFILE: Profile = Profile {
    label: "blender",
    allow: ALLOW,
    deny: DENY,
    deny_namespaces: false,
    deny_ignores_case: false,
    deny_values: &[],
    scene_exts: &[".blend"],
};

/// Validates Blender flags and the scene.
pub fn validate(tokens: &[String]) -> Result<(Vec<Flag>, String), FlagError> {
    let (flags, scene) = PROFILE.walk(tokens)?;
    check_scene(&scene, RendererKind::Blender, "Blender")?;
    let num = |n: &str| {
        flags
            .iter()
            .find(|(s, _)| s.name == n)
            .and_then(|(_, f)| f.value.as_deref())
            .and_then(|v| v.parse::<u64>().ok())
    };
    if let (Some(s), Some(e)) = (num("-s"), num("-e")) {
        if s > e {
            return Err(FlagError::Invalid(format!(
                "the start frame {s} is after the end frame {e}"
            )));
        }
        if e - s + 1 > super::MAX_FRAMES as u64 {
            return Err(FlagError::Invalid(format!(
                "the line asks for {} frames; the limit is {}",
                e - s + 1,
                super::MAX_FRAMES
            )));
        }
    }
    Ok((flags.into_iter().map(|(_, f)| f).collect(), scene))
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
    }
}
