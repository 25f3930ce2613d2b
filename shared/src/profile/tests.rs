//! Every built-in profile's accepted and refused lines, and the checks a
//! config profile must pass.

use std::collections::BTreeMap;

use super::*;
use crate::command::{Action, parse_str_with};

fn parse(profiles: &Profiles, line: &str) -> Result<crate::command::RenderRequest, String> {
    match parse_str_with(line, profiles) {
        Ok(Some((_, c))) => match c.action.clone() {
            Action::Render(r) => {
                // The canonical line parses back to the same request.
                let again = parse_str_with(&c.to_line(), profiles)
                    .map_err(|e| format!("canonical {:?}: {e}", c.to_line()))?;
                assert_eq!(
                    again.map(|(_, c)| c.action),
                    Some(Action::Render(r.clone()))
                );
                Ok(r)
            }
            _ => Err("not a render".into()),
        },
        Ok(None) => Err("empty".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn ok(line: &str) -> crate::command::RenderRequest {
    parse(builtin(), line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn refused(line: &str, why: &str) {
    match parse(builtin(), line) {
        Ok(r) => panic!("{line} was accepted: {r:?}"),
        Err(e) => assert!(e.contains(why), "{line}: {e:?} lacks {why:?}"),
    }
}

#[test]
fn every_builtin_is_valid_and_its_example_parses() {
    let names: Vec<&str> = builtin().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["maya", "blender", "max", "husk", "c4d", "kick", "vray"]
    );
    for p in builtin().iter() {
        let r = ok(&p.example);
        assert_eq!(r.renderer.name(), p.name);
        assert_eq!(r.renderer, RendererKind::named(&p.name));
    }
    assert_eq!(
        builtin().scene_extensions(),
        [
            ".ass", ".ass.gz", ".blend", ".c4d", ".ma", ".max", ".mb", ".usd", ".usda", ".usdc",
            ".usdz", ".vrscene"
        ]
    );
}

#[test]
fn every_denied_flag_of_every_builtin_is_refused() {
    for p in builtin().iter() {
        let token = p.programs[0].clone();
        let ext = &p.scene_extensions[0];
        for (name, why) in p.denied_names() {
            let flag = name.trim_end_matches('*');
            let flag = if flag == "@" { "@cmds.txt" } else { flag };
            for line in [
                format!("rend:{token} {flag} x scenes/a{ext}"),
                format!("rend:{token} {flag} scenes/a{ext}"),
                format!("rend:{token} {flag}=x scenes/a{ext}"),
            ] {
                refused(&line, &format!("is not allowed: {why}"));
            }
            // A spelling that differs only in case is refused too.
            if p.deny_ignores_case {
                let upper = flag.to_ascii_uppercase();
                assert!(
                    parse(builtin(), &format!("rend:{token} {upper} x scenes/a{ext}")).is_err()
                );
            }
        }
    }
}

#[test]
fn the_new_renderers_accept_their_flags() {
    let r = ok(
        "rend:3dsmaxcmd -START:1 -end=10 -nthFrame 2 -camera:\"Camera 001\" -outputName:shots/beauty.exr -w:640 -h:360 scenes/shot.max",
    );
    assert_eq!(r.flag("-start"), Some("1"));
    assert_eq!(r.flag("-camera"), Some("Camera 001"));
    assert_eq!(r.flag("-width"), Some("640"));
    assert_eq!(
        r.profile.frames.frames_of(&r.profile, &r.flags, &r.scene),
        Some(Frames::Range {
            start: 1.0,
            end: 10.0,
            step: 2.0
        })
    );
    let r = ok("rend:3DSMAXCMD.EXE -frames:1,3,5-7 scenes/shot.max");
    assert_eq!(
        r.profile.frames.frames_of(&r.profile, &r.flags, &r.scene),
        Some(Frames::List(vec![1, 3, 5, 6, 7]))
    );

    let r = ok("rend:husk -f 3 -n 4 --res 1280 720 -c /cams/main -j 2 --engine XPU scenes/s.usda");
    assert_eq!(r.flag("-r"), Some("1280 720"));
    assert_eq!(r.flag("--engine"), Some("xpu"));
    assert_eq!(
        r.profile.frames.frames_of(&r.profile, &r.flags, &r.scene),
        Some(Frames::Range {
            start: 3.0,
            end: 6.0,
            step: 1.0
        })
    );
    let r = ok("rend:husk scenes/s.usd");
    assert_eq!(
        r.profile
            .frames
            .frames_of(&r.profile, &r.flags, &r.scene)
            .map(|f| f.count()),
        Some(1)
    );

    let r = ok("rend:c4d -frame 1 20 2 -take \"Main Take\" -oresolution 640 360 scenes/a.c4d");
    assert_eq!(r.flag("-frame"), Some("1 20 2"));
    let r = ok("rend:Commandline -render scenes/a.c4d -frame 5");
    assert_eq!(r.scene, "scenes/a.c4d");
    assert_eq!(
        r.profile.frames.frames_of(&r.profile, &r.flags, &r.scene),
        Some(Frames::Range {
            start: 5.0,
            end: 5.0,
            step: 1.0
        })
    );

    let r = ok("rend:kick -i scenes/shot.0001.ass -frames 1-3 -r 320 240 -t 2");
    assert_eq!(
        r.profile.frames.frames_of(&r.profile, &r.flags, &r.scene),
        Some(Frames::List(vec![1, 2, 3]))
    );
    let r = ok("rend:kick scenes/shot.0007.ass");
    assert_eq!(
        r.profile.frames.frames_of(&r.profile, &r.flags, &r.scene),
        Some(Frames::List(vec![7]))
    );

    let r = ok("rend:vray -Frames=1-4;9 -imgWidth=320 -numthreads=2 -sceneFile=scenes/a.vrscene");
    assert_eq!(r.flag("-frames"), Some("1-4;9"));
    assert_eq!(r.flag("-numThreads"), Some("2"));
    let r = ok("rend:vray -frames 1-3 scenes/a.vrscene");
    assert_eq!(r.flag("-frames"), Some("1-3"));
}

#[test]
fn the_new_renderers_refuse_bad_shapes() {
    for (line, why) in [
        (
            "rend:3dsmaxcmd -start:5 -end:1 scenes/a.max",
            "after the end frame",
        ),
        (
            "rend:3dsmaxcmd -start:1 -frames:1-3 scenes/a.max",
            "not both",
        ),
        ("rend:3dsmaxcmd -outputName:../x.exr scenes/a.max", ""),
        (
            "rend:3dsmaxcmd -outputName:out/shot01.exr scenes/a.max",
            "not in a digit",
        ),
        (
            "rend:3dsmaxcmd -outputName:$HOME/x.exr scenes/a.max",
            "expected a file name",
        ),
        (
            "rend:3dsmaxcmd -outputName:x.ms scenes/a.max",
            "expected a file name",
        ),
        (
            "rend:3dsmaxcmd -bogus:1 scenes/a.max",
            "is not a known 3dsmaxcmd flag",
        ),
        ("rend:3dsmaxcmd -start:1 scenes/a.ma", "not a 3ds Max file"),
        (
            "rend:husk -f 1 scenes/a.hip",
            "expected .usd, .usda, .usdc or .usdz",
        ),
        ("rend:husk --res 1280 scenes/a.usd", "needs a value"),
        ("rend:husk -c ../../etc scenes/a.usd", "USD prim path"),
        ("rend:husk -n 200000 scenes/a.usd", "from 1 to 100000"),
        ("rend:husk -f 1 -f 2 scenes/a.usd", "given twice"),
        ("rend:husk --frame=1 scenes/a.usd", "not a known husk flag"),
        ("rend:c4d -frame 10 1 scenes/a.c4d", "after the end frame"),
        (
            "rend:c4d -frame 1 10 0 scenes/a.c4d",
            "step must be at least 1",
        ),
        ("rend:c4d -render scenes/a.c4d scenes/b.c4d", "named twice"),
        (
            "rend:c4d -oimage /tmp/$(id) scenes/a.c4d",
            "file name prefix",
        ),
        ("rend:kick -frames 1-3 scenes/shot.ass", "name one of them"),
        (
            "rend:kick -frames 1-999999 scenes/s.0001.ass",
            "the limit is 100000",
        ),
        ("rend:kick -c ../x scenes/s.0001.ass", "a name is"),
        (
            "rend:vray -frames=1-3,0 scenes/a.vrscene",
            "expected frames",
        ),
        (
            "rend:vray -imgFile=/x/y.vrimg scenes/a.vrscene",
            "expected a file name",
        ),
        (
            "rend:vray scenes/a.vrscene; rm -rf /",
            "comes after the scene",
        ),
        ("rend:husk \"$(id).usd\" extra", "comes after the scene"),
    ] {
        match parse(builtin(), line) {
            Ok(r) if line.contains("../x.exr") => {
                // Shape only here: the node refuses it as outside the output root.
                assert_eq!(r.flag("-outputName"), Some("../x.exr"));
            }
            Ok(r) => panic!("{line} was accepted: {r:?}"),
            Err(e) => assert!(e.contains(why), "{line}: {e:?} lacks {why:?}"),
        }
    }
}

fn config(name: &str, toml_text: &str) -> Result<Profiles, ProfileError> {
    let t: toml::Table = toml_text.parse().expect("toml");
    Profiles::with_overrides(BTreeMap::from([(name.to_string(), t)]))
}

/// A studio's profile: the husk simulator under its own name and flags.
pub(crate) const STUDIO: &str = r#"
label = "karma"
title = "Studio Karma"
programs = ["karma"]
scene_extensions = [".usd"]
example = "rend:karma -start 1 -count 3 shot.usd"
allow = [
    { name = "-start", kind = "whole_frame" },
    { name = "-count", kind = { int = [1, 1000] } },
    { name = "-cam", kind = "prim_path" },
]
[[deny]]
names = ["--prerender-script"]
why = "it runs Python"
[frames]
start = "-start"
count = "-count"
default_start = 1
[run]
program = "husk"
fixed = ["--make-output-path", "--verbose", "a"]
output = { flag = "-o", pattern = "{dir}/{stem}.$F4.exr" }
[run.patterns]
percent = ['ALF_PROGRESS (?P<percent>\d+)%']
frame_done = ['^Image: (?P<path>.+)$']
error = ['USD ERROR']
"#;

#[test]
fn a_config_profile_is_merged_and_parses_its_lines() {
    let set = config("karma", STUDIO).expect("valid");
    assert_eq!(set.iter().count(), 8);
    let r = parse(&set, "rend:karma -start 2 -count 2 -cam /cams/a shot.usd").expect("ok");
    assert_eq!(r.renderer.name(), "karma");
    assert!(parse(&set, "rend:karma --prerender-script x.py shot.usd").is_err());
    assert!(parse(&set, "rend:karma -f 1 shot.usd").is_err());
    // An override of a built-in changes only what it names.
    let set = config("husk", "programs = [\"husk\", \"karma-cli\"]").expect("valid");
    assert!(parse(&set, "rend:karma-cli -f 1 s.usd").is_ok());
    // renderers.json round trip: the client checks it the same way.
    let again = Profiles::from_json(&set.to_json()).expect("json");
    assert_eq!(again, set);
}

#[test]
fn unsafe_config_profiles_are_refused() {
    let with = |from: &str, to: &str| STUDIO.replacen(from, to, 1);
    for (text, why) in [
        // No kind for arbitrary paths or scripts exists at all.
        (
            with("kind = \"prim_path\"", "kind = \"path\""),
            "unknown variant",
        ),
        (
            with("kind = \"prim_path\"", "kind = \"script\""),
            "unknown variant",
        ),
        (
            with("{ name = \"-cam\"", "{ name = \"--prerender-script\""),
            "both allowed and denied",
        ),
        (
            with("{ name = \"-cam\"", "{ name = \"-preRender\""),
            "no profile may allow it",
        ),
        (
            with("{ name = \"-cam\"", "{ name = \"--python-expr\""),
            "no profile may allow it",
        ),
        (
            with("{ name = \"-cam\"", "{ name = \"-SCRIPT\""),
            "no profile may allow it",
        ),
        (
            with("{ name = \"-cam\"", "{ name = \"-set\""),
            "no profile may allow it",
        ),
        (
            with("{ name = \"-cam\"", "{ name = \"-include\""),
            "no profile may allow it",
        ),
        (
            with("{ name = \"-cam\"", "{ name = \"-o\""),
            "node's output flag",
        ),
        (
            with("\"--make-output-path\"", "\"--usd-trace=/tmp/x\""),
            "runs code",
        ),
        (
            with("{dir}/{stem}", "{dir}/../{stem}"),
            "run.output.pattern",
        ),
        (with("{dir}/{stem}", "/tmp/{stem}"), "run.output.pattern"),
        (with("(?P<percent>\\d+)%", "(\\d+"), "does not compile"),
        (with("(?P<percent>\\d+)%", "(\\d+)%"), "named groups"),
        (
            with("programs = [\"karma\"]", "programs = [\"husk\"]"),
            "picks both",
        ),
        (
            with("kind = { int = [1, 1000] }", "kind = { int = [9, 1] }"),
            "first bound",
        ),
        (
            with("label = \"karma\"", "label = \"karma\"\nunknown_key = 1"),
            "unknown field",
        ),
        (with("-start 1 -count 3", "-start 3 -count 0"), "example"),
    ] {
        let err = config("karma", &text).expect_err(&text).to_string();
        assert!(err.contains(why), "{err:?} lacks {why:?}");
    }
    assert!(is_unsafe("--PYTHON-expr") && is_unsafe("@file") && !is_unsafe("-p"));
}
