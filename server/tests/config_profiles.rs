//! Renderer profiles written in the node's config: one renders through a
//! test program (the husk simulator under a studio's own name, with fewer
//! flags, its own patterns and output name), the client checks its lines from renderers.json, and
//! check-config (and `run`) refuse profiles that would let a line run code
//! or write anywhere.

mod common;

use std::process::Command;

use common::{Rig, write_settled};

/// The husk simulator as a studio's `karma`: its own token, a smaller
/// allow-list (husk's own flag names: a profile passes flags through as
/// the program spells them), its own patterns and output name.
fn studio_profile(program: &std::path::Path) -> String {
    format!(
        r#"[renderers.karma]
program = "{}"
label = "karma"
title = "Studio Karma"
programs = ["karma"]
scene_extensions = [".usda", ".usd"]
example = "rend:karma -f 1 -n 10 -c /cams/main shots/a.usda"
allow = [
    {{ name = "-f", kind = "whole_frame" }},
    {{ name = "-n", kind = {{ int = [1, 500] }} }},
    {{ name = "-c", kind = "prim_path" }},
]
[[renderers.karma.deny]]
names = ["--prerender-script", "--postrender-script"]
why = "it runs Python"
[renderers.karma.frames]
start = "-f"
count = "-n"
default_start = 1
[renderers.karma.run]
program = "husk"
fixed = ["--make-output-path", "--verbose", "a"]
output = {{ flag = "-o", pattern = "{{dir}}/{{stem}}_v1.$F4.exr" }}
[renderers.karma.run.patterns]
frame_started = ['^Rendering frame (?P<frame>\d+)']
percent = ['ALF_PROGRESS (?P<percent>\d+)%']
frame_done = ['^Image: (?P<path>.+)$']
error = ['USD ERROR']
"#,
        program.display()
    )
}

#[test]
fn a_config_defined_renderer_renders_through_its_program() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "40");
    let link = rig.dir.path().join("bin").join("husk");
    std::os::unix::fs::symlink(common::bins::node(), &link).expect("symlink");
    // Progress reaches status.json four times a second (not once): the
    // job's 4 frames take about a second, and the test looks mid-job.
    rig.configure(&format!(
        "{}\n[status]\nprogress_secs = 0.25\n",
        studio_profile(&link)
    ));
    write_settled(&rig.projects.join("scenes/a.usda"), b"#usda 1.0\n");
    rig.start();
    // The client knows `karma` from renderers.json, and its rules.
    let out = rig.client(&[
        "rend",
        "karma",
        "-f",
        "1",
        "-n",
        "4",
        "-c",
        "/cams/main",
        "scenes/a.usda",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (bad, why) in [
        (
            vec!["karma", "--prerender-script", "x.py", "scenes/a.usda"],
            "is not allowed: it runs Python",
        ),
        (
            vec!["karma", "-j", "2", "scenes/a.usda"],
            "is not a known karma flag",
        ),
        (
            vec!["karma", "-f", "1", "scenes/a.blend"],
            "not a Studio Karma file",
        ),
    ] {
        let mut args = vec!["rend"];
        args.extend(bad);
        let out = rig.client(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
    rig.wait_until("two frames", || {
        rig.status().current.is_some_and(|j| j.frames_done >= 2)
    });
    assert_eq!(rig.status().current.expect("running").renderer, "karma");
    rig.wait_events("finished", 1);
    assert_eq!(
        rig.frames("job-0001"),
        [
            "a_v1.0001.exr",
            "a_v1.0002.exr",
            "a_v1.0003.exr",
            "a_v1.0004.exr"
        ]
    );
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0][..3], ["--make-output-path", "--verbose", "a"]);
    assert!(
        calls[0].windows(4).any(|w| w == ["-f", "1", "-n", "4"]),
        "{calls:?}"
    );
    let help = {
        rig.append(b"help:\n");
        rig.wait_until("help.txt", || rig.folder.join("help.txt").exists());
        rig.read("help.txt")
    };
    assert!(help.contains("rend:karma -f 1 -n 10"), "{help}");
}

fn check_config(toml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node.toml");
    std::fs::write(&path, toml).expect("write");
    let out = Command::new(common::bins::node())
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("check-config");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn check_config_validates_profiles_and_prints_the_grammar() {
    let good = studio_profile(std::path::Path::new("/opt/hfs/bin/husk"));
    let (ok, text) = check_config(&good);
    assert!(ok, "{text}");
    assert!(text.contains("karma (karma; from the config)"), "{text}");
    assert!(text.contains("husk (husk husk.exe; built-in)"), "{text}");
    assert!(
        text.contains("rend:karma -f 1 -n 10 -c /cams/main shots/a.usda"),
        "{text}"
    );
    assert!(text.contains("Studio Karma .usda .usd: -f -n -c"), "{text}");
    assert!(text.contains("note: folder is not set"), "{text}");
    for (from, to, why) in [
        // No value kind names an arbitrary path or a script.
        (
            "kind = \"prim_path\"",
            "kind = \"path\"",
            "unknown variant `path`",
        ),
        (
            "kind = \"prim_path\"",
            "kind = \"script\"",
            "unknown variant `script`",
        ),
        (
            "name = \"-c\"",
            "name = \"--prerender-script\"",
            "both allowed and denied",
        ),
        (
            "name = \"-c\"",
            "name = \"-preRender\"",
            "no profile may allow it",
        ),
        (
            "name = \"-c\"",
            "name = \"--python\"",
            "no profile may allow it",
        ),
        (
            "name = \"-c\"",
            "name = \"-parameterOverride\"",
            "no profile may allow it",
        ),
        ("name = \"-c\"", "name = \"-o\"", "node's output flag"),
        ("{dir}/{stem}", "/tmp/{stem}", "run.output.pattern"),
        ("{dir}/{stem}", "{dir}/../{stem}", "run.output.pattern"),
        (
            "\"--make-output-path\"",
            "\"--prerender-script=/tmp/x.py\"",
            "runs code",
        ),
        (
            "(?P<percent>\\d+)%",
            "(?P<percent>\\d+%",
            "does not compile",
        ),
        (
            "programs = [\"karma\"]",
            "programs = [\"husk\"]",
            "picks both",
        ),
    ] {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good, "{from}");
        let (ok, text) = check_config(&bad);
        assert!(!ok, "{from} → {to} was accepted: {text}");
        assert!(text.contains(why), "{from} → {to}: {text}");
    }
    // A built-in's program alone is no new profile.
    let (ok, text) = check_config("[renderers.nosuch]\nprogram = \"/x\"\n");
    assert!(!ok && text.contains("renderers.nosuch"), "{text}");
}

#[test]
fn a_node_with_an_unsafe_profile_does_not_start() {
    let rig = Rig::new();
    rig.configure(&studio_profile(std::path::Path::new("/x")).replacen(
        "name = \"-c\"",
        "name = \"-script\"",
        1,
    ));
    let out = Command::new(common::bins::node())
        .args(["run", "--folder"])
        .arg(&rig.folder)
        .arg("--projects")
        .arg(&rig.projects)
        .arg("--output")
        .arg(&rig.output)
        .arg("--state")
        .arg(&rig.state)
        .arg("--config")
        .arg(&rig.config)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("renderer profile `karma`") && err.contains("-script"),
        "{err}"
    );
    assert!(!rig.folder.join("status.json").exists());
}
