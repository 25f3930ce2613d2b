//! Autodesk 3ds Max `3dsmaxcmd` (docs/renderers.md §1).
//!
//! `3dsmaxcmd [switches] scene.max`: switches are case-insensitive and take
//! their value after `:`, `=` or a space; `@file` / `-cmdFile:file` read more
//! switches from a file; the one bare token is the scene (`.max`).
//!
//! Frames `-start`..`-end` step `-nthFrame`, or `-frames:1,3,5-12`; each is
//! written as `<outputName stem><frame padded to 4>.<ext>` (no separator),
//! `-stillFrame` writes the name as given. The output directory must exist
//! (3dsmaxcmd aborts with error 0x3 otherwise). `-preRenderScript` /
//! `-script` "run" before the render, `-postRenderScript` after it.

use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::{
    Ctx, EXIT_ERROR, HookCall, Out, Plan, Planned, Style, Usage, When, absolute, float, format_of,
    hms, int, padded, range, usage, utc_now, with_frame,
};
use crate::knobs::Knobs;
use crate::picture::{self, Format};

/// Switches that take no value (an inline `:value` is still accepted).
const SWITCHES: &[&str] = &[
    "?",
    "x",
    "continueonerror",
    "stillframe",
    "batchrender",
    "writejobfile",
    "dependencies",
];

/// Switches that take a value (lower case). Every switch of the allow and
/// deny tables in docs/renderers.md, as a real 3dsmaxcmd accepts them.
const VALUES: &[&str] = &[
    "start",
    "end",
    "nthframe",
    "frames",
    "camera",
    "cam",
    "width",
    "w",
    "height",
    "h",
    "pixelaspect",
    "outputname",
    "o",
    "v",
    "skiprenderedframes",
    "rfw",
    "showrfw",
    "renderelements",
    "gammacorrection",
    "gammavaluein",
    "gammavalueout",
    "prerenderscript",
    "script",
    "postrenderscript",
    "cmdfile",
    "preset",
    "rps",
    "scenestate",
    "workpath",
    "pathfile",
    "bitmappath",
    "xrefpath",
    "split",
    "strip",
    "stitch",
    "submit",
    "netmask",
    "port",
    "manager",
    "priority",
    "suspended",
    "readjobfile",
    "waitload",
    "waitrender",
    "waitunload",
    "secure",
    "imagesequencefile",
    "atmospherics",
    "renderhidden",
    "effects",
    "usearealights",
    "displacements",
    "force2sided",
    "videocolorcheck",
    "superblack",
    "renderfields",
    "fieldorder",
    "useadvlight",
    "computeadvlight",
    "ditherpaletted",
    "dithertruecolor",
    "videopostjob",
    "bmp_type",
    "jpeg_quality",
    "jpeg_smoothing",
    "targa_colordepth",
    "targa_compressed",
    "targa_alphasplit",
    "targa_premultalpha",
    "tif_type",
    "tif_alpha",
    "tif_compression",
    "tif_dpi",
];

/// The command line as understood.
#[derive(Debug, Default)]
struct Options {
    scene: Option<PathBuf>,
    start: Option<f64>,
    end: Option<f64>,
    nth: Option<f64>,
    frames: Option<Vec<f64>>,
    still: bool,
    output: Option<PathBuf>,
    width: Option<u32>,
    height: Option<u32>,
    verbosity: u8,
    skip: bool,
    hooks: Vec<HookCall>,
    help: bool,
}

fn boolean(flag: &str, v: &str) -> Result<bool, Usage> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => usage(format!("-{flag} needs 1, 0, true or false, got \"{v}\"")),
    }
}

/// `1,3,5-12` (ranges inclusive).
fn frame_list(v: &str) -> Result<Vec<f64>, Usage> {
    let mut frames = Vec::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-').filter(|(a, _)| !a.is_empty()) {
            Some((a, b)) => (int::<i64>("-frames", a)?, int::<i64>("-frames", b)?),
            None => {
                let n = int::<i64>("-frames", part)?;
                (n, n)
            }
        };
        frames.extend(range(a as f64, b as f64, 1.0)?);
        if frames.len() > super::MAX_FRAMES {
            return usage("too many frames");
        }
    }
    if frames.is_empty() {
        return usage(format!("-frames has no frames: \"{v}\""));
    }
    Ok(frames)
}

fn parse(args: &[String], o: &mut Options, depth: u32) -> Result<(), Usage> {
    let mut it = args.iter();
    while let Some(tok) = it.next() {
        if let Some(file) = tok.strip_prefix('@') {
            read_command_file(file, o, depth)?;
            continue;
        }
        let Some(body) = tok.strip_prefix('-').filter(|b| !b.is_empty()) else {
            if let Some(scene) = &o.scene {
                return usage(format!(
                    "two scene files: \"{}\" and \"{tok}\"",
                    scene.display()
                ));
            }
            o.scene = Some(PathBuf::from(tok));
            continue;
        };
        let (name, inline) = match body.find([':', '=']) {
            Some(at) => (&body[..at], Some(body[at + 1..].to_owned())),
            None => (body, None),
        };
        let key = name.to_ascii_lowercase();
        let value = if SWITCHES.contains(&key.as_str()) {
            inline.unwrap_or_default()
        } else if VALUES.contains(&key.as_str()) {
            match inline {
                Some(v) => v,
                None => match it.next() {
                    Some(v) => v.clone(),
                    None => return usage(format!("-{name} needs a value")),
                },
            }
        } else {
            return usage(format!("unknown switch \"-{name}\""));
        };
        apply(o, &key, name, value, depth)?;
    }
    Ok(())
}

fn read_command_file(file: &str, o: &mut Options, depth: u32) -> Result<(), Usage> {
    if depth > 4 {
        return usage("command files nested too deeply");
    }
    let text = fs::read_to_string(file)
        .or_else(|e| usage(format!("cannot read command file \"{file}\": {e}")))?;
    let tokens: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    parse(&tokens, o, depth + 1)
}

fn apply(o: &mut Options, key: &str, name: &str, v: String, depth: u32) -> Result<(), Usage> {
    let flag = format!("-{name}");
    match key {
        "?" | "x" => o.help = true,
        "start" => o.start = Some(float(&flag, &v)?),
        "end" => o.end = Some(float(&flag, &v)?),
        "nthframe" => o.nth = Some(float(&flag, &v)?),
        "frames" => o.frames = Some(frame_list(&v)?),
        "stillframe" => o.still = true,
        "outputname" | "o" => o.output = Some(PathBuf::from(v)),
        "width" | "w" => o.width = Some(int(&flag, &v)?),
        "height" | "h" => o.height = Some(int(&flag, &v)?),
        "v" => {
            let level: u8 = int(&flag, &v)?;
            if level > 5 {
                return usage(format!("-v takes 0 to 5, got {level}"));
            }
            o.verbosity = level;
        }
        "skiprenderedframes" => o.skip = boolean(name, &v)?,
        "rfw" | "showrfw" => {
            boolean(name, &v)?;
        }
        "prerenderscript" | "script" => o.hooks.push(HookCall::new(When::Start, &flag, &v)),
        "postrenderscript" => o.hooks.push(HookCall::new(When::End, &flag, &v)),
        "cmdfile" => read_command_file(&v, o, depth)?,
        // Everything else is accepted and has no effect on the simulation.
        _ => {}
    }
    Ok(())
}

struct MaxStyle {
    verbosity: u8,
}

impl Style for MaxStyle {
    fn frame_start(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![format!("Frame {} assigned", c.frame)]
    }

    fn progress(&self, _c: &Ctx<'_>, _i: usize, _n: usize, pct: u32) -> Option<String> {
        Some(format!(
            "JOB  0.1  progr: {:>7.1}%    rendered on localhost.1",
            pct as f32
        ))
    }

    fn frame_done(&self, c: &Ctx<'_>, took: Duration) -> Vec<String> {
        if self.verbosity >= 5 {
            vec![format!("Frame {} completed; {}", c.frame, hms(took))]
        } else {
            vec![format!("Frame {} completed", c.frame)]
        }
    }

    fn skipped(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![format!("Frame {} skipped: {} exists", c.frame, c.path)]
    }

    fn failed(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![
            format!("ERROR : Frame {} failed to render", c.frame),
            "Error occured while rendering job.".to_owned(),
        ]
    }

    fn cannot_write(&self, c: &Ctx<'_>, why: &str) -> Vec<String> {
        vec![
            format!("ERROR : Cannot write {}: {why} (error 0x3)", c.path),
            "Error occured while rendering job.".to_owned(),
        ]
    }

    /// At `-v:5` every line carries the date and time before a `;`.
    fn decorate(&self, line: &str, _elapsed: Duration) -> String {
        if self.verbosity >= 5 {
            let (y, mo, d, h, mi, s) = utc_now();
            format!("{y:04}/{mo:02}/{d:02} {h:02}:{mi:02}:{s:02}; {line}")
        } else {
            line.to_owned()
        }
    }
}

const HELP: &str = "\
Usage: 3dsmaxcmd [switches] scene.max
  -start:<n> -end:<n> -nthFrame:<n>   frame range and step
  -frames:<list>                      frame list, e.g. 1,3,5-12
  -stillFrame                         one image, no frame number
  -outputName:<file>  (-o:)           output file; the extension picks the format
  -width:<n> -height:<n>  (-w: -h:)   image size
  -camera:<name>                      camera to render
  -skipRenderedFrames:<bool>          skip frames whose file exists
  -v:<0..5>                           verbosity; 5 adds time stamps
  -preRenderScript:<file> (-script:)  MAXScript run before rendering
  -postRenderScript:<file>            MAXScript run after rendering
  @<file>  -cmdFile:<file>            read switches from a file
Switches are not case sensitive; ':' may be replaced by '=' or a space.";

/// Runs `3dsmaxcmd` with argv (without argv\[0\]).
pub(crate) fn run(args: &[OsString], knobs: &Knobs) -> i32 {
    let style = MaxStyle { verbosity: 0 };
    let out = Out::new(knobs, &style);
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut o = Options::default();
    if let Err(Usage(why)) = parse(&args, &mut o, 0) {
        out.plain(&format!("3dsmaxcmd: {why}"));
        out.plain("Type \"3dsmaxcmd -?\" for the list of switches.");
        return EXIT_ERROR;
    }
    if o.help {
        out.plain(HELP);
        return 0;
    }
    match plan(&o) {
        Ok(plan) => super::render(
            &plan,
            &MaxStyle {
                verbosity: o.verbosity,
            },
            knobs,
        ),
        Err(Failure::Usage(why)) => {
            out.plain(&format!("3dsmaxcmd: {why}"));
            out.plain("Type \"3dsmaxcmd -?\" for the list of switches.");
            EXIT_ERROR
        }
        Err(Failure::Scene(path)) => {
            out.plain(&format!(
                "ERROR : Could not load scene file \"{}\"",
                path.display()
            ));
            out.plain("Error occured while rendering job.");
            EXIT_ERROR
        }
    }
}

enum Failure {
    Usage(String),
    Scene(PathBuf),
}

impl From<Usage> for Failure {
    fn from(Usage(why): Usage) -> Self {
        Failure::Usage(why)
    }
}

fn plan(o: &Options) -> Result<Plan, Failure> {
    let Some(scene) = &o.scene else {
        return Err(usage::<()>("no scene file given").unwrap_err().into());
    };
    let is_max = scene
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("max"));
    if !is_max {
        return Err(Failure::Usage(format!(
            "\"{}\" is not a .max scene",
            scene.display()
        )));
    }
    if !scene.is_file() {
        return Err(Failure::Scene(scene.clone()));
    }
    let scene = absolute(scene);
    let numbers = match &o.frames {
        Some(list) => list.clone(),
        None => {
            let start = o.start.unwrap_or(0.0);
            range(start, o.end.unwrap_or(start), o.nth.unwrap_or(1.0))?
        }
    };
    let base = match &o.output {
        Some(p) => absolute(p),
        None => scene.with_extension("png"),
    };
    let format: Format = format_of(&base).ok_or_else(|| {
        Failure::Usage(format!("unsupported output format \"{}\"", base.display()))
    })?;
    let frames = if o.still {
        vec![Planned {
            number: numbers[0],
            path: base,
        }]
    } else {
        numbers
            .iter()
            .map(|n| Planned {
                number: *n,
                path: with_frame(&base, "", &padded(*n, 4)),
            })
            .collect()
    };
    Ok(Plan {
        frames,
        format,
        size: picture::size(o.width, o.height, 100.0),
        hooks: o.hooks.clone(),
        make_dirs: false,
        skip_existing: o.skip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Result<Options, Usage> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let mut o = Options::default();
        parse(&args, &mut o, 0).map(|()| o)
    }

    #[test]
    fn three_separators_and_any_case() {
        for args in [
            &["-start:2", "-END=4", "-nthFrame", "2", "a.max"][..],
            &["a.max", "-Start", "2", "-end:4", "-NTHFRAME=2"],
        ] {
            let o = options(args).expect("parses");
            assert_eq!((o.start, o.end, o.nth), (Some(2.0), Some(4.0), Some(2.0)));
            assert_eq!(o.scene, Some(PathBuf::from("a.max")));
        }
    }

    #[test]
    fn frame_lists_and_hooks() {
        let o = options(&[
            "-frames:1,3,5-7",
            "-preRenderScript:p.ms",
            "-script=q.ms",
            "a.max",
        ])
        .expect("parses");
        assert_eq!(o.frames, Some(vec![1.0, 3.0, 5.0, 6.0, 7.0]));
        let flags: Vec<_> = o.hooks.iter().map(|h| (h.when, h.flag.as_str())).collect();
        assert_eq!(
            flags,
            [(When::Start, "-preRenderScript"), (When::Start, "-script")]
        );
    }

    #[test]
    fn refusals() {
        for bad in [
            &["-bogus:1", "a.max"][..],
            &["-start"],
            &["a.max", "b.max"],
            &["-v:9", "a.max"],
            &["-frames:x", "a.max"],
            &["-skipRenderedFrames:maybe", "a.max"],
        ] {
            assert!(options(bad).is_err(), "{bad:?}");
        }
    }
}
