//! Maxon Cinema 4D `Commandline` (docs/renderers.md §3).
//!
//! `Commandline [-nogui] -render scene.c4d [-frame a [b [step]]] [-take name]
//! [-oimage prefix] [-omultipass prefix] [-oformat fmt] [-oresolution w h]
//! [-threads n]`: space-separated flags in any order, `-frame` takes one to
//! three numbers, `-oresolution` two. Each frame is written as
//! `<oimage prefix><frame padded to 4>.<ext>`; the output directory must
//! exist. `-arnoldLogFile` writes its log where it is told (recorded in the
//! hook log); `-arnoldSceneExport` / `-arnoldAssExport` export instead of
//! rendering (recorded, nothing rendered).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Ctx, EXIT_ERROR, HookCall, Out, Plan, Planned, Style, Usage, When, absolute, int, padded,
    range, usage, utc_now,
};
use crate::knobs::{Knobs, append_line};
use crate::picture::{self, Format};

/// Flags and how many values they take (`-frame`: 1 to 3, see [`parse`]).
const FLAGS: &[(&str, u8)] = &[
    ("-nogui", 0),
    ("-noopengl", 0),
    ("-render", 1),
    ("-frame", 1),
    ("-take", 1),
    ("-oimage", 1),
    ("-omultipass", 1),
    ("-oformat", 1),
    ("-oresolution", 2),
    ("-threads", 1),
    ("-redshift-gpu", 1),
    ("-redshift-log-console", 1),
    ("-arnoldDevice", 1),
    ("-arnoldLogLevel", 1),
    ("-arnoldLogFile", 1),
    ("-arnoldLogToConsole", 1),
    ("-arnoldAbortOnLicenseFail", 1),
    ("-arnoldSkipLicenseCheck", 1),
    ("-arnoldSceneExport", 1),
    ("-arnoldAssExport", 1),
];

#[derive(Debug, Default)]
struct Options {
    scene: Option<PathBuf>,
    frame: Option<(i64, Option<i64>, Option<i64>)>,
    oimage: Option<PathBuf>,
    format: Option<Format>,
    res: Option<(u32, u32)>,
    log_file: Option<String>,
    export: Option<(String, String)>,
    hooks: Vec<HookCall>,
}

fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn parse(args: &[String]) -> Result<Options, Usage> {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let tok = args[i].as_str();
        i += 1;
        let Some(&(flag, arity)) = FLAGS.iter().find(|(f, _)| *f == tok) else {
            if tok.starts_with('-') {
                return usage(format!("unknown command line argument \"{tok}\""));
            }
            return usage(format!(
                "unexpected \"{tok}\" (the scene goes after -render)"
            ));
        };
        if flag == "-frame" {
            let mut nums = Vec::new();
            while nums.len() < 3 && i < args.len() && is_number(&args[i]) {
                nums.push(int::<i64>(flag, &args[i])?);
                i += 1;
            }
            let Some(&start) = nums.first() else {
                return usage("-frame needs a start frame");
            };
            o.frame = Some((start, nums.get(1).copied(), nums.get(2).copied()));
            continue;
        }
        if i + arity as usize > args.len() {
            return usage(format!("{flag} needs {arity} value(s)"));
        }
        let values = &args[i..i + arity as usize];
        i += arity as usize;
        apply(&mut o, flag, values)?;
    }
    Ok(o)
}

fn apply(o: &mut Options, flag: &str, v: &[String]) -> Result<(), Usage> {
    let first = v.first().map_or("", String::as_str);
    match flag {
        "-render" => o.scene = Some(PathBuf::from(first)),
        "-oimage" => o.oimage = Some(PathBuf::from(first)),
        "-oformat" => {
            let f = match first.to_ascii_lowercase().as_str() {
                "png" => Format::Png,
                "jpg" | "jpeg" => Format::Jpeg,
                "tif" | "tiff" => Format::Tiff,
                "exr" | "openexr" => Format::Exr,
                _ => return usage(format!("unsupported image format \"{first}\"")),
            };
            o.format = Some(f);
        }
        "-oresolution" => o.res = Some((int(flag, first)?, int(flag, &v[1])?)),
        "-threads" => {
            int::<u32>(flag, first)?;
        }
        "-arnoldLogFile" => {
            o.log_file = Some(first.to_owned());
            o.hooks.push(HookCall::new(When::Start, flag, first));
        }
        "-arnoldSceneExport" | "-arnoldAssExport" => {
            o.export = Some((flag.to_owned(), first.to_owned()));
        }
        // Everything else is accepted and has no effect on the simulation.
        _ => {}
    }
    Ok(())
}

struct C4dStyle;

impl Style for C4dStyle {
    fn frame_start(&self, c: &Ctx<'_>) -> Vec<String> {
        let (_, _, _, h, m, s) = utc_now();
        vec![
            format!("Rendering frame {} at {h:02}:{m:02}:{s:02}", c.frame),
            "Rendering Phase: Setup".to_owned(),
            "Progress: 0%".to_owned(),
            "Rendering Phase: Main Render".to_owned(),
        ]
    }

    fn progress(&self, _c: &Ctx<'_>, _i: usize, _n: usize, pct: u32) -> Option<String> {
        Some(format!("Progress: {pct}%"))
    }

    fn frame_done(&self, _c: &Ctx<'_>, _took: Duration) -> Vec<String> {
        vec!["Rendering Phase: Finalize".to_owned()]
    }

    fn skipped(&self, _c: &Ctx<'_>) -> Vec<String> {
        Vec::new()
    }

    fn failed(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![
            format!("Rendering failed at frame {}", c.frame),
            "Error rendering project".to_owned(),
        ]
    }

    fn cannot_write(&self, c: &Ctx<'_>, why: &str) -> Vec<String> {
        vec![
            format!("Unable to write file {} ({why})", c.path),
            "Files cannot be written - please check output paths!".to_owned(),
        ]
    }

    fn job_done(&self, took: Duration) -> Vec<String> {
        vec![format!(
            "Rendering successful: {:.3} sec.",
            took.as_secs_f64()
        )]
    }
}

/// Runs Cinema 4D `Commandline` with argv (without argv\[0\]).
pub(crate) fn run(args: &[OsString], knobs: &Knobs) -> i32 {
    let style = C4dStyle;
    let out = Out::new(knobs, &style);
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(Usage(why)) => {
            out.plain(&format!("Commandline: {why}"));
            return EXIT_ERROR;
        }
    };
    if let Some((flag, options)) = &o.export {
        if let Err(e) = knobs.log_hook(flag, options) {
            eprintln!("render-sim: cannot append to RENDER_SIM_HOOK_LOG: {e}");
            return EXIT_ERROR;
        }
        out.plain("Arnold scene export finished");
        return 0;
    }
    if let Some(log) = &o.log_file
        && let Err(e) = append_line(Path::new(log), "[arnold] log opened by render-sim")
    {
        out.plain(&format!("Unable to write file {log} ({e})"));
    }
    let Some(scene) = &o.scene else {
        out.plain("Commandline: nothing to render (no -render <scene.c4d>)");
        return EXIT_ERROR;
    };
    let is_c4d = scene
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("c4d"));
    if !is_c4d || !scene.is_file() {
        out.plain(&format!("Document not found: \"{}\"", scene.display()));
        out.plain("Error loading document");
        return EXIT_ERROR;
    }
    match plan(&o, &absolute(scene)) {
        Ok(plan) => super::render(&plan, &style, knobs),
        Err(Usage(why)) => {
            out.plain(&format!("Commandline: {why}"));
            EXIT_ERROR
        }
    }
}

fn plan(o: &Options, scene: &Path) -> Result<Plan, Usage> {
    let (start, end, step) = o.frame.unwrap_or((0, None, None));
    let step = step.unwrap_or(1);
    if step < 1 {
        return usage("the -frame step must be at least 1");
    }
    let numbers = range(start as f64, end.unwrap_or(start) as f64, step as f64)?;
    let format = o.format.unwrap_or(Format::Png);
    let prefix = match &o.oimage {
        Some(p) => {
            let p = absolute(p);
            // A prefix given with an image extension loses it.
            match super::format_of(&p) {
                Some(_) => p.with_extension(""),
                None => p,
            }
        }
        None => scene.with_extension(""),
    };
    let frames = numbers
        .iter()
        .map(|n| {
            let mut name = prefix.as_os_str().to_owned();
            name.push(format!("{}.{}", padded(*n, 4), format.ext()));
            Planned {
                number: *n,
                path: PathBuf::from(name),
            }
        })
        .collect();
    Ok(Plan {
        frames,
        format,
        size: picture::size(o.res.map(|r| r.0), o.res.map(|r| r.1), 100.0),
        hooks: o.hooks.clone(),
        make_dirs: false,
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
    fn frame_takes_one_to_three_numbers() {
        let o =
            options(&["-nogui", "-render", "s.c4d", "-frame", "100", "150", "10"]).expect("parses");
        assert_eq!(o.frame, Some((100, Some(150), Some(10))));
        let o = options(&["-frame", "7", "-render", "s.c4d"]).expect("parses");
        assert_eq!(o.frame, Some((7, None, None)));
        let o = options(&[
            "-render",
            "s.c4d",
            "-oresolution",
            "64",
            "48",
            "-oformat",
            "EXR",
        ])
        .expect("parses");
        assert_eq!((o.res, o.format), (Some((64, 48)), Some(Format::Exr)));
    }

    #[test]
    fn refusals() {
        for bad in [
            &["-bogus", "-render", "s.c4d"][..],
            &["-render"],
            &["-frame", "-render", "s.c4d"],
            &["s.c4d"],
            &["-render", "s.c4d", "-oformat", "gif"],
            &["-render", "s.c4d", "-oresolution", "64"],
        ] {
            assert!(options(bad).is_err(), "{bad:?}");
        }
    }
}
