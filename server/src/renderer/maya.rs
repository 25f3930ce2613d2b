//! Maya `Render`: argv, resume, and output parsing per renderer profile
//! (sw, arnold, vray, redshift, renderman; regexes from maya-render.md).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use super::{Invocation, LineParser, Progress, Resolved, frame_range};
use crate::config::Config;

/// Flags the node rewrites itself.
const NODE_OWNED: &[&str] = &["-rd", "-proj", "-s", "-e", "-b"];

fn base_args(job: &Resolved) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    for f in &job.request.flags {
        if NODE_OWNED.contains(&f.name.as_str()) {
            continue;
        }
        args.push(f.name.clone().into());
        if let Some(v) = &f.value {
            args.push(v.into());
        }
    }
    if let Some(p) = &job.project {
        args.push("-proj".into());
        args.push(p.into());
    }
    args.push("-rd".into());
    args.push(job.output_dir.clone().into());
    args
}

fn with_frames(mut args: Vec<OsString>, s: &str, e: &str, b: Option<&str>) -> Vec<OsString> {
    args.extend(["-s".into(), s.into(), "-e".into(), e.into()]);
    if let Some(b) = b {
        args.extend(["-b".into(), b.into()]);
    }
    args
}

/// One invocation, or one per run of missing frames when resuming.
pub fn plan(cfg: &Config, job: &Resolved, done: &BTreeSet<i64>) -> Vec<Invocation> {
    let req = &job.request;
    let program = cfg.maya.clone();
    let finish = |mut args: Vec<OsString>, frames: Vec<i64>| {
        args.push(job.scene.clone().into());
        Invocation {
            program: program.clone(),
            args,
            frames,
            env: Vec::new(),
        }
    };
    let range = frame_range(req);
    let renumbered = req.has_flag("-rfs") || req.has_flag("-rfb");
    let whole = range.and_then(|r| r.whole_frames()).filter(|_| !renumbered);
    match (range, whole) {
        (Some(r), Some(frames)) => {
            let missing: Vec<(usize, i64)> = frames
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, f)| !done.contains(f))
                .collect();
            let step = r.step as i64;
            // Runs of consecutive positions in the stepped sequence.
            let mut out = Vec::new();
            let mut i = 0;
            while i < missing.len() {
                let mut j = i;
                while j + 1 < missing.len() && missing[j + 1].0 == missing[j].0 + 1 {
                    j += 1;
                }
                let (s, e) = (missing[i].1, missing[j].1);
                let b = (step != 1).then(|| step.to_string());
                let args =
                    with_frames(base_args(job), &s.to_string(), &e.to_string(), b.as_deref());
                out.push(finish(args, missing[i..=j].iter().map(|m| m.1).collect()));
                i = j + 1;
            }
            out
        }
        _ => {
            let mut args = base_args(job);
            if let Some(r) = req.flag("-s") {
                args.extend(["-s".into(), r.into()]);
            }
            if let Some(r) = req.flag("-e") {
                args.extend(["-e".into(), r.into()]);
            }
            if let Some(r) = req.flag("-b") {
                args.extend(["-b".into(), r.into()]);
            }
            if !done.is_empty() && !req.has_flag("-skipExistingFrames") {
                args.extend(["-skipExistingFrames".into(), "true".into()]);
            }
            vec![finish(args, Vec::new())]
        }
    }
}

struct Patterns {
    started: Vec<Regex>,
    percent: Vec<Regex>,
    /// A percent out of a total (Redshift blocks).
    fraction: Vec<Regex>,
    done: Vec<Regex>,
}

fn re(s: &str) -> Regex {
    Regex::new(s).unwrap_or_else(|e| panic!("built-in regex {s:?}: {e}"))
}

static SW: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    started: vec![re(r"^Starting Rendering (.+?)\.?$")],
    percent: vec![
        re(r"Percentage of rendering done: (\d+)"),
        re(r"\[PROGRESS\] ([0-9]+) percent"),
    ],
    fraction: vec![],
    done: vec![re(r"^Finished Rendering (.+?)\.?$")],
});
static ARNOLD: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    started: vec![re(r"\[mtoa\] Rendering frame (\S+)")],
    percent: vec![re(r"(\d+)% done")],
    fraction: vec![],
    done: vec![re(r"\[driver_\w+\] writing file `(.+)'")],
});
static VRAY: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    started: vec![re(r"V-Ray: Starting frame (\S+)")],
    percent: vec![re(r"V-Ray: +([0-9]+)%")],
    fraction: vec![],
    done: vec![re(r#"V-Ray: Successfully written image file "(.+)""#)],
});
static REDSHIFT: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    started: vec![re(r"Rendering frame (\S+) \(\d+/\d+\)")],
    percent: vec![],
    fraction: vec![re(r"Block (\d+)/(\d+) .+ rendered")],
    done: vec![re(r"\[Redshift\] Saved file '(.+)'")],
});
static RENDERMAN: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    started: vec![re(r"\[RfM\] Rendering frame (\S+)")],
    percent: vec![re(r"R90000\s+([0-9]+)%")],
    fraction: vec![],
    done: vec![re(r#"\[RfM\] Wrote image "(.+)""#)],
});
static MENTALRAY: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    started: vec![re(r"info : rendering frame (\S+)")],
    percent: vec![re(r"progr: +([0-9]+)\.[0-9]+% +rendered")],
    fraction: vec![],
    done: vec![re(r"wrote image file (\S+)")],
});

/// Error substrings that mean the render failed.
const ERRORS: &[&str] = &[
    "Frame aborted",
    "Frame rendering aborted",
    "Fatal Error",
    "failed to render",
    "(kFailure)",
    "Usage: Render ",
    "Maya: License was not obtained",
    "FLEXlm error",
    "Cannot load scene",
    "[mtoa] Failed batch render",
];

/// Output parser for one Maya renderer, or all of them when `-r` is not given.
pub struct Parser {
    profiles: Vec<&'static Patterns>,
}

impl Parser {
    pub fn new(renderer: Option<&str>) -> Self {
        let all = || -> Vec<&'static Patterns> {
            vec![&SW, &ARNOLD, &VRAY, &REDSHIFT, &RENDERMAN, &MENTALRAY]
        };
        let profiles = match renderer {
            Some("sw" | "hw2" | "file" | "default") => vec![&*SW],
            Some("arnold") => vec![&*ARNOLD],
            Some("vray") => vec![&*VRAY],
            Some("redshift") => vec![&*REDSHIFT],
            Some("renderman") => vec![&*RENDERMAN],
            _ => all().into_iter().collect(),
        };
        Self { profiles }
    }
}

impl LineParser for Parser {
    fn line(&mut self, line: &str) -> Option<Progress> {
        let line = line.trim_end();
        if let Some(e) = ERRORS.iter().find(|e| line.contains(*e)) {
            let _ = e;
            return Some(Progress::Error(line.trim().to_string()));
        }
        for p in &self.profiles {
            for r in &p.done {
                if let Some(c) = r.captures(line) {
                    return Some(Progress::FrameDone(
                        c.get(1).map(|m| PathBuf::from(m.as_str())),
                    ));
                }
            }
            for r in &p.started {
                if let Some(c) = r.captures(line) {
                    return Some(Progress::FrameStarted(
                        c.get(1).map(|m| m.as_str().to_string()),
                    ));
                }
            }
            for r in &p.percent {
                if let Some(v) = r
                    .captures(line)
                    .and_then(|c| c.get(1)?.as_str().parse::<f64>().ok())
                {
                    return Some(Progress::Percent(v.min(100.0)));
                }
            }
            for r in &p.fraction {
                if let Some(c) = r.captures(line) {
                    let a = c.get(1)?.as_str().parse::<f64>().ok()?;
                    let b = c.get(2)?.as_str().parse::<f64>().ok()?;
                    if b > 0.0 {
                        return Some(Progress::Percent((100.0 * a / b).min(100.0)));
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: Option<&str>, lines: &[&str]) -> Vec<Progress> {
        let mut p = Parser::new(r);
        lines.iter().filter_map(|l| p.line(l)).collect()
    }

    #[test]
    fn sw_lines() {
        let got = feed(
            Some("sw"),
            &[
                "Starting Rendering /p/shot.0001.png.",
                "Constructing shading groups.",
                "Percentage of rendering done: 50 (/p/shot.0001.png)",
                "Finished Rendering /p/shot.0001.png.",
                "// Error: Frame rendering aborted //",
            ],
        );
        assert_eq!(
            got,
            [
                Progress::FrameStarted(Some("/p/shot.0001.png".into())),
                Progress::Percent(50.0),
                Progress::FrameDone(Some("/p/shot.0001.png".into())),
                Progress::Error("// Error: Frame rendering aborted //".into()),
            ]
        );
    }

    #[test]
    fn other_renderers() {
        assert_eq!(
            feed(
                Some("arnold"),
                &["00:00:03  123MB  |    45% done - 23 rays/pixel"]
            ),
            [Progress::Percent(45.0)]
        );
        assert_eq!(
            feed(Some("vray"), &["V-Ray:  45%"]),
            [Progress::Percent(45.0)]
        );
        assert_eq!(
            feed(
                Some("redshift"),
                &["[Redshift] Block 12/48 (3,0) rendered by GPU 0 in 10ms"]
            ),
            [Progress::Percent(25.0)]
        );
        assert_eq!(
            feed(Some("renderman"), &["R90000  45%"]),
            [Progress::Percent(45.0)]
        );
        assert_eq!(feed(None, &["V-Ray:  10%"]), [Progress::Percent(10.0)]);
    }
}
