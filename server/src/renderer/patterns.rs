//! The output parser of every generic profile: the profile's regexes
//! (frame started, percent, frame done, error). A renderer may print a
//! million lines, most of which mean nothing, so one `RegexSet` pass
//! decides whether a line matches any pattern and which; only a matching
//! line is captured, by the one regex that matched first (errors, then
//! frame done, frame started, percent).

use std::path::PathBuf;

use droprender_shared::profile::{Patterns, Profile};
use regex::{Captures, Regex, RegexSet};

use super::{LineParser, Progress};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    Error,
    FrameDone,
    FrameStarted,
    Percent,
}

/// A profile's patterns, compiled once per job.
pub struct Parser {
    set: RegexSet,
    rules: Vec<(Meaning, Regex)>,
}

impl Parser {
    pub fn new(p: &Patterns) -> Result<Self, regex::Error> {
        let mut rules = Vec::new();
        for (meaning, list) in [
            (Meaning::Error, &p.error),
            (Meaning::FrameDone, &p.frame_done),
            (Meaning::FrameStarted, &p.frame_started),
            (Meaning::Percent, &p.percent),
        ] {
            for pat in list {
                rules.push((meaning, Regex::new(pat)?));
            }
        }
        let set = RegexSet::new(rules.iter().map(|(_, r)| r.as_str()))?;
        Ok(Parser { set, rules })
    }

    /// The profile's parser; a profile's patterns were checked when it was
    /// loaded, so failing here means no progress rather than no render.
    pub fn for_profile(p: &Profile) -> Box<dyn LineParser> {
        match Parser::new(&p.run.patterns) {
            Ok(parser) => Box::new(parser),
            Err(e) => {
                tracing::warn!(renderer = %p.name, "output patterns do not compile: {e}");
                Box::new(Silent)
            }
        }
    }
}

/// Reads nothing: a renderer whose patterns could not be compiled.
struct Silent;

impl LineParser for Silent {
    fn line(&mut self, _: &str) -> Option<Progress> {
        None
    }
}

fn text(c: &Captures<'_>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| c.name(n))
        .map(|m| m.as_str().to_string())
}

fn percent(c: &Captures<'_>) -> Option<f64> {
    if let Some(p) = c.name("percent") {
        return p.as_str().parse::<f64>().ok();
    }
    let done: f64 = c.name("done")?.as_str().parse().ok()?;
    let total: f64 = c.name("total")?.as_str().parse().ok()?;
    (total > 0.0).then(|| 100.0 * done / total)
}

impl LineParser for Parser {
    fn line(&mut self, line: &str) -> Option<Progress> {
        let line = line.trim_end();
        let hits = self.set.matches(line);
        if !hits.matched_any() {
            return None;
        }
        for i in hits.iter() {
            let (meaning, re) = &self.rules[i];
            match meaning {
                Meaning::Error => return Some(Progress::Error(line.trim().to_string())),
                Meaning::FrameDone => {
                    let c = re.captures(line)?;
                    return Some(Progress::FrameDone(text(&c, &["path"]).map(PathBuf::from)));
                }
                Meaning::FrameStarted => {
                    let c = re.captures(line)?;
                    return Some(Progress::FrameStarted(text(&c, &["frame", "path"])));
                }
                Meaning::Percent => {
                    if let Some(v) = re.captures(line).as_ref().and_then(percent) {
                        return Some(Progress::Percent(v.clamp(0.0, 100.0)));
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
    use droprender_shared::profile::builtin;

    fn feed(name: &str, lines: &[&str]) -> Vec<Progress> {
        let p = builtin().get(name).expect("profile");
        let mut parser = Parser::new(&p.run.patterns).expect("compiles");
        lines.iter().filter_map(|l| parser.line(l)).collect()
    }

    #[test]
    fn each_builtin_reads_its_renderers_lines() {
        use Progress::*;
        assert_eq!(
            feed(
                "max",
                &[
                    "Frame 3 assigned",
                    "JOB  0.1  progr:    25.0%    rendered on localhost.1",
                    "2026/12/01 10:00:00; Frame 3 completed; 0:00:01",
                    "ERROR : Frame 4 failed to render",
                ]
            ),
            [
                FrameStarted(Some("3".into())),
                Percent(25.0),
                FrameDone(None),
                Error("ERROR : Frame 4 failed to render".into()),
            ]
        );
        assert_eq!(
            feed(
                "husk",
                &[
                    "Rendering frame 2 (1 of 3)",
                    "ALF_PROGRESS 50%",
                    "Image: /o/shot.0002.exr",
                    "Peak Memory Usage: 123.45 MB",
                    "USD ERROR: Karma failed to render frame 3",
                ]
            ),
            [
                FrameStarted(Some("2".into())),
                Percent(50.0),
                FrameDone(Some("/o/shot.0002.exr".into())),
                Error("USD ERROR: Karma failed to render frame 3".into()),
            ]
        );
        assert_eq!(
            feed(
                "c4d",
                &[
                    "Rendering frame 5 at 10:00:00",
                    "Rendering Phase: Setup",
                    "Progress: 140%",
                    "Rendering Phase: Finalize",
                    "Files cannot be written - please check output paths!",
                ]
            ),
            [
                FrameStarted(Some("5".into())),
                Percent(100.0),
                FrameDone(None),
                Error("Files cannot be written - please check output paths!".into()),
            ]
        );
        assert_eq!(
            feed(
                "kick",
                &[
                    "00:00:00   120MB         | rendering image at 160 x 90, 3 AA samples",
                    "00:00:00   120MB         |    75% done - 12 rays/pixel",
                    "00:00:00   120MB         | [driver_exr] writing file `/o/shot.0007.exr'",
                    "00:00:00   120MB ERROR   | render of frame 7 aborted",
                ]
            ),
            [
                FrameStarted(None),
                Percent(75.0),
                FrameDone(Some("/o/shot.0007.exr".into())),
                Error("00:00:00   120MB ERROR   | render of frame 7 aborted".into()),
            ]
        );
        assert_eq!(
            feed(
                "vray",
                &[
                    "[2026/Dec/01|10:00:00] V-Ray: Starting frame 4",
                    "[2026/Dec/01|10:00:00] V-Ray: Rendering image...:  37.5%",
                    "[2026/Dec/01|10:00:00] V-Ray: Rendering image...: done",
                    "[2026/Dec/01|10:00:00] V-Ray: Successfully written image file \"/o/v.0004.exr\"",
                    "[2026/Dec/01|10:00:00] V-Ray: error: Rendering of frame 5 failed",
                ]
            ),
            [
                FrameStarted(Some("4".into())),
                Percent(37.5),
                FrameDone(Some("/o/v.0004.exr".into())),
                Error("[2026/Dec/01|10:00:00] V-Ray: error: Rendering of frame 5 failed".into()),
            ]
        );
    }

    /// The cost of one line, for the numbers in the report: run with
    /// `cargo test --release -p droprender-node --lib parse_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a timing, not a check"]
    fn parse_cost() {
        for (name, lines) in [
            (
                "husk",
                [
                    "ALF_PROGRESS 42%",
                    "some chatter the renderer prints 0123456789",
                ],
            ),
            (
                "kick",
                [
                    "00:00:00   120MB         |    42% done - 12 rays/pixel",
                    "00:00:00   120MB         | chatter that means nothing at all",
                ],
            ),
            (
                "vray",
                [
                    "[2026/Dec/01|10:00:00] V-Ray: Rendering image...:  42.0%",
                    "[2026/Dec/01|10:00:00] V-Ray: chatter that means nothing",
                ],
            ),
        ] {
            let p = builtin().get(name).expect("profile");
            let t = std::time::Instant::now();
            let mut parser = Parser::new(&p.run.patterns).expect("compiles");
            let compile = t.elapsed();
            for (what, line) in ["percent", "other"].iter().zip(lines) {
                let n = 1_000_000;
                let t = std::time::Instant::now();
                let mut hits = 0;
                for _ in 0..n {
                    hits += usize::from(parser.line(std::hint::black_box(line)).is_some());
                }
                let per = t.elapsed().as_nanos() as f64 / f64::from(n);
                println!("{name} {what} line: {per:.0} ns ({hits} events); compile {compile:?}");
            }
        }
    }
}
