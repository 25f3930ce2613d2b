//! A faithful simulator of Autodesk Maya's `Render` command line (Maya is
//! proprietary), for demos and tests of droprender. It follows
//! `shared/reference/maya-render.md`.
//!
//! # Command line
//! `Render [options] filename`: options first, exactly one `.ma`/`.mb` scene
//! last. Every flag of the reference's allow and deny tables is accepted with
//! its real arity (booleans take `on|yes|true|1|off|no|false|0`, `-verb` and
//! the like take nothing, any `-ns:flag` takes one value).
//!
//! | situation | output | exit |
//! | --- | --- | --- |
//! | unknown flag, missing value, no scene, tokens after the scene, not `.ma`/`.mb`, bad number | `Usage: Render [options] filename` + a line naming the problem | 206 |
//! | `-help` | help text | 0 |
//! | `-listRenderers` | one renderer name per line | 0 |
//! | scene missing | `Error: Cannot load scene "<file>"` | 211 |
//! | unknown `-r` | `// Error: renderer "<x>" not found //` | 211 |
//! | frame fails (`RENDER_SIM_FAIL_AT_FRAME`) | `// Error: Frame rendering aborted //` | 211 |
//! | image cannot be written | `// Error: … //` on stderr | 211 |
//! | success | | 0, or `RENDER_SIM_EXIT_CODE` |
//!
//! A relative scene is looked up in the working directory, then in `-proj`
//! and `-proj`/scenes. MEL flags (`-preRender`, `-postRender`, `-preLayer`,
//! `-postLayer`, `-preFrame`, `-postFrame`, `-pre`, `-post`, `-insertPre*`,
//! `-insertPost*`) "run" at their point (render, layer, frame): each appends
//! `MEL-EXECUTED <flag> <value>` to `RENDER_SIM_MEL_LOG` (when set) and prints
//! `Result: executed MEL`. All other flags outside the ones used below are
//! accepted and ignored.
//!
//! # Frames and output naming
//! Frames run `-s`..=`-e` step `-b` (defaults 1, 1, 1; fractional allowed, so
//! `-s 1 -e 2 -b 0.5` renders 1, 1.5, 2). With `-rfs`/`-rfb` the i-th frame
//! is written as number `rfs + i·rfb` (`rfs` defaults to `-s`, `rfb` to 1).
//! Each frame is written to
//!
//! `<-rd | -proj/images | scene dir/images>/[<layer>/]<-im | scene stem>.<frame>.<ext>`
//!
//! where `<frame>` is padded to `-pad` digits (default 4), the `<layer>/`
//! folder appears only when `-rl` names more than one layer (layers render one
//! after another), `-fnc` picks the convention (`name.#.ext` default,
//! `name_#.ext`, `name#.ext`, and also `name`, `name.ext`, `name.ext.#`,
//! `name.#`) and `-of` the format (`png` default, `exr`, `jpg`/`jpeg`,
//! `tif`/`tiff`, `iff`). A fractional frame keeps its fraction after the padded
//! integer part, without trailing zeros: frame 1.5 → `shot.0001.5.png`.
//! Images are 160×90 unless `-x`/`-y` say otherwise, scaled by `-percentRes`,
//! at most 2048 a side, and written to `.<name>.tmp-<pid>` then renamed.
//! `-skipExistingFrames true` prints `Skipping existing frame <path>` instead
//! of rendering a frame whose file exists.
//!
//! # Lines per frame
//! Every line is flushed at once (even into a pipe), and followed by a pause
//! of `RENDER_SIM_STEP_MS`. `<path>` is the absolute output path, `<n>` the
//! scene frame (`1`, `1.5`). The last group of lines of each renderer is
//! printed only after the image has been renamed into place, and names it.
//!
//! * `sw` (also `hw2`, `file`, `default`), exactly as Maya Software:
//!   ```text
//!   Starting Rendering <path>.
//!   Constructing shading groups.
//!   Rendering current frame.
//!   Percentage of rendering done: 25 (<path>)       (also 50, 75, 100)
//!   Time For Frame Render (hh:mm:ss): 00:00:00
//!   Finished Rendering <path>.
//!   ```
//! * `arnold`, each line prefixed with `hh:mm:ss  <mem>MB         | `:
//!   ```text
//!   [mtoa] Rendering frame <n> with camera <cam>
//!   rendering image at 160 x 90, 3 AA samples
//!       0% done - 12 rays/pixel                     (also 25, 50, 75, 100)
//!   [driver_<ext>] writing file `<path>'
//!   render done in 0:00.040
//!   ```
//!   A failing frame also prints `[mtoa] Failed batch render`.
//! * `vray`:
//!   ```text
//!   V-Ray: Starting frame <n>
//!   V-Ray:  25%                                     (also 50, 75, 100)
//!   V-Ray: Successfully written image file "<path>"
//!   V-Ray: Total frame time 0h 0m 0.0s
//!   ```
//! * `redshift` (`<i>/<total>` counts frames over all layers):
//!   ```text
//!   Rendering frame <n> (<i>/<total>)
//!   [Redshift] Block 1/12 (0,0) rendered by GPU 0 in 8ms      (… 12/12)
//!   [Redshift] Saved file '<path>' in 0.00s
//!   [Redshift] Rendering done - total time for frame <n>: 0.04s
//!   ```
//! * `renderman`:
//!   ```text
//!   [RfM] Rendering frame <n>
//!   R90000   0%                                     (also 25, 50, 75, 100)
//!   [RfM] Wrote image "<path>"
//!   ```
//! * `mentalray`:
//!   ```text
//!   JOB  0.0  info : rendering frame <n>
//!   JOB  0.1  progr:     0.0%    rendered on localhost.1   (also 25, 50, 75, 100)
//!   JOB  0.0  info : wrote image file <path> (frame <n>)
//!   ```
//!
//! # Environment knobs
//! | variable | effect |
//! | --- | --- |
//! | `RENDER_SIM_STEP_MS` | pause after each renderer line, ms (default 20) |
//! | `RENDER_SIM_FAIL_AT_FRAME=k` | at scene frame k, halfway through its lines: `// Error: Frame rendering aborted //`, exit 211 |
//! | `RENDER_SIM_FAIL_ONCE_FILE=file` | with `RENDER_SIM_FAIL_AT_FRAME`: fail only if this file does not exist yet, and create it (so only the first attempt fails) |
//! | `RENDER_SIM_CRASH_AT_FRAME=k` | at frame k, halfway: `abort()` (SIGABRT) |
//! | `RENDER_SIM_HANG_AT_FRAME=k` | at frame k, halfway: stop printing and sleep until killed |
//! | `RENDER_SIM_EXIT_CODE=n` | exit with n instead of 0 after a successful render |
//! | `RENDER_SIM_ARGV_LOG=file` | first thing: append argv as one JSON array line |
//! | `RENDER_SIM_MEL_LOG=file` | append `MEL-EXECUTED <flag> <value>` for each MEL hook run |
//! | `RENDER_SIM_PID_FILE=file` | write the simulator's pid at start |
//! | `RENDER_SIM_START_STAMP=file` | very first thing: append one line `<start> <main>`, `CLOCK_MONOTONIC` nanoseconds: when this process was created (its CPU and run-queue time, from `/proc/self/schedstat`, subtracted: the loader's work on the simulator is not the caller's latency) and when `run` began (benchmarks time command → renderer start with it) |
//!
//! SIGTERM and SIGINT keep their default action: the process dies.

mod args;
mod naming;
mod picture;
mod renderers;

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::thread;
use std::time::{Duration, Instant};

use args::{Command, Hook, Options, UsageError};
use naming::Frame;
use picture::Look;
use renderers::{FrameInfo, Renderer};

/// Exit code for a command line Maya cannot parse.
pub const EXIT_USAGE: i32 = 206;
/// Exit code for a renderer error (missing scene, failed frame…).
pub const EXIT_RENDER_ERROR: i32 = 211;

/// Runs the simulator with argv (excluding argv\[0\]) and returns the process
/// exit code. Reads its knobs from the process environment.
pub fn run(args: Vec<OsString>) -> i32 {
    // Before anything else, so the stamp is as close to exec as we can get.
    if let Some(stamp) = std::env::var_os("RENDER_SIM_START_STAMP").filter(|v| !v.is_empty()) {
        stamp_start(Path::new(&stamp));
    }
    let knobs = Knobs::from_env();
    if let Some(log) = &knobs.argv_log {
        let argv: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
        let line = serde_json::to_string(&argv).unwrap_or_default();
        if let Err(e) = append_line(log, &line) {
            eprintln!("render-sim: cannot append to {}: {e}", log.display());
        }
    }
    if let Some(pid_file) = &knobs.pid_file {
        let written = fs::write(pid_file, format!("{}\n", std::process::id()));
        if let Err(e) = written {
            eprintln!("render-sim: cannot write {}: {e}", pid_file.display());
        }
    }
    let out = Printer::new(Duration::from_millis(knobs.step_ms));
    let opts = match args::parse(&args) {
        Ok(Command::Render(o)) => o,
        Ok(Command::Help) => {
            out.maya(HELP.trim_end());
            return 0;
        }
        Ok(Command::ListRenderers) => {
            renderers::NAMES.iter().for_each(|n| out.maya(n));
            return 0;
        }
        Err(UsageError(why)) => {
            out.maya("Usage: Render [options] filename");
            out.maya(&format!(
                "Error: {why}. Type \"Render -help\" for the options."
            ));
            return EXIT_USAGE;
        }
    };
    match render(&opts, &knobs, out) {
        Ok(()) => knobs.exit_code.unwrap_or(0),
        Err(code) => code,
    }
}

/// `RENDER_SIM_START_STAMP`: appends `<start> <main>` and a newline, both
/// `CLOCK_MONOTONIC` nanoseconds.
///
/// `<main>` is now, as `run` begins. `std::time::Instant` is
/// `CLOCK_MONOTONIC` on Linux, and std offers its raw value only through
/// `Debug` (`Instant { tv_sec: S, tv_nsec: N }`); this crate has no libc
/// binding and no unsafe code, so the stamp is parsed from there.
///
/// `<start>` is when the process was created (by its parent's fork/spawn):
/// `<main>` minus the time the process has spent on a CPU or waiting for one
/// (`/proc/self/schedstat`: run and run-queue wait, counted from creation,
/// across the exec). It leaves out the loader's work on this binary, which
/// is the simulator's own start-up, not the caller's latency. Time blocked on
/// I/O is not in schedstat, so `<start>` can only be late, never early.
/// Without schedstat, `<start>` equals `<main>`.
///
/// Anything unparseable is reported on stderr and not stamped.
fn stamp_start(path: &Path) {
    let shown = format!("{:?}", Instant::now());
    let field = |name: &str| -> Option<u64> {
        let rest = &shown[shown.find(name)? + name.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let (Some(s), Some(n)) = (field("tv_sec: "), field("tv_nsec: ")) else {
        eprintln!("render-sim: cannot read CLOCK_MONOTONIC from {shown:?}; no start stamp");
        return;
    };
    let main = s * 1_000_000_000 + n;
    let age: u64 = fs::read_to_string("/proc/self/schedstat")
        .ok()
        .map(|st| {
            st.split_whitespace()
                .take(2)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let line = format!("{} {main}", main.saturating_sub(age));
    if let Err(e) = append_line(path, &line) {
        eprintln!("render-sim: cannot append to {}: {e}", path.display());
    }
}

/// The environment knobs (see the crate docs).
#[derive(Debug, Default)]
struct Knobs {
    step_ms: u64,
    fail_at: Option<f64>,
    crash_at: Option<f64>,
    hang_at: Option<f64>,
    exit_code: Option<i32>,
    argv_log: Option<PathBuf>,
    mel_log: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    fail_once: Option<PathBuf>,
}

impl Knobs {
    fn from_env() -> Self {
        let path = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Knobs {
            step_ms: env_number("RENDER_SIM_STEP_MS").unwrap_or(20),
            fail_at: env_number("RENDER_SIM_FAIL_AT_FRAME"),
            crash_at: env_number("RENDER_SIM_CRASH_AT_FRAME"),
            hang_at: env_number("RENDER_SIM_HANG_AT_FRAME"),
            exit_code: env_number("RENDER_SIM_EXIT_CODE"),
            argv_log: path("RENDER_SIM_ARGV_LOG"),
            mel_log: path("RENDER_SIM_MEL_LOG"),
            pid_file: path("RENDER_SIM_PID_FILE"),
            fail_once: path("RENDER_SIM_FAIL_ONCE_FILE"),
        }
    }

    /// `RENDER_SIM_FAIL_ONCE_FILE`: the failure happens only for the process
    /// that creates the marker file (atomically), so a retry renders the frame.
    fn first_failure(&self) -> bool {
        match &self.fail_once {
            None => true,
            Some(marker) => OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(marker)
                .is_ok(),
        }
    }

    fn fate(&self, frame: f64) -> Fate {
        let at = |k: Option<f64>| k.is_some_and(|k| (k - frame).abs() < 1e-6);
        if at(self.crash_at) {
            Fate::Crash
        } else if at(self.hang_at) {
            Fate::Hang
        } else if at(self.fail_at) && self.first_failure() {
            Fate::Fail
        } else {
            Fate::Render
        }
    }
}

/// A numeric environment variable; unset or empty is `None`, garbage is
/// reported on stderr and ignored.
fn env_number<T: FromStr>(name: &str) -> Option<T> {
    let raw = std::env::var(name).ok()?;
    let value = raw.trim();
    if value.is_empty() {
        return None;
    }
    let parsed = value.parse().ok();
    if parsed.is_none() {
        eprintln!("render-sim: ignoring {name}={raw:?}: not a number");
    }
    parsed
}

/// What happens to a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Render,
    Fail,
    Crash,
    Hang,
}

/// Writes stdout one flushed line at a time.
struct Printer {
    step: Duration,
    started: Instant,
    stamped: bool,
}

impl Printer {
    fn new(step: Duration) -> Self {
        Printer {
            step,
            started: Instant::now(),
            stamped: false,
        }
    }

    /// A line from Maya itself: no renderer prefix, no pause. A closed stdout
    /// is ignored, as the render itself can still succeed.
    fn maya(&self, text: &str) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    }

    /// A renderer line: prefixed like Arnold's log when stamped, then a pause.
    fn render(&self, text: &str) {
        if self.stamped {
            let secs = self.started.elapsed().as_secs();
            let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
            self.maya(&format!(
                "{h:02}:{m:02}:{s:02}   {:>4}MB         | {text}",
                120
            ));
        } else {
            self.maya(text);
        }
        if !self.step.is_zero() {
            thread::sleep(self.step);
        }
    }
}

fn append_line(path: &Path, line: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// Reports an I/O failure on stderr and turns it into exit code 211.
fn fail(what: &str, e: &io::Error) -> i32 {
    eprintln!("// Error: {what}: {e} //");
    EXIT_RENDER_ERROR
}

fn absolute(p: &Path) -> Result<PathBuf, i32> {
    std::path::absolute(p).map_err(|e| fail(&format!("bad path {:?}", p.display()), &e))
}

/// The scene as given, else relative to `-proj` or `-proj`/scenes.
fn find_scene(o: &Options) -> Option<PathBuf> {
    let mut candidates = vec![o.scene.clone()];
    if let (Some(proj), true) = (&o.proj, o.scene.is_relative()) {
        candidates.push(proj.join(&o.scene));
        candidates.push(proj.join("scenes").join(&o.scene));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Everything a render needs once the command line is accepted.
struct Job<'a> {
    o: &'a Options,
    knobs: &'a Knobs,
    renderer: Renderer,
    out: Printer,
    root: PathBuf,
    name: String,
    size: (u32, u32),
    total: usize,
}

fn render(o: &Options, knobs: &Knobs, mut out: Printer) -> Result<(), i32> {
    let Some(scene) = find_scene(o) else {
        out.maya(&format!(
            "Error: Cannot load scene \"{}\"",
            o.scene.display()
        ));
        return Err(EXIT_RENDER_ERROR);
    };
    let scene = absolute(&scene)?;
    let Some(renderer) = Renderer::from_name(&o.renderer) else {
        out.maya(&format!(
            "// Error: renderer \"{}\" not found //",
            o.renderer
        ));
        return Err(EXIT_RENDER_ERROR);
    };
    out.stamped = renderer.stamped();
    let root = match (&o.rd, &o.proj) {
        (Some(rd), _) => absolute(rd)?,
        (None, Some(proj)) => absolute(proj)?.join("images"),
        (None, None) => scene.parent().unwrap_or(Path::new("/")).join("images"),
    };
    let name = o.im.clone().unwrap_or_else(|| {
        let stem = scene.file_stem().unwrap_or_default();
        stem.to_string_lossy().into_owned()
    });
    let frames = naming::frames(o.start, o.end, o.by, o.renumber_start, o.renumber_by);
    // Sub-folders per layer only when more than one layer renders.
    let layers: Vec<Option<&str>> = match o.layers.as_slice() {
        [_, _, ..] => o.layers.iter().map(|l| Some(l.as_str())).collect(),
        _ => vec![None],
    };
    let job = Job {
        o,
        knobs,
        renderer,
        out,
        root,
        name,
        size: picture::size(o.width, o.height, o.percent_res),
        total: frames.len() * layers.len(),
    };
    job.mel(Hook::PreRender)?;
    let mut ordinal = 0;
    for (index, layer) in layers.into_iter().enumerate() {
        job.mel(Hook::PreLayer)?;
        for frame in &frames {
            ordinal += 1;
            job.mel(Hook::PreFrame)?;
            job.frame(index, layer, frame, ordinal)?;
            job.mel(Hook::PostFrame)?;
        }
        job.mel(Hook::PostLayer)?;
    }
    job.mel(Hook::PostRender)
}

impl Job<'_> {
    /// "Runs" the MEL of every flag bound to `hook`.
    fn mel(&self, hook: Hook) -> Result<(), i32> {
        for m in self.o.mel.iter().filter(|m| m.hook == hook) {
            if let Some(log) = &self.knobs.mel_log {
                let line = format!("MEL-EXECUTED {} {}", m.flag, m.code);
                append_line(log, &line).map_err(|e| fail(&log.display().to_string(), &e))?;
            }
            self.out.maya("Result: executed MEL");
        }
        Ok(())
    }

    fn path(&self, layer: Option<&str>, frame: &Frame) -> PathBuf {
        let padded = naming::pad_frame(frame.output, self.o.pad);
        let file = self
            .o
            .naming
            .file_name(&self.name, &padded, self.o.format.ext());
        match layer {
            Some(layer) => self.root.join(layer).join(file),
            None => self.root.join(file),
        }
    }

    fn frame(
        &self,
        layer_index: usize,
        layer: Option<&str>,
        frame: &Frame,
        ordinal: usize,
    ) -> Result<(), i32> {
        let path = self.path(layer, frame);
        let shown = path.display().to_string();
        if self.o.skip_existing && path.exists() {
            self.out.maya(&format!("Skipping existing frame {shown}"));
            return Ok(());
        }
        let started = Instant::now();
        let number = naming::plain_frame(frame.number);
        let info = FrameInfo {
            path: &shown,
            frame: &number,
            ordinal,
            total: self.total,
            width: self.size.0,
            height: self.size.1,
            camera: &self.o.camera,
            ext: self.o.format.ext(),
        };
        let lines = self.renderer.frame_lines(&info);
        let fate = self.knobs.fate(frame.number);
        let shown_lines = if fate == Fate::Render {
            &lines[..]
        } else {
            &lines[..lines.len() / 2]
        };
        shown_lines.iter().for_each(|l| self.out.render(l));
        match fate {
            Fate::Render => {}
            Fate::Fail => {
                for line in self.renderer.failure_lines() {
                    self.out.render(line);
                }
                self.out.maya("// Error: Frame rendering aborted //");
                return Err(EXIT_RENDER_ERROR);
            }
            Fate::Crash => std::process::abort(),
            Fate::Hang => loop {
                thread::sleep(Duration::from_secs(3600));
            },
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| fail(&format!("cannot create {dir:?}"), &e))?;
        }
        let look = Look {
            width: self.size.0,
            height: self.size.1,
            frame: frame.number,
            layer: layer_index,
        };
        picture::write(&path, self.o.format, &look)
            .map_err(|e| fail(&format!("cannot write {shown}"), &e))?;
        let done = self.renderer.done_lines(&info, started.elapsed());
        done.iter().for_each(|l| self.out.render(l));
        Ok(())
    }
}

const HELP: &str = r#"Usage: Render [options] filename
    where "filename" is a Maya ASCII or a Maya binary file.

Common options:
  -help                     Print help
  -r <name>                 Renderer: sw hw2 arnold vray redshift renderman file default mentalray
  -renderer <name>          Same as -r
  -listRenderers            List the renderers
  -proj <dir>               Use <dir> as the project directory
  -rd <dir>                 Directory in which to store the images
  -im <prefix>              Image file name prefix
  -of <format>              Output image format: png exr jpg tif iff
  -fnc <convention>         name.#.ext name_#.ext name#.ext name name.ext name.ext.# name.#
  -pad <int>                Frame number padding (default 4)
  -s <float>                Start frame          -e <float>  End frame
  -b <float>                By frame (step)
  -rfs <int>                Renumber frames from  -rfb <int>  Renumber step
  -skipExistingFrames <bool> Skip frames whose image exists
  -cam <name>               Camera to render
  -rl <a,b,...>             Render layers to render
  -x <int> -y <int>         Image size           -percentRes <float>  Scale
  -n <int>                  Threads (sw)         -ai:threads <int>  -threads <int>  -t <int>
  -verb                     Verbose
  -preRender/-postRender/-preLayer/-postLayer/-preFrame/-postFrame <mel>
                            MEL run before/after the render, each layer, each frame

Booleans take on|yes|true|1 or off|no|false|0.
"#;
