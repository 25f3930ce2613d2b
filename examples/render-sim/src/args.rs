//! The argv grammar of Maya's `Render`: options first, then exactly one scene
//! file (`.ma` / `.mb`) as the last token.
//!
//! Every flag of the allow and deny tables in `maya-render.md` is accepted
//! with its real arity, because a real `Render` accepts them too: keeping the
//! dangerous ones out is the caller's job, and the simulator makes the
//! MEL-running ones observable (see [`MelHook`]).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::naming::Naming;
use crate::picture::Format;

/// What a flag takes after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arity {
    /// No value (`-verb`).
    Switch,
    /// One of `on|yes|true|1|off|no|false|0`.
    Bool,
    /// Exactly one value.
    Value,
}

/// When the MEL given to a hook flag runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    PreRender,
    PostRender,
    PreLayer,
    PostLayer,
    PreFrame,
    PostFrame,
}

/// A MEL-running flag as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MelHook {
    pub hook: Hook,
    /// The flag as typed, dash included (`-preRender`).
    pub flag: String,
    /// The MEL code.
    pub code: String,
}

/// Flags whose value is MEL code run by Maya (deny table).
const MEL_FLAGS: &[(&str, Hook)] = &[
    ("-preRender", Hook::PreRender),
    ("-pre", Hook::PreRender),
    ("-insertPreRender", Hook::PreRender),
    ("-postRender", Hook::PostRender),
    ("-post", Hook::PostRender),
    ("-insertPostRender", Hook::PostRender),
    ("-preLayer", Hook::PreLayer),
    ("-insertPreLayer", Hook::PreLayer),
    ("-postLayer", Hook::PostLayer),
    ("-insertPostLayer", Hook::PostLayer),
    ("-preFrame", Hook::PreFrame),
    ("-insertPreFrame", Hook::PreFrame),
    ("-postFrame", Hook::PostFrame),
    ("-insertPostFrame", Hook::PostFrame),
];

/// Flags that take no value. `-A` and `-checkpoint` are taken as switches
/// (no source confirmed their arity).
const SWITCHES: &[&str] = &[
    "-help",
    "-verb",
    "-interactive",
    "-A",
    "-rib",
    "-bake",
    "-checkpoint",
    "-noRender",
    "-ipr",
    "-keepMel",
    "-test",
    "-listRenderers",
];

const BOOLS: &[&str] = &["-skipExistingFrames"];

/// Flags that take one value, besides [`MEL_FLAGS`] and any namespaced
/// `-ns:flag` (e.g. `-ai:threads`, `-ai:lfn`).
const VALUES: &[&str] = &[
    "-r",
    "-renderer",
    "-s",
    "-e",
    "-b",
    "-pad",
    "-rfs",
    "-rfb",
    "-cam",
    "-rl",
    "-x",
    "-y",
    "-percentRes",
    "-rd",
    "-im",
    "-of",
    "-fnc",
    "-proj",
    "-n",
    "-threads",
    "-t",
    "-rt",
    "-rst",
    "-rsp",
    "-rsa",
    "-rendersetuptemplate",
    "-rendersettingspreset",
    "-rendersettingsaov",
    "-log",
    "-ribFile",
    "-exportFileName",
    "-pythonver",
];

/// More frames than this in one run is refused (a simulator guard, not Maya's).
const MAX_FRAMES: u64 = 1_000_000;

fn arity(flag: &str) -> Option<Arity> {
    if SWITCHES.contains(&flag) {
        Some(Arity::Switch)
    } else if BOOLS.contains(&flag) {
        Some(Arity::Bool)
    } else if VALUES.contains(&flag)
        || MEL_FLAGS.iter().any(|(f, _)| *f == flag)
        || is_namespaced(flag)
    {
        Some(Arity::Value)
    } else {
        None
    }
}

/// `-ns:flag`, e.g. `-ai:lve`.
fn is_namespaced(flag: &str) -> bool {
    flag.strip_prefix('-')
        .and_then(|f| f.split_once(':'))
        .is_some_and(|(ns, name)| {
            !ns.is_empty() && !name.is_empty() && ns.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

/// Everything the simulator uses from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub renderer: String,
    pub start: f64,
    pub end: f64,
    pub by: f64,
    pub pad: usize,
    pub renumber_start: Option<i64>,
    pub renumber_by: Option<i64>,
    pub skip_existing: bool,
    pub camera: String,
    pub layers: Vec<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub percent_res: f64,
    pub rd: Option<PathBuf>,
    pub im: Option<String>,
    pub format: Format,
    pub naming: Naming,
    pub proj: Option<PathBuf>,
    pub mel: Vec<MelHook>,
    pub scene: PathBuf,
}

/// The outcome of a successful parse.
#[derive(Debug)]
pub enum Command {
    Help,
    ListRenderers,
    Render(Box<Options>),
}

/// A command line Maya would refuse (exit 206); the text names the problem.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

fn usage<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// Parses argv (without argv\[0\]).
pub fn parse(args: &[OsString]) -> Result<Command, UsageError> {
    let mut o = Options {
        renderer: "sw".into(),
        start: 1.0,
        end: 1.0,
        by: 1.0,
        pad: 4,
        renumber_start: None,
        renumber_by: None,
        skip_existing: false,
        camera: "persp".into(),
        layers: Vec::new(),
        width: None,
        height: None,
        percent_res: 100.0,
        rd: None,
        im: None,
        format: Format::Png,
        naming: Naming::NameDotFrameExt,
        proj: None,
        mel: Vec::new(),
        scene: PathBuf::new(),
    };
    let (mut help, mut list) = (false, false);
    let mut scene: Option<&OsString> = None;
    let mut it = args.iter();
    while let Some(raw) = it.next() {
        if let Some(scene) = scene {
            return usage(format!(
                "unexpected {:?} after the scene file {scene:?}",
                raw.to_string_lossy()
            ));
        }
        let Some(flag) = raw.to_str().filter(|s| s.starts_with('-') && s.len() > 1) else {
            scene = Some(raw);
            continue;
        };
        let Some(arity) = arity(flag) else {
            return usage(format!("unknown flag \"{flag}\""));
        };
        let value = match arity {
            Arity::Switch => String::new(),
            Arity::Bool | Arity::Value => match it.next() {
                None => return usage(format!("flag \"{flag}\" needs a value")),
                Some(v) => match v.to_str() {
                    Some(v) => v.to_owned(),
                    None => return usage(format!("value of \"{flag}\" is not valid UTF-8")),
                },
            },
        };
        apply(&mut o, flag, value, &mut help, &mut list)?;
    }
    if help {
        return Ok(Command::Help);
    }
    if list {
        return Ok(Command::ListRenderers);
    }
    let Some(scene) = scene else {
        return usage("no scene file given");
    };
    let scene = PathBuf::from(scene);
    let ext = scene.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !ext.eq_ignore_ascii_case("ma") && !ext.eq_ignore_ascii_case("mb") {
        return usage(format!(
            "scene file {:?} is not a .ma or .mb file",
            scene.display()
        ));
    }
    if o.start > o.end {
        return usage(format!(
            "start frame {} is after end frame {}",
            o.start, o.end
        ));
    }
    let count = crate::naming::frame_count(o.start, o.end, o.by);
    if count > MAX_FRAMES {
        return usage(format!(
            "{count} frames is more than the {MAX_FRAMES} simulated at most"
        ));
    }
    o.scene = scene;
    Ok(Command::Render(Box::new(o)))
}

fn apply(
    o: &mut Options,
    flag: &str,
    v: String,
    help: &mut bool,
    list: &mut bool,
) -> Result<(), UsageError> {
    match flag {
        "-help" => *help = true,
        "-listRenderers" => *list = true,
        "-r" | "-renderer" => o.renderer = v,
        "-s" => o.start = float(flag, &v)?,
        "-e" => o.end = float(flag, &v)?,
        "-b" => {
            o.by = float(flag, &v)?;
            if o.by <= 0.0 {
                return usage(format!("-b must be greater than 0, got \"{v}\""));
            }
        }
        "-pad" => o.pad = int::<usize>(flag, &v).and_then(|p| range(flag, p, 0, 16))?,
        "-rfs" => o.renumber_start = Some(int(flag, &v)?),
        "-rfb" => o.renumber_by = Some(int(flag, &v)?),
        "-skipExistingFrames" => o.skip_existing = boolean(flag, &v)?,
        "-cam" => o.camera = v,
        "-rl" => {
            o.layers = v
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
        }
        "-x" => o.width = Some(int(flag, &v).and_then(|x| range(flag, x, 1, 16384))?),
        "-y" => o.height = Some(int(flag, &v).and_then(|y| range(flag, y, 1, 16384))?),
        "-percentRes" => {
            o.percent_res = float(flag, &v)?;
            if o.percent_res <= 0.0 {
                return usage(format!("-percentRes must be positive, got \"{v}\""));
            }
        }
        "-rd" => o.rd = Some(PathBuf::from(v)),
        "-proj" => o.proj = Some(PathBuf::from(v)),
        "-im" => o.im = Some(v),
        "-of" => {
            o.format = Format::from_name(&v)
                .ok_or_else(|| UsageError(format!("unsupported image format \"{v}\"")))?;
        }
        "-fnc" => {
            o.naming = Naming::from_name(&v)
                .ok_or_else(|| UsageError(format!("unknown file name convention \"{v}\"")))?;
        }
        _ => {
            if let Some((_, hook)) = MEL_FLAGS.iter().find(|(f, _)| *f == flag) {
                o.mel.push(MelHook {
                    hook: *hook,
                    flag: flag.to_owned(),
                    code: v,
                });
            }
            // Everything else is accepted and has no effect on the simulation.
        }
    }
    Ok(())
}

fn float(flag: &str, v: &str) -> Result<f64, UsageError> {
    match v.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => usage(format!("flag \"{flag}\" needs a number, got \"{v}\"")),
    }
}

fn int<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, UsageError> {
    v.parse()
        .or_else(|_| usage(format!("flag \"{flag}\" needs an integer, got \"{v}\"")))
}

fn range<T: PartialOrd + std::fmt::Display>(
    flag: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<T, UsageError> {
    if v < lo || v > hi {
        return usage(format!("flag \"{flag}\" must be in {lo}..{hi}, got {v}"));
    }
    Ok(v)
}

fn boolean(flag: &str, v: &str) -> Result<bool, UsageError> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Ok(true),
        "off" | "no" | "false" | "0" => Ok(false),
        _ => usage(format!("flag \"{flag}\" needs a boolean, got \"{v}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, UsageError> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    fn options(args: &[&str]) -> Options {
        match parse_strs(args) {
            Ok(Command::Render(o)) => *o,
            other => panic!("expected a render command, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_values() {
        let o = options(&["-r", "arnold", "-s", "-2.5", "-e", "3", "-b", "0.5", "a.mb"]);
        assert_eq!(o.renderer, "arnold");
        assert_eq!((o.start, o.end, o.by, o.pad), (-2.5, 3.0, 0.5, 4));
        assert_eq!(o.scene, PathBuf::from("a.mb"));
    }

    #[test]
    fn every_table_flag_has_its_arity() {
        let namespaced = ["-ai:lve", "-ai:lfn", "-ai:uopt", "-ai:sppg", "-ai:port"];
        let mel = MEL_FLAGS.iter().map(|(f, _)| f);
        for &flag in VALUES.iter().chain(mel).chain(&namespaced) {
            let value = match flag {
                "-of" => "exr",
                "-fnc" => "name_#.ext",
                _ => "1",
            };
            options(&[flag, value, "s.ma"]);
        }
        for &flag in SWITCHES
            .iter()
            .filter(|f| !["-help", "-listRenderers"].contains(f))
        {
            options(&[flag, "s.ma"]);
        }
        assert!(options(&["-skipExistingFrames", "on", "s.ma"]).skip_existing);
        assert!(!options(&["-skipExistingFrames", "0", "s.ma"]).skip_existing);
    }

    #[test]
    fn mel_flags_are_recorded_in_order() {
        let o = options(&["-insertPreFrame", "print 1", "-post", "print 2", "s.ma"]);
        let hooks: Vec<_> = o.mel.iter().map(|m| (m.hook, m.flag.as_str())).collect();
        assert_eq!(
            hooks,
            [
                (Hook::PreFrame, "-insertPreFrame"),
                (Hook::PostRender, "-post")
            ]
        );
        assert_eq!(o.mel[1].code, "print 2");
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["-bogus", "1", "a.ma"][..],
            &["-s"],
            &["-s", "1"],
            &["a.ma", "b.ma"],
            &["a.ma", "-s", "1"],
            &["a.txt"],
            &["-skipExistingFrames", "maybe", "a.ma"],
            &["-s", "x", "a.ma"],
            &["-b", "0", "a.ma"],
            &["-s", "5", "-e", "1", "a.ma"],
            &["-of", "gif", "a.ma"],
            &["-fnc", "weird", "a.ma"],
            &["-s", "0", "-e", "999999", "-b", "0.001", "a.ma"],
        ] {
            assert!(parse_strs(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn help_and_list_need_no_scene() {
        assert!(matches!(parse_strs(&["-help"]), Ok(Command::Help)));
        assert!(matches!(
            parse_strs(&["-listRenderers"]),
            Ok(Command::ListRenderers)
        ));
    }
}
