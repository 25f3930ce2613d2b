//! Maya `Render`: the allow-list and deny-list from maya-render.md live in
//! `builtin/maya.toml`; these are the names other code needs.

use super::{Flag, FlagError, RendererKind};

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

/// Validates Maya `Render` flags and the scene (the built-in `maya`
/// profile, builtin/maya.toml, or the node's override of it).
pub fn validate(tokens: &[String]) -> Result<(Vec<Flag>, String), FlagError> {
    super::validate(RendererKind::Maya, tokens)
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
    fn the_renderer_list_is_the_profiles() {
        let p = crate::profile::builtin().get("maya").expect("maya");
        let Some(crate::profile::Kind::OneOf(values)) = p.kind_of("-r") else {
            panic!("-r is one_of")
        };
        assert_eq!(values, RENDERERS);
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
