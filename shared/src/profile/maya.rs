//! Maya `Render`: the allow-list and deny-list from maya-render.md.

use super::{DenySpec, FlagError, FlagSpec, Profile, RendererKind, Value, check_scene};
use crate::profile::Flag;

/// Renderers a line may name with `-r`. The node may allow fewer.
pub const RENDERERS: &[&str] = &[
    "sw",
    "hw2",
    "arnold",
    "vray",
    "redshift",
    "renderman",
    "file",
    "default",
];

pub use super::MAX_FRAMES;

const fn allow(name: &'static str, value: Value) -> FlagSpec {
    FlagSpec {
        name,
        aliases: &[],
        value,
        only_for: &[],
    }
}

const fn only(name: &'static str, value: Value, only_for: &'static [&'static str]) -> FlagSpec {
    FlagSpec {
        name,
        aliases: &[],
        value,
        only_for,
    }
}

const THREADS: Value = Value::Int(0, 1024);

static ALLOW: &[FlagSpec] = &[
    FlagSpec {
        name: "-r",
        aliases: &["-renderer"],
        value: Value::OneOf(RENDERERS),
        only_for: &[],
    },
    allow("-s", Value::Frame),
    allow("-e", Value::Frame),
    allow("-b", Value::Frame),
    allow("-pad", Value::Int(1, 8)),
    allow("-rfs", Value::Int(-1_000_000, 1_000_000)),
    allow("-rfb", Value::Int(1, 1_000_000)),
    allow("-skipExistingFrames", Value::Bool),
    allow("-cam", Value::CameraName),
    allow("-rl", Value::LayerNames),
    allow("-x", Value::Int(1, 16384)),
    allow("-y", Value::Int(1, 16384)),
    allow("-percentRes", Value::Float(1.0, 400.0)),
    allow("-rd", Value::Dir),
    allow("-im", Value::ImagePrefix),
    allow(
        "-of",
        Value::OneOf(&["exr", "png", "jpg", "jpeg", "tif", "tiff", "iff"]),
    ),
    allow(
        "-fnc",
        Value::OneOf(&["name.#.ext", "name_#.ext", "name#.ext"]),
    ),
    allow("-proj", Value::Dir),
    only("-n", THREADS, &["sw"]),
    only("-ai:threads", THREADS, &["arnold"]),
    only("-threads", THREADS, &["vray"]),
    only("-t", THREADS, &["renderman"]),
    only("-ai:lve", Value::Int(0, 3), &["arnold"]),
    // -rt 0 renders; any other value exports .ass or spawns kick (checked below).
    only("-rt", Value::Int(0, 0), &["arnold"]),
    allow("-verb", Value::Switch),
];

static DENY: &[DenySpec] = &[
    DenySpec {
        names: &[
            "-preRender",
            "-postRender",
            "-preLayer",
            "-postLayer",
            "-preFrame",
            "-postFrame",
            "-pre",
            "-post",
        ],
        why: "it runs MEL code",
    },
    DenySpec {
        names: &[
            "-insertPreRender",
            "-insertPostRender",
            "-insertPreLayer",
            "-insertPostLayer",
            "-insertPreFrame",
            "-insertPostFrame",
        ],
        why: "it inserts MEL code",
    },
    DenySpec {
        names: &["-interactive", "-A"],
        why: "it opens a command port that runs remote MEL",
    },
    DenySpec {
        names: &[
            "-rst",
            "-rsp",
            "-rsa",
            "-rendersetuptemplate",
            "-rendersettingspreset",
            "-rendersettingsaov",
        ],
        why: "it loads a settings file of the sender's choice into the scene",
    },
    DenySpec {
        names: &[
            "-log",
            "-ai:lfn",
            "-ai:stf",
            "-ai:pff",
            "-ribFile",
            "-exportFileName",
        ],
        why: "it writes a file at any path",
    },
    DenySpec {
        names: &["-ai:sppg", "-ai:sppr", "-ai:spsh", "-ai:sptx"],
        why: "it sets a plugin search path, which loads native code",
    },
    DenySpec {
        names: &["-ai:uopt", "-ai:port"],
        why: "it passes arbitrary renderer options or opens a port",
    },
    DenySpec {
        names: &[
            "-rib",
            "-bake",
            "-checkpoint",
            "-noRender",
            "-ipr",
            "-keepMel",
            "-test",
            "-listRenderers",
            "-pythonver",
            "-help",
        ],
        why: "it does not render frames",
    },
];

pub(crate) static PROFILE: Profile = Profile {
    label: "Render",
    allow: ALLOW,
    deny: DENY,
    deny_namespaces: true,
    deny_ignores_case: true,
    deny_values: &[(
        "-r",
        "interBatch",
        "it opens a command port that runs remote MEL",
    )],
    scene_exts: &[".ma", ".mb"],
};

/// Validates Maya `Render` flags and the scene.
pub fn validate(tokens: &[String]) -> Result<(Vec<Flag>, String), FlagError> {
    let (flags, scene) = PROFILE.walk(tokens)?;
    check_scene(&scene, RendererKind::Maya, "Maya")?;
    let get = |n: &str| {
        flags
            .iter()
            .find(|(s, _)| s.name == n)
            .and_then(|(_, f)| f.value.as_deref())
    };
    let renderer = get("-r");
    if let Some(r) = renderer {
        for (spec, f) in &flags {
            if !spec.only_for.is_empty() && !spec.only_for.contains(&r) {
                return Err(FlagError::Invalid(format!(
                    "{} belongs to the {} renderer, not {r}",
                    f.name,
                    spec.only_for.join("/")
                )));
            }
        }
    }
    let num = |n: &str| get(n).and_then(|v| v.parse::<f64>().ok());
    let (s, e) = (num("-s"), num("-e"));
    if let (Some(s), Some(e)) = (s, e)
        && s > e
    {
        return Err(FlagError::Invalid(format!(
            "the start frame {s} is after the end frame {e}"
        )));
    }
    if let Some(b) = num("-b") {
        if b <= 0.0 {
            return Err(FlagError::Invalid("-b must be greater than 0".into()));
        }
        let count = (e.unwrap_or(1.0) - s.unwrap_or(1.0)) / b + 1.0;
        if count > MAX_FRAMES {
            return Err(FlagError::Invalid(format!(
                "the line asks for {count:.0} frames; the limit is {MAX_FRAMES:.0}"
            )));
        }
    } else if let (Some(s), Some(e)) = (s, e)
        && e - s + 1.0 > MAX_FRAMES
    {
        return Err(FlagError::Invalid(format!(
            "the line asks for {:.0} frames; the limit is {MAX_FRAMES:.0}",
            e - s + 1.0
        )));
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

    /// Every flag in the deny table of maya-render.md, with the shape of its value.
    pub(crate) const DENIED: &[&str] = &[
        "-preRender x",
        "-postRender x",
        "-preLayer x",
        "-postLayer x",
        "-preFrame x",
        "-postFrame x",
        "-pre x",
        "-post x",
        "-insertPreRender x",
        "-insertPostRender x",
        "-insertPreLayer x",
        "-insertPostLayer x",
        "-insertPreFrame x",
        "-insertPostFrame x",
        "-interactive",
        "-A",
        "-rst f.json",
        "-rsp f.json",
        "-rsa f.json",
        "-rendersetuptemplate f.json",
        "-rendersettingspreset f.json",
        "-rendersettingsaov f.json",
        "-log /tmp/x",
        "-ai:lfn /tmp/x",
        "-ai:stf /tmp/x",
        "-ai:pff /tmp/x",
        "-ribFile /tmp/x",
        "-exportFileName /tmp/x",
        "-ai:sppg /x",
        "-ai:sppr /x",
        "-ai:spsh /x",
        "-ai:sptx /x",
        "-ai:uopt x",
        "-ai:port 1",
        "-rib",
        "-bake",
        "-checkpoint",
        "-noRender",
        "-ipr",
        "-keepMel",
        "-test",
        "-listRenderers",
        "-pythonver",
        "-ai:foo 1",
        "-PRERENDER x",
    ];

    #[test]
    fn every_denied_flag_is_rejected_with_a_reason() {
        for d in DENIED {
            let err = v(&format!("{d} a.mb")).expect_err(d);
            let msg = err.to_string();
            assert!(msg.contains("is not allowed"), "{d}: {msg}");
        }
        let err = v("-r interBatch a.mb").expect_err("interBatch");
        assert!(err.to_string().contains("not allowed"), "{err}");
        assert!(v("-r arnold -rt 1 a.mb").is_err());
        assert!(v("-r arnold -rt 0 a.mb").is_ok());
    }

    #[test]
    fn allowed_flags_pass() {
        let (flags, scene) = v("-r arnold -s 1 -e 10.5 -b 0.5 -pad 4 -cam cam1:main -rl a,b -x 640 -y 480 -percentRes 50 -rd out -im shot_<Camera> -of EXR -fnc name.#.ext -ai:threads 2 -ai:lve 1 -skipExistingFrames on -verb a.mb").expect("ok");
        assert_eq!(scene, "a.mb");
        assert_eq!(flags.len(), 18);
        assert!(
            flags
                .iter()
                .any(|f| f.name == "-of" && f.value.as_deref() == Some("exr"))
        );
    }

    #[test]
    fn shape_errors() {
        assert!(matches!(
            v("-s 1 -s 2 a.mb"),
            Err(FlagError::DuplicateFlag(_))
        ));
        assert!(matches!(v("-s 5 -e 1 a.mb"), Err(FlagError::Invalid(_))));
        assert!(matches!(v("-s 1e3 a.mb"), Err(FlagError::BadValue { .. })));
        assert!(matches!(v("-s a.mb"), Err(FlagError::MissingValue(_))));
        assert!(matches!(v("-s 1"), Err(FlagError::MissingScene)));
        assert!(matches!(v("a.mb -s 1"), Err(FlagError::AfterScene(_))));
        assert!(matches!(v("-S 1 a.mb"), Err(FlagError::MisspelledFlag(..))));
        assert!(matches!(v("-bogus a.mb"), Err(FlagError::UnknownFlag(..))));
        assert!(matches!(v("-s 1 a.txt"), Err(FlagError::BadScene(..))));
        assert!(matches!(
            v("-r sw -ai:threads 2 a.mb"),
            Err(FlagError::Invalid(_))
        ));
        assert!(matches!(
            v("-im ../x a.mb"),
            Err(FlagError::BadValue { .. })
        ));
        assert!(matches!(
            v("-s 1 -e 200000 a.mb"),
            Err(FlagError::Invalid(_))
        ));
    }
}
