//! Untrusted lines for 3ds Max, husk, Cinema 4D, kick and V-Ray: every
//! flag their profiles refuse, paths escaping the output root, scenes
//! outside the projects root, shell text in names. Each line gets one
//! "rejected" LOG line with its reason, and no simulator ever runs for
//! them: the argv log stays empty and no code-running flag "runs" (the
//! simulators' hook log). Valid lines afterwards carry only the flags the
//! profiles allow, plus the node's own.

mod common;

use common::{Rig, write_settled};
use droprender_shared::profile::{Profile, Syntax, builtin, is_unsafe};

/// (profile, program file, scene under scenes/)
const RENDERERS: &[(&str, &str, &str)] = &[
    ("max", "3dsmaxcmd", "shot.max"),
    ("husk", "husk", "shot.usda"),
    ("c4d", "Commandline", "shot.c4d"),
    ("kick", "kick", "shot.0001.ass"),
    ("vray", "vray", "shot.vrscene"),
];

fn profile(name: &str) -> &'static Profile {
    builtin().get(name).expect("profile")
}

fn rig_with_all() -> Rig {
    let mut rig = Rig::new();
    rig.set_env(
        "RENDER_SIM_HOOK_LOG",
        &rig.dir.path().join("hooks.log").display().to_string(),
    );
    for (name, program, scene) in RENDERERS {
        let link = rig.dir.path().join("bin").join(program);
        std::os::unix::fs::symlink(common::bins::node(), &link).expect("symlink");
        rig.configure(&format!(
            "[renderers.{name}]\nprogram = \"{}\"",
            link.display()
        ));
        write_settled(&rig.projects.join("scenes").join(scene), b"scene\n");
        let ext = &profile(name).scene_extensions[0];
        std::fs::write(rig.dir.path().join(format!("outside{ext}")), "x").expect("write");
        std::os::unix::fs::symlink(
            rig.dir.path().join(format!("outside{ext}")),
            rig.projects.join(format!("scenes/link{ext}")),
        )
        .expect("symlink");
    }
    rig
}

/// `flag value` in the profile's own syntax.
fn spelled(p: &Profile, flag: &str, value: &str) -> String {
    match p.syntax {
        Syntax::Space => format!("{flag} {value}"),
        Syntax::Colon => format!("{flag}:{value}"),
        Syntax::Equals => format!("{flag}={value}"),
    }
}

/// `flag value` with the value quoted as one token.
fn quoted(p: &Profile, flag: &str, value: &str) -> String {
    match p.syntax {
        Syntax::Space => format!("{flag} \"{value}\""),
        Syntax::Colon => format!("\"{flag}:{value}\""),
        Syntax::Equals => format!("\"{flag}={value}\""),
    }
}

/// Hostile lines for one renderer, each with a word its rejection says.
fn hostile(name: &str, scene: &str) -> Vec<(String, String)> {
    let p = profile(name);
    let token = &p.programs[0];
    let ext = &p.scene_extensions[0];
    let mut out: Vec<(String, String)> = Vec::new();
    for (denied, why) in p.denied_names() {
        let flag = match denied.trim_end_matches('*') {
            "@" => "@cmds.txt".to_string(),
            f => f.to_string(),
        };
        let reason = format!("is not allowed: {why}");
        out.push((
            format!("rend:{token} {flag} x scenes/{scene}"),
            reason.clone(),
        ));
        out.push((
            format!(
                "rend:{token} {} scenes/{scene}",
                spelled(p, &flag, "/tmp/x")
            ),
            reason,
        ));
        if p.deny_ignores_case {
            let upper = flag.to_ascii_uppercase();
            out.push((
                format!("rend:{token} {upper} x scenes/{scene}"),
                "rejected".into(),
            ));
        }
    }
    // Scenes outside the projects root, typed every way.
    for bad in [
        format!("../outside{ext}"),
        format!("..\\outside{ext}"),
        format!("/etc/passwd{ext}"),
        format!("C:\\Windows\\x{ext}"),
        format!("scenes/link{ext}"),
        format!("scenes/../../outside{ext}"),
    ] {
        out.push((format!("rend:{token} {bad}"), "is outside".into()));
        if let Some(sf) = &p.scene_flag {
            out.push((
                format!("rend:{token} {}", spelled(p, sf, &bad)),
                "is outside".into(),
            ));
        }
    }
    // Output paths escaping the output root.
    if let Some(flag) = p
        .allow
        .iter()
        .find(|s| droprender_shared::profile::kinds::is_output(&s.kind))
    {
        for bad in [
            "../x.exr",
            "..\\x.exr",
            "/tmp/x.exr",
            "C:\\x\\y.exr",
            "a/../../x.exr",
        ] {
            let bad = if flag.name == "-oimage" {
                bad.trim_end_matches(".exr")
            } else {
                bad
            };
            out.push((
                format!(
                    "rend:{token} {} scenes/{scene}",
                    spelled(p, &flag.name, bad)
                ),
                format!("{}:", flag.name),
            ));
        }
    }
    // Shell text: in scene names (no such scene) and in values.
    for bad in ["; rm -rf /", "$(id)", "`id`", "a && reboot", "x | sh"] {
        out.push((
            format!("rend:{token} \"scenes/{bad}{ext}\""),
            "scene".into(),
        ));
        if let Some(cam) = p.allow.iter().find(|s| {
            matches!(
                s.kind,
                droprender_shared::profile::Kind::Name
                    | droprender_shared::profile::Kind::NameWithSpaces
                    | droprender_shared::profile::Kind::PrimPath
            )
        }) {
            out.push((
                format!("rend:{token} {} scenes/{scene}", quoted(p, &cam.name, bad)),
                "rejected".into(),
            ));
        }
    }
    out.push((
        format!("rend:{token} scenes/{scene}; rm -rf /"),
        "comes after the scene".into(),
    ));
    out.push((
        format!("rend:{token} scenes/missing{ext}"),
        "does not exist".into(),
    ));
    out.push((format!("rend:{token} scenes/shot.hip"), "not a".into()));
    if let Some(t) = p
        .allow
        .iter()
        .find(|s| s.kind == droprender_shared::profile::Kind::Threads)
    {
        out.push((
            format!(
                "rend:{token} {} scenes/{scene}",
                spelled(p, &t.name, "1000")
            ),
            "threads than this node".into(),
        ));
    }
    out
}

#[test]
fn hostile_lines_for_every_new_renderer_are_rejected_and_never_run() {
    let mut rig = rig_with_all();
    rig.start();
    let mut lines: Vec<(String, String)> = Vec::new();
    for (name, _, scene) in RENDERERS {
        lines.extend(hostile(name, scene));
    }
    let body: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
    rig.append(body.as_bytes());
    rig.wait_events("rejected", lines.len());
    let rejected = rig.log_events("rejected");
    assert_eq!(
        rejected.len(),
        lines.len(),
        "one LOG line per rejected line"
    );
    for (i, (line, reason)) in lines.iter().enumerate() {
        let tag = format!(" rejected line {}: ", i + 1);
        let l = rejected
            .iter()
            .find(|l| l.contains(&tag))
            .unwrap_or_else(|| panic!("no rejection for line {}: {line}", i + 1));
        assert!(
            reason == "rejected" || l.contains(reason.as_str()),
            "line {} ({line}): expected {reason:?} in {l}",
            i + 1
        );
    }
    assert!(
        rig.render_calls().is_empty(),
        "a hostile line reached a renderer"
    );

    // A scene whose name is shell text renders: argv carries it literally.
    let odd = "$(touch pwned); rm -rf ~.usda";
    write_settled(&rig.projects.join("scenes").join(odd), b"scene\n");
    let mut good = Vec::new();
    for (name, _, scene) in RENDERERS {
        good.push(format!("rend:{} scenes/{scene}", profile(name).programs[0]));
    }
    good.push(format!("rend:husk \"scenes/{odd}\""));
    rig.append(format!("{}\n", good.join("\n")).as_bytes());
    rig.wait_events("finished", good.len());
    assert!(
        !rig.dir.path().join("hooks.log").exists(),
        "a code-running flag ran: {}",
        std::fs::read_to_string(rig.dir.path().join("hooks.log")).unwrap_or_default()
    );
    let calls = rig.render_calls();
    assert_eq!(calls.len(), good.len(), "{calls:#?}");
    assert!(calls.iter().any(|a| a.iter().any(|x| x.ends_with(odd))));
    for (call, (name, _, _)) in calls.iter().zip(RENDERERS) {
        let p = profile(name);
        for arg in call
            .iter()
            .filter(|a| a.starts_with('-') || a.starts_with('@'))
        {
            let flag = match p.syntax {
                Syntax::Space => arg.as_str(),
                _ => arg.split([':', '=']).next().unwrap_or(arg),
            };
            let owned = p.run.fixed.iter().any(|f| f.starts_with(flag))
                || p.run.output.as_ref().is_some_and(|o| o.flag == flag)
                || p.scene_flag.as_deref() == Some(flag);
            assert!(
                owned || p.allowed(flag).is_some(),
                "{name}: {arg} is neither the node's nor allowed: {call:?}"
            );
            assert!(!is_unsafe(flag), "{name}: {arg} in {call:?}");
        }
    }
}
