//! Houdini `husk` (docs/renderers.md §2).
//!
//! `husk [options] usd_file`: Boost-style options, `--name value`,
//! `--name=value`, `-x value` or a glued `-xvalue` (`-Va2`); `--res` and
//! `--tile-count` take two values; the USD file is positional anywhere (or
//! `--usd-input`). Only `.usd .usda .usdc .usdz`: a `.hip` is refused.
//!
//! Frames `--frame f`, `--frame-count n`, `--frame-inc i`; `-o` expands
//! `$F4 $F $FF $N <F4> <F> %04d %d %g` per frame. The output directory is
//! created only with `--make-output-path`. `-V` with `a` turns on the
//! `ALF_PROGRESS NN%` lines. The four `--pre/post render/frame` scripts "run"
//! at their point.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Ctx, EXIT_ERROR, HookCall, Out, Plan, Planned, Style, Usage, When, absolute, float, format_of,
    int, padded, usage,
};
use crate::knobs::Knobs;
use crate::naming;
use crate::picture;

/// Every option of `husk --help` (Houdini 19.5) with its value count, plus
/// 20.5's snapshot scripts. Short names map to long ones.
const OPTIONS: &[(&str, Option<char>, u8)] = &[
    ("help", Some('h'), 0),
    ("version", Some('v'), 0),
    ("properties", None, 0),
    ("property-definitions", None, 0),
    ("property-definitions-file", None, 1),
    ("procedurals", None, 0),
    ("filters", None, 0),
    ("engine", None, 1),
    ("pixel-samples", Some('p'), 1),
    ("bucket-size", None, 1),
    ("bucket-order", None, 1),
    ("image-mode", None, 1),
    ("progressive-passes", None, 1),
    ("disable-lighting", None, 0),
    ("ao-samples", None, 1),
    ("ao-distance", None, 1),
    ("lock-random", None, 1),
    ("dicingcamera", None, 1),
    ("optimize-offline", None, 1),
    ("convergence-mode", None, 1),
    ("baking-info", None, 0),
    ("usd-input", None, 1),
    ("resolver-context", None, 1),
    ("list-settings", None, 0),
    ("list-cameras", None, 0),
    ("list-renderers", None, 0),
    ("purpose", None, 1),
    ("complexity", None, 1),
    ("mask", None, 1),
    ("disable-scene-materials", None, 0),
    ("disable-scene-lights", None, 0),
    ("disable-motionblur", None, 0),
    ("disable-delegate-products", None, 0),
    ("settings", Some('s'), 1),
    ("prerender-script", None, 1),
    ("preframe-script", None, 1),
    ("postframe-script", None, 1),
    ("postrender-script", None, 1),
    ("presnapshot-script", None, 1),
    ("postsnapshot-script", None, 1),
    ("allowed-procedurals", None, 1),
    ("capture-procedurals", None, 0),
    ("procedurals-capture-directory", None, 1),
    ("usd-trace", None, 1),
    ("usd-chrome-file", None, 1),
    ("camera", Some('c'), 1),
    ("output", Some('o'), 1),
    ("res", Some('r'), 2),
    ("res-scale", Some('S'), 1),
    ("pixel-aspect", None, 1),
    ("make-output-path", None, 0),
    ("mplay-monitor", None, 1),
    ("mplay-scale", None, 1),
    ("no-mplay", None, 0),
    ("mplay-update", None, 1),
    ("mplay-session", None, 1),
    ("mplay-bgimage", None, 1),
    ("mplay-remotehost", None, 1),
    ("mplay-gamma", None, 1),
    ("mplay-lut", None, 1),
    ("frame", Some('f'), 1),
    ("frame-count", Some('n'), 1),
    ("frame-inc", Some('i'), 1),
    ("fps", None, 1),
    ("renderer", Some('R'), 1),
    ("delegate-options", None, 1),
    ("threads", Some('j'), 1),
    ("fast-exit", None, 1),
    ("restart-delegate", None, 1),
    ("snapshot", None, 1),
    ("snapshot-path", None, 1),
    ("snapshot-suffix", None, 1),
    ("snapshot-save-mode", None, 1),
    ("exrmode", None, 1),
    ("autocrop", None, 1),
    ("tile-count", None, 2),
    ("tile-index", None, 1),
    ("tile-suffix", None, 1),
    ("timelimit", None, 1),
    ("timelimit-image", None, 0),
    ("timelimit-nosave-partial", None, 0),
    ("stdout", None, 1),
    ("stderr", None, 1),
    ("append-stdout", None, 1),
    ("append-stderr", None, 1),
    ("windows-console", None, 1),
    ("verbose", Some('V'), 1),
    ("check-licenses", None, 1),
    ("skip-licenses", None, 1),
    ("list-license-checks", None, 0),
    ("skip-license-modes", None, 1),
    ("check-license-modes", None, 1),
    ("license-release-delay", None, 0),
    ("license-max-seat-hold", None, 0),
    ("apprentice", None, 0),
    ("indie", None, 0),
    ("core", None, 0),
    ("pdg", None, 0),
];

/// Python-script options and when they run (snapshot scripts never run: the
/// simulator takes no snapshots).
const SCRIPTS: &[(&str, Option<When>)] = &[
    ("prerender-script", Some(When::Start)),
    ("preframe-script", Some(When::BeforeFrame)),
    ("postframe-script", Some(When::AfterFrame)),
    ("postrender-script", Some(When::End)),
    ("presnapshot-script", None),
    ("postsnapshot-script", None),
];

#[derive(Debug, Default)]
struct Options {
    scene: Option<PathBuf>,
    start: f64,
    count: Option<usize>,
    inc: Option<f64>,
    output: Option<String>,
    res: Option<(u32, u32)>,
    scale: f64,
    make_path: bool,
    alfred: bool,
    hooks: Vec<HookCall>,
    info: Option<&'static str>,
}

fn lookup_long(name: &str) -> Option<(&'static str, u8)> {
    OPTIONS
        .iter()
        .find(|(long, _, _)| *long == name)
        .map(|(l, _, n)| (*l, *n))
}

fn lookup_short(c: char) -> Option<(&'static str, u8)> {
    OPTIONS
        .iter()
        .find(|(_, short, _)| *short == Some(c))
        .map(|(l, _, n)| (*l, *n))
}

fn parse(args: &[String]) -> Result<Options, Usage> {
    let mut o = Options {
        start: 1.0,
        scale: 100.0,
        ..Options::default()
    };
    let mut it = args.iter().peekable();
    while let Some(tok) = it.next() {
        let (long, arity, mut inline) = if let Some(body) = tok.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            let Some((long, arity)) = lookup_long(name) else {
                return usage(format!("unrecognised option '--{name}'"));
            };
            (long, arity, inline)
        } else if let Some(body) = tok.strip_prefix('-').filter(|b| !b.is_empty()) {
            let c = body.chars().next().unwrap_or('-');
            let Some((long, arity)) = lookup_short(c) else {
                return usage(format!("unrecognised option '-{c}'"));
            };
            let rest = &body[c.len_utf8()..];
            let inline = (!rest.is_empty()).then(|| rest.to_owned());
            if arity == 0 && inline.is_some() {
                return usage(format!("option '-{c}' does not take a value"));
            }
            (long, arity, inline)
        } else {
            if let Some(scene) = &o.scene {
                return usage(format!(
                    "too many positional options: \"{}\" and \"{tok}\"",
                    scene.display()
                ));
            }
            o.scene = Some(PathBuf::from(tok));
            continue;
        };
        let mut values = Vec::new();
        for _ in 0..arity {
            match inline.take().or_else(|| it.next().cloned()) {
                Some(v) => values.push(v),
                None => {
                    return usage(format!(
                        "the required argument for option '--{long}' is missing"
                    ));
                }
            }
        }
        if arity == 0 && inline.is_some() {
            return usage(format!("option '--{long}' does not take a value"));
        }
        apply(&mut o, long, tok, &values)?;
    }
    Ok(o)
}

fn apply(o: &mut Options, long: &'static str, typed: &str, v: &[String]) -> Result<(), Usage> {
    let flag = format!("--{long}");
    let first = v.first().map_or("", String::as_str);
    if let Some((_, when)) = SCRIPTS.iter().find(|(name, _)| *name == long) {
        if let Some(when) = when {
            // The flag as typed, without any `=value`.
            let shown = typed.split('=').next().unwrap_or(typed);
            o.hooks.push(HookCall::new(*when, shown, first));
        }
        return Ok(());
    }
    match long {
        "help"
        | "version"
        | "list-settings"
        | "list-cameras"
        | "list-renderers"
        | "properties"
        | "procedurals"
        | "filters"
        | "baking-info"
        | "list-license-checks" => {
            o.info = Some(long);
        }
        "usd-input" => o.scene = Some(PathBuf::from(first)),
        "frame" => o.start = float(&flag, first)?,
        "frame-count" => {
            let n: usize = int(&flag, first)?;
            if n == 0 || n > super::MAX_FRAMES {
                return usage(format!("{flag} must be 1 to {}", super::MAX_FRAMES));
            }
            o.count = Some(n);
        }
        "frame-inc" => o.inc = Some(float(&flag, first)?),
        "output" => o.output = Some(first.to_owned()),
        "res" => o.res = Some((int(&flag, first)?, int(&flag, &v[1])?)),
        "res-scale" => o.scale = float(&flag, first)?,
        "make-output-path" => o.make_path = true,
        "verbose" => {
            if first.is_empty()
                || !first
                    .chars()
                    .all(|c| c.is_ascii_digit() || "pPaAcCeEtT".contains(c))
            {
                return usage(format!("invalid verbosity \"{first}\""));
            }
            // The last a/A wins.
            if let Some(c) = first.chars().rev().find(|c| *c == 'a' || *c == 'A') {
                o.alfred = c == 'a';
            }
        }
        // Everything else is accepted and has no effect on the simulation.
        _ => {}
    }
    Ok(())
}

/// Expands husk's frame variables in an output path for one frame.
fn expand(pattern: &str, frame: f64, index: usize) -> String {
    let int_part = frame.trunc();
    let plain = naming::plain_frame(frame);
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        let digits = |s: &str| -> usize { s.chars().take_while(char::is_ascii_digit).count() };
        if let Some(r) = rest.strip_prefix("$FF") {
            out.push_str(&plain);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("$F") {
            let n = digits(r);
            let pad = r[..n].parse().unwrap_or(1);
            out.push_str(&padded(int_part, pad));
            rest = &r[n..];
        } else if let Some(r) = rest.strip_prefix("$N") {
            out.push_str(&(index + 1).to_string());
            rest = r;
        } else if let Some(r) = rest.strip_prefix("<F") {
            let n = digits(r);
            if let Some(r2) = r[n..].strip_prefix('>') {
                out.push_str(&padded(int_part, r[..n].parse().unwrap_or(1)));
                rest = r2;
            } else if let Some(r2) = r.strip_prefix("F>") {
                out.push_str(&plain);
                rest = r2;
            } else {
                out.push('<');
                rest = &rest[1..];
            }
        } else if let Some(r) = rest.strip_prefix('%') {
            let zero = r.starts_with('0');
            let n = digits(r);
            match r[n..].chars().next() {
                Some('d') => {
                    let pad = if zero { r[..n].parse().unwrap_or(1) } else { 1 };
                    out.push_str(&padded(int_part, pad));
                    rest = &r[n + 1..];
                }
                Some('g') if n == 0 => {
                    out.push_str(&plain);
                    rest = &r[1..];
                }
                _ => {
                    out.push('%');
                    rest = r;
                }
            }
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

struct HuskStyle {
    alfred: bool,
}

impl Style for HuskStyle {
    fn frame_start(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![format!(
            "Rendering frame {} ({} of {})",
            c.frame, c.ordinal, c.total
        )]
    }

    fn progress(&self, _c: &Ctx<'_>, _i: usize, _n: usize, pct: u32) -> Option<String> {
        self.alfred.then(|| format!("ALF_PROGRESS {pct}%"))
    }

    fn frame_done(&self, c: &Ctx<'_>, _took: Duration) -> Vec<String> {
        vec![format!("Image: {}", c.path)]
    }

    fn skipped(&self, _c: &Ctx<'_>) -> Vec<String> {
        Vec::new()
    }

    fn failed(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![format!(
            "USD ERROR: Karma failed to render frame {}",
            c.frame
        )]
    }

    fn cannot_write(&self, c: &Ctx<'_>, why: &str) -> Vec<String> {
        vec![format!("[karma] Failed to create file {}: {why}", c.path)]
    }

    fn job_done(&self, _took: Duration) -> Vec<String> {
        vec!["Peak Memory Usage: 123.45 MB".to_owned()]
    }
}

const HELP: &str = "\
Usage: husk [options] usdfile
  -f [ --frame ] arg (=1)        The start frame for rendering
  -n [ --frame-count ] arg (=1)  The number of frames to render
  -i [ --frame-inc ] arg (=1)    The frame increment
  -o [ --output ] arg            Output image ($F, $FF, $F4, $N, <F4>, %04d)
  -r [ --res ] arg               Image resolution (e.g. '--res 1280 720')
  -S [ --res-scale ] arg (=100)  Scale the output resolution by a percentage
  -c [ --camera ] arg            Render from the specified camera
  -s [ --settings ] arg          Render using this RenderSettings prim
  -R [ --renderer ] arg          Choose a specific Hydra delegate
  -j [ --threads ] arg (=0)      Thread count
  -V [ --verbose ] arg           Verbosity 0-9; a/A Alfred progress on/off
  --make-output-path             Create the output directory
  --prerender-script arg         Python script run before rendering
  --preframe-script arg          Python script run before each frame
  --postframe-script arg         Python script run after each frame
  --postrender-script arg        Python script run after all frames";

fn is_usd(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["usd", "usda", "usdc", "usdz"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Runs `husk` with argv (without argv\[0\]).
pub(crate) fn run(args: &[OsString], knobs: &Knobs) -> i32 {
    let style = HuskStyle { alfred: false };
    let out = Out::new(knobs, &style);
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let refuse = |why: &str| {
        out.plain(&format!("Error: {why}"));
        out.plain("Usage: husk [options] usdfile");
        EXIT_ERROR
    };
    let o = match parse(&args) {
        Ok(o) => o,
        Err(Usage(why)) => return refuse(&why),
    };
    match o.info {
        Some("help") => {
            out.plain(HELP);
            return 0;
        }
        Some("version") => {
            out.plain("husk (render-sim) 20.5.000");
            return 0;
        }
        Some(_) => {
            out.plain("(nothing to list in the simulator)");
            return 0;
        }
        None => {}
    }
    let Some(scene) = &o.scene else {
        return refuse("no USD file given");
    };
    if !is_usd(scene) {
        return refuse(&format!(
            "\"{}\" is not a USD file; husk renders .usd/.usda/.usdc/.usdz (a .hip needs hython)",
            scene.display()
        ));
    }
    if !scene.is_file() {
        out.plain(&format!(
            "USD ERROR: Unable to open USD file \"{}\"",
            scene.display()
        ));
        return EXIT_ERROR;
    }
    match plan(&o, &absolute(scene)) {
        Ok(plan) => super::render(&plan, &HuskStyle { alfred: o.alfred }, knobs),
        Err(Usage(why)) => refuse(&why),
    }
}

fn plan(o: &Options, scene: &Path) -> Result<Plan, Usage> {
    let count = o.count.unwrap_or(1);
    let inc = o.inc.unwrap_or(1.0);
    if inc <= 0.0 {
        return usage("--frame-inc must be positive");
    }
    let pattern = match &o.output {
        // A comma list names several products; the simulator writes the first.
        Some(p) => p.split(',').next().unwrap_or(p).to_owned(),
        None => {
            let dir = scene.parent().unwrap_or(Path::new("/")).join("render");
            format!("{}/{}.$F4.exr", dir.display(), super::stem(scene))
        }
    };
    let format = format_of(Path::new(&pattern))
        .ok_or_else(|| Usage(format!("unsupported output format \"{pattern}\"")))?;
    let frames = (0..count)
        .map(|k| {
            let number = ((o.start + k as f64 * inc) * 1000.0).round() / 1000.0;
            Planned {
                number,
                path: absolute(Path::new(&expand(&pattern, number, k))),
            }
        })
        .collect();
    let scale = if o.scale > 0.0 { o.scale } else { 100.0 };
    Ok(Plan {
        frames,
        format,
        size: picture::size(o.res.map(|r| r.0), o.res.map(|r| r.1), scale),
        hooks: o.hooks.clone(),
        make_dirs: o.make_path,
        skip_existing: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Result<Options, Usage> {
        parse(&args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn long_short_glued_and_equals() {
        let o = options(&[
            "-f",
            "3",
            "--frame-count=2",
            "-i2",
            "-Va9",
            "--res",
            "64",
            "48",
            "s.usd",
        ])
        .expect("parses");
        assert_eq!((o.start, o.count, o.inc), (3.0, Some(2), Some(2.0)));
        assert_eq!(o.res, Some((64, 48)));
        assert!(o.alfred);
        assert!(!options(&["-VaA", "s.usd"]).expect("parses").alfred);
    }

    #[test]
    fn scripts_are_hooks() {
        let o = options(&[
            "--prerender-script",
            "a.py",
            "--postframe-script=b.py",
            "s.usda",
        ])
        .expect("parses");
        let got: Vec<_> = o
            .hooks
            .iter()
            .map(|h| (h.when, h.flag.as_str(), h.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (When::Start, "--prerender-script", "a.py"),
                (When::AfterFrame, "--postframe-script", "b.py")
            ]
        );
    }

    #[test]
    fn refusals() {
        for bad in [
            &["--bogus", "s.usd"][..],
            &["-x", "s.usd"],
            &["--frame"],
            &["a.usd", "b.usd"],
            &["--res", "64"],
            &["-Vz", "s.usd"],
        ] {
            assert!(options(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn frame_variables() {
        assert_eq!(expand("/o/a.$F4.exr", 7.0, 0), "/o/a.0007.exr");
        assert_eq!(expand("/o/a.$F.exr", 7.0, 0), "/o/a.7.exr");
        assert_eq!(expand("/o/a.$FF.exr", 7.5, 0), "/o/a.7.5.exr");
        assert_eq!(expand("/o/a_$N.exr", 7.0, 2), "/o/a_3.exr");
        assert_eq!(expand("/o/a.<F3>.png", 7.0, 0), "/o/a.007.png");
        assert_eq!(expand("/o/a.%04d.png", 12.0, 0), "/o/a.0012.png");
        assert_eq!(expand("/o/100%.png", 1.0, 0), "/o/100%.png");
    }
}
