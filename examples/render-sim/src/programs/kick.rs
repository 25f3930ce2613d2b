//! Arnold `kick` (docs/renderers.md §4).
//!
//! `kick -i scene.ass [options]`: `-flag value…` space separated, several
//! flags take two or four values (`-r 640 480`, `-set node.param value`,
//! `-rg x0 y0 x1 y1`). One .ass is one frame: its number is read from the
//! file name (`shot.0007.ass` → 7; none → 1). `-o` is the exact file written
//! (no frame number added); without it `<scene stem>.exr` next to the scene.
//! The output directory must exist. Lines carry Arnold's log prefix
//! `hh:mm:ss   120MB         | `. `-l` (plugin path), `-set`, `-resave` and
//! `-logfile` are recorded in the hook log.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Ctx, EXIT_ERROR, HookCall, Out, Plan, Planned, Style, Usage, When, absolute, float, format_of,
    int, usage,
};
use crate::knobs::Knobs;
use crate::picture::{self, Format};

/// Flags and how many values they take (kick's help, Arnold 4.2 era, plus
/// `-nocrashpopup`). `-nodes` takes an optional `n|t`, `-info` an optional
/// `n|u` before its node name.
const FLAGS: &[(&str, u8)] = &[
    ("-i", 1),
    ("-o", 1),
    ("-of", 1),
    ("-r", 2),
    ("-sr", 1),
    ("-rg", 4),
    ("-as", 1),
    ("-af", 2),
    ("-asc", 1),
    ("-c", 1),
    ("-sh", 2),
    ("-fov", 1),
    ("-e", 1),
    ("-ar", 1),
    ("-g", 1),
    ("-tg", 1),
    ("-lg", 1),
    ("-sg", 1),
    ("-t", 1),
    ("-tp", 1),
    ("-bs", 1),
    ("-bc", 1),
    ("-td", 1),
    ("-rfl", 1),
    ("-rfr", 1),
    ("-dif", 1),
    ("-glo", 1),
    ("-ds", 1),
    ("-gs", 1),
    ("-d", 1),
    ("-it", 0),
    ("-is", 0),
    ("-ib", 0),
    ("-ia", 0),
    ("-il", 0),
    ("-id", 0),
    ("-isd", 0),
    ("-idisp", 0),
    ("-ibump", 0),
    ("-imb", 0),
    ("-idof", 0),
    ("-isss", 0),
    ("-idirect", 0),
    ("-flat", 0),
    ("-sd", 1),
    ("-v", 1),
    ("-nw", 1),
    ("-log", 0),
    ("-logfile", 1),
    ("-dw", 0),
    ("-dp", 0),
    ("-l", 1),
    ("-nodes", 0),
    ("-info", 1),
    ("-tree", 1),
    ("-repeat", 1),
    ("-turn", 1),
    ("-resave", 1),
    ("-db", 0),
    ("-forceexpand", 0),
    ("-nstdin", 0),
    ("-nocrashpopup", 0),
    ("-set", 2),
    ("-cm", 1),
    ("-sm", 1),
    ("-om", 1),
    ("-utest", 0),
    ("-av", 0),
    ("-sl", 0),
    ("-licensecheck", 0),
    ("-h", 0),
    ("--help", 0),
];

#[derive(Debug, Default)]
struct Options {
    scene: Option<PathBuf>,
    output: Option<PathBuf>,
    of: Option<Format>,
    res: Option<(u32, u32)>,
    scale: Option<f64>,
    hooks: Vec<HookCall>,
    info: bool,
}

fn parse(args: &[String]) -> Result<Options, Usage> {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let tok = args[i].as_str();
        i += 1;
        let Some(&(flag, mut arity)) = FLAGS.iter().find(|(f, _)| *f == tok) else {
            if tok.starts_with('-') {
                return usage(format!("unknown option \"{tok}\""));
            }
            if o.scene.is_some() {
                return usage(format!("more than one scene: \"{tok}\""));
            }
            o.scene = Some(PathBuf::from(tok));
            continue;
        };
        let optional = match flag {
            "-nodes" => ["n", "t"].as_slice(),
            "-info" => ["n", "u"].as_slice(),
            _ => &[],
        };
        if args.get(i).is_some_and(|a| optional.contains(&a.as_str())) {
            arity += 1;
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
        "-i" => o.scene = Some(PathBuf::from(first)),
        "-o" => o.output = Some(PathBuf::from(first)),
        "-of" => {
            o.of = Some(match first {
                "jpg" => Format::Jpeg,
                "tiff8" | "tiff16" | "tiff32" | "tif" => Format::Tiff,
                "exr" => Format::Exr,
                "png" => Format::Png,
                _ => return usage(format!("unknown output format \"{first}\"")),
            });
        }
        "-r" => o.res = Some((int(flag, first)?, int(flag, &v[1])?)),
        "-sr" => o.scale = Some(float(flag, first)?),
        "-t" | "-as" | "-bs" | "-v" => {
            int::<i64>(flag, first)?;
        }
        "-l" | "-resave" | "-logfile" => o.hooks.push(HookCall::new(When::Start, flag, first)),
        "-set" => o.hooks.push(HookCall::new(When::Start, flag, &v.join(" "))),
        "-h" | "--help" | "-av" | "-nodes" | "-info" | "-tree" | "-utest" | "-licensecheck" => {
            o.info = true;
        }
        // Everything else is accepted and has no effect on the simulation.
        _ => {}
    }
    Ok(())
}

/// The frame a per-frame .ass names: the digits before `.ass` / `.ass.gz`.
fn frame_of(scene: &Path) -> f64 {
    let name = scene
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let base = name
        .strip_suffix(".ass.gz")
        .or_else(|| name.strip_suffix(".ass"))
        .unwrap_or(&name);
    let digits: String = base
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse::<u64>().map_or(1.0, |n| n as f64)
}

struct KickStyle;

impl Style for KickStyle {
    fn frame_start(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![format!(
            "rendering image at {} x {}, 3 AA samples",
            c.width, c.height
        )]
    }

    fn progress(&self, _c: &Ctx<'_>, _i: usize, _n: usize, pct: u32) -> Option<String> {
        Some(format!("{pct:>5}% done - 12 rays/pixel"))
    }

    fn frame_done(&self, c: &Ctx<'_>, took: Duration) -> Vec<String> {
        vec![
            format!("[driver_{}] writing file `{}'", c.ext, c.path),
            format!(
                "render done in {}:{:02}.{:03}",
                took.as_secs() / 60,
                took.as_secs() % 60,
                took.subsec_millis()
            ),
        ]
    }

    fn skipped(&self, _c: &Ctx<'_>) -> Vec<String> {
        Vec::new()
    }

    fn failed(&self, c: &Ctx<'_>) -> Vec<String> {
        vec![format!("ERROR   | render of frame {} aborted", c.frame)]
    }

    fn cannot_write(&self, c: &Ctx<'_>, why: &str) -> Vec<String> {
        vec![format!(
            "ERROR   | [driver_{}] can't open file `{}': {why}",
            c.ext, c.path
        )]
    }

    /// Arnold's log prefix: time, memory, level column.
    fn decorate(&self, line: &str, elapsed: Duration) -> String {
        let secs = elapsed.as_secs();
        let stamp = format!(
            "{:02}:{:02}:{:02}   120MB",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if line.starts_with("ERROR ") || line.starts_with("WARNING ") {
            format!("{stamp} {line}")
        } else {
            format!("{stamp}         | {line}")
        }
    }
}

const HELP: &str = "\
Usage: kick [options] ...
  -i <s>          Input .ass file
  -o <s>          Output filename
  -of <s>         Output format (jpg tiff8 tiff16 tiff32 exr png)
  -r <n n>        Image resolution
  -sr <f>         Scale resolution <f> times in each dimension
  -c <s>          Active camera
  -t <n>          Threads
  -v <n>          Verbose level (0..6)
  -dw             Disable render window
  -dp             Disable progressive rendering
  -nstdin         Ignore input from stdin
  -l <s>          Add search path for plugin libraries
  -set <s.s> <s>  Set the value of a node parameter";

/// Runs `kick` with argv (without argv\[0\]).
pub(crate) fn run(args: &[OsString], knobs: &Knobs) -> i32 {
    let style = KickStyle;
    let out = Out::new(knobs, &style);
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let refuse = |why: &str| {
        out.plain(&format!("kick: {why}"));
        out.plain("Usage: kick [options] ... (kick -h for help)");
        EXIT_ERROR
    };
    let o = match parse(&args) {
        Ok(o) => o,
        Err(Usage(why)) => return refuse(&why),
    };
    if o.info {
        out.plain(HELP);
        return 0;
    }
    let Some(scene) = &o.scene else {
        return refuse("no input scene (-i file.ass)");
    };
    let name = scene.to_string_lossy().to_ascii_lowercase();
    if !name.ends_with(".ass") && !name.ends_with(".ass.gz") {
        return refuse(&format!("\"{}\" is not an .ass file", scene.display()));
    }
    if !scene.is_file() {
        out.line(&format!(
            "ERROR   | [ass] can't open \"{}\": No such file or directory",
            scene.display()
        ));
        return EXIT_ERROR;
    }
    let scene = absolute(scene);
    let path = match &o.output {
        Some(p) => absolute(p),
        None => {
            let stem = super::stem(&scene);
            let stem = stem.strip_suffix(".ass").unwrap_or(&stem).to_owned();
            scene.with_file_name(format!("{stem}.exr"))
        }
    };
    let Some(format) = format_of(&path).or(o.of) else {
        return refuse(&format!("no image format for \"{}\"", path.display()));
    };
    let plan = Plan {
        frames: vec![Planned {
            number: frame_of(&scene),
            path,
        }],
        format,
        size: picture::size(
            o.res.map(|r| r.0),
            o.res.map(|r| r.1),
            o.scale.map_or(100.0, |s| s * 100.0),
        ),
        hooks: o.hooks.clone(),
        make_dirs: false,
        skip_existing: false,
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
    fn multi_value_flags_and_hooks() {
        let o = options(&[
            "-nstdin",
            "-dw",
            "-dp",
            "-i",
            "s.0003.ass",
            "-r",
            "64",
            "48",
            "-rg",
            "0",
            "0",
            "8",
            "8",
            "-set",
            "options.procedural_searchpath",
            "/x",
            "-l",
            "/plugins",
            "-o",
            "o.exr",
        ])
        .expect("parses");
        assert_eq!(o.res, Some((64, 48)));
        let hooks: Vec<_> = o
            .hooks
            .iter()
            .map(|h| (h.flag.as_str(), h.value.as_str()))
            .collect();
        assert_eq!(
            hooks,
            [
                ("-set", "options.procedural_searchpath /x"),
                ("-l", "/plugins")
            ]
        );
        assert_eq!(frame_of(Path::new("/a/shot.0003.ass")), 3.0);
        assert_eq!(frame_of(Path::new("/a/shot_12.ass.gz")), 12.0);
        assert_eq!(frame_of(Path::new("/a/shot.ass")), 1.0);
    }

    #[test]
    fn refusals() {
        for bad in [
            &["-bogus", "-i", "s.ass"][..],
            &["-i"],
            &["-r", "64"],
            &["-set", "a.b"],
            &["-of", "gif", "-i", "s.ass"],
            &["a.ass", "b.ass"],
        ] {
            assert!(options(bad).is_err(), "{bad:?}");
        }
    }
}
