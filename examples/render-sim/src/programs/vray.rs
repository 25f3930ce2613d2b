//! V-Ray Standalone `vray` (docs/renderers.md §5).
//!
//! `vray -sceneFile=scene.vrscene [-option=value…]`: every option is
//! `-name=value` (names matched ignoring case, as Deadline's lower-case
//! `-scenefile=` works); `-frames=b[-e[,s]]{;…}` may repeat. With `-frames`
//! each image is `<imgFile stem>.<frame padded to 4>.<ext>` unless
//! `-noFrameNumbers=1`; without `-frames` one image, named as given. The
//! output directory must exist. Lines carry `[YYYY/Mon/DD|hh:mm:ss] V-Ray: `;
//! progress lines end with `\r` unless `-progressUseCR=0`. `-include`,
//! `-remapPath`, `-remapPathFile`, `-parameterOverride` and `-configFile`
//! are recorded in the hook log.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::{
    Ctx, EXIT_ERROR, HookCall, Out, Plan, Planned, Style, Usage, When, absolute, format_of, int,
    padded, range, usage, utc_now, with_frame,
};
use crate::knobs::Knobs;
use crate::picture;

/// Options without a value.
const SWITCHES: &[&str] = &["help", "version", "credits", "server"];

/// Options taking `=value` (lower case), from `vray -help`, plus Deadline's
/// `-interactive=` and `-DisableProgressColor=`.
const VALUES: &[&str] = &[
    "configfile",
    "numthreads",
    "scenefile",
    "include",
    "remappath",
    "remappathfile",
    "parameteroverride",
    "camera",
    "imgfile",
    "imgwidth",
    "imgheight",
    "region",
    "crop",
    "frames",
    "noframenumbers",
    "skipexistingframes",
    "resume",
    "progressiveautosave",
    "display",
    "autoclose",
    "setfocus",
    "displaysrgb",
    "displaylut",
    "displayocio",
    "displayaspect",
    "verboselevel",
    "detailedtiming",
    "showprogress",
    "progressupdatefreq",
    "progressincrement",
    "progressusecr",
    "progressusecolor",
    "rtengine",
    "rttimeout",
    "rtnoise",
    "rtsamplelevel",
    "distributed",
    "renderhost",
    "portnumber",
    "transferassets",
    "cachedassetslimittype",
    "cachedassetslimitvalue",
    "overwritelocalcachesettings",
    "limithosts",
    "autocloseifidle",
    "interactive",
    "disableprogresscolor",
];

/// Options that read or write files of the sender's choice or load plugins.
const HOOKS: &[&str] = &[
    "include",
    "remappath",
    "remappathfile",
    "parameteroverride",
    "configfile",
];

#[derive(Debug)]
struct Options {
    scene: Option<PathBuf>,
    frames: Vec<f64>,
    img: Option<PathBuf>,
    width: Option<u32>,
    height: Option<u32>,
    numbers: bool,
    skip: bool,
    display: bool,
    cr: bool,
    show_progress: bool,
    hooks: Vec<HookCall>,
    info: bool,
}

fn flag01(name: &str, v: &str) -> Result<bool, Usage> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => usage(format!("-{name} takes 0 or 1, got \"{v}\"")),
    }
}

/// `b[-e[,s]]{;b[-e[,s]]}`.
fn frame_spec(v: &str) -> Result<Vec<f64>, Usage> {
    let mut frames = Vec::new();
    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (span, step) = match part.split_once(',') {
            Some((s, st)) => (s, int::<i64>("-frames", st)?),
            None => (part, 1),
        };
        let (b, e) = match span.split_once('-').filter(|(b, _)| !b.is_empty()) {
            Some((b, e)) => (int::<i64>("-frames", b)?, int::<i64>("-frames", e)?),
            None => {
                let b = int::<i64>("-frames", span)?;
                (b, b)
            }
        };
        frames.extend(range(b as f64, e as f64, step as f64)?);
        if frames.len() > super::MAX_FRAMES {
            return usage("too many frames");
        }
    }
    if frames.is_empty() {
        return usage(format!("-frames has no frames: \"{v}\""));
    }
    Ok(frames)
}

fn parse(args: &[String]) -> Result<Options, Usage> {
    let mut o = Options {
        scene: None,
        frames: Vec::new(),
        img: None,
        width: None,
        height: None,
        numbers: true,
        skip: false,
        display: true,
        cr: true,
        show_progress: true,
        hooks: Vec::new(),
        info: false,
    };
    for tok in args {
        let Some(body) = tok.strip_prefix('-').filter(|b| !b.is_empty()) else {
            return usage(format!("Unknown command line option \"{tok}\""));
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.trim_matches('"'))),
            None => (body, None),
        };
        let key = name.to_ascii_lowercase();
        if SWITCHES.contains(&key.as_str()) {
            o.info = true;
            continue;
        }
        if !VALUES.contains(&key.as_str()) {
            return usage(format!("Unknown command line option \"-{name}\""));
        }
        let Some(v) = value else {
            return usage(format!("option \"-{name}\" needs =value"));
        };
        apply(&mut o, &key, name, v)?;
    }
    Ok(o)
}

fn apply(o: &mut Options, key: &str, name: &str, v: &str) -> Result<(), Usage> {
    if HOOKS.contains(&key) {
        o.hooks
            .push(HookCall::new(When::Start, &format!("-{name}"), v));
        return Ok(());
    }
    match key {
        "scenefile" => o.scene = Some(PathBuf::from(v)),
        "frames" => o.frames.extend(frame_spec(v)?),
        "imgfile" => o.img = Some(PathBuf::from(v)),
        "imgwidth" => o.width = Some(int(name, v)?),
        "imgheight" => o.height = Some(int(name, v)?),
        "noframenumbers" => o.numbers = !flag01(name, v)?,
        "skipexistingframes" => o.skip = flag01(name, v)?,
        "display" => o.display = flag01(name, v)?,
        "progressusecr" => o.cr = flag01(name, v)?,
        "showprogress" => o.show_progress = int::<u8>(name, v)? != 0,
        "numthreads" | "verboselevel" => {
            int::<i64>(name, v)?;
        }
        // Everything else is accepted and has no effect on the simulation.
        _ => {}
    }
    Ok(())
}

struct VrayStyle {
    cr: bool,
    show_progress: bool,
}

impl Style for VrayStyle {
    fn frame_start(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![format!("Starting frame {}", c.frame)]
    }

    fn progress(&self, _c: &Ctx<'_>, _i: usize, _n: usize, pct: u32) -> Option<String> {
        self.show_progress
            .then(|| format!("Rendering image...: {:>5.1}%", pct as f32))
    }

    fn frame_done(&self, c: &Ctx<'_>, took: Duration) -> Vec<String> {
        vec![
            "Rendering image...: done".to_owned(),
            format!("Successfully written image file \"{}\"", c.path),
            format!("Frame took {:.2} s.", took.as_secs_f64()),
        ]
    }

    fn skipped(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![format!(
            "Skipping frame {}: output file \"{}\" exists",
            c.frame, c.path
        )]
    }

    fn failed(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![format!("error: Rendering of frame {} failed", c.frame)]
    }

    fn cannot_write(&self, c: &Ctx<'_>, why: &str) -> Vec<String> {
        vec![format!(
            "error: Cannot create output image file \"{}\": {why}",
            c.path
        )]
    }

    fn job_done(&self, _took: Duration) -> Vec<String> {
        vec!["Closing log.".to_owned()]
    }

    fn decorate(&self, line: &str, _elapsed: Duration) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (y, mo, d, h, mi, s) = utc_now();
        let month = MONTHS[(mo as usize).clamp(1, 12) - 1];
        format!("[{y:04}/{month}/{d:02}|{h:02}:{mi:02}:{s:02}] V-Ray: {line}")
    }

    fn progress_eol(&self) -> &'static str {
        if self.cr { "\r" } else { "\n" }
    }
}

/// Runs `vray` with argv (without argv\[0\]).
pub(crate) fn run(args: &[OsString], knobs: &Knobs) -> i32 {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let parsed = parse(&args);
    let style = VrayStyle {
        cr: parsed.as_ref().is_ok_and(|o| o.cr),
        show_progress: parsed.as_ref().map_or(true, |o| o.show_progress),
    };
    let out = Out::new(knobs, &style);
    let o = match parsed {
        Ok(o) => o,
        Err(Usage(why)) => {
            out.line(&format!("error: {why}"));
            out.plain("Type \"vray -help\" for the list of options.");
            return EXIT_ERROR;
        }
    };
    if o.info {
        out.plain("V-Ray (render-sim); usage: vray -sceneFile=<file> [-option=value …]");
        return 0;
    }
    let Some(scene) = &o.scene else {
        out.line("error: No scene file specified (-sceneFile=<file>)");
        return EXIT_ERROR;
    };
    let is_vrscene = scene
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("vrscene"));
    if !is_vrscene || !scene.is_file() {
        out.line(&format!(
            "error: Cannot load scene file \"{}\"",
            scene.display()
        ));
        return EXIT_ERROR;
    }
    if o.display {
        out.line("warning: Cannot open the VFB window (no display); rendering without it");
    }
    let scene = absolute(scene);
    let base = match &o.img {
        Some(p) => absolute(p),
        None => scene.with_extension("exr"),
    };
    let Some(format) = format_of(&base) else {
        out.line(&format!(
            "error: Unsupported image format \"{}\"",
            base.display()
        ));
        return EXIT_ERROR;
    };
    let numbered = !o.frames.is_empty() && o.numbers;
    let numbers = if o.frames.is_empty() {
        vec![0.0]
    } else {
        o.frames.clone()
    };
    let frames = numbers
        .iter()
        .map(|n| Planned {
            number: *n,
            path: if numbered {
                with_frame(&base, ".", &padded(*n, 4))
            } else {
                base.clone()
            },
        })
        .collect();
    let plan = Plan {
        frames,
        format,
        size: picture::size(o.width, o.height, 100.0),
        hooks: o.hooks.clone(),
        make_dirs: false,
        skip_existing: o.skip,
    };
    super::render(&plan, &style, knobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Result<Options, Usage> {
        parse(&args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn frames_and_case() {
        let o = options(&[
            "-scenefile=s.vrscene",
            "-frames=1-5,2;9",
            "-FRAMES=20",
            "-progressUseCR=0",
        ])
        .expect("parses");
        assert_eq!(o.frames, [1.0, 3.0, 5.0, 9.0, 20.0]);
        assert_eq!(o.scene, Some(PathBuf::from("s.vrscene")));
        assert!(!o.cr);
    }

    #[test]
    fn hooks_are_recorded() {
        let o = options(&[
            "-sceneFile=s.vrscene",
            "-include=/x",
            "-parameterOverride=SettingsOutput::img_file=/etc/x",
        ])
        .expect("parses");
        let flags: Vec<_> = o.hooks.iter().map(|h| h.flag.as_str()).collect();
        assert_eq!(flags, ["-include", "-parameterOverride"]);
    }

    #[test]
    fn refusals() {
        for bad in [
            &["-bogus=1"][..],
            &["-sceneFile"],
            &["scene.vrscene"],
            &["-frames=a-b"],
            &["-display=2"],
            &["-frames=5-1"],
        ] {
            assert!(options(bad).is_err(), "{bad:?}");
        }
    }
}
