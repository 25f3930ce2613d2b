//! Faithful simulators of proprietary batch renderers, for demos and tests of
//! droprender: Maya `Render` ([`run`], following
//! `shared/reference/maya-render.md`) and, through [`run_as`] with a program
//! name, `3dsmaxcmd`, `husk`, Cinema 4D `Commandline`, `kick` and `vray`
//! (following `docs/renderers.md`; their argv grammars, lines and names are
//! summarised in README.md and in each `programs::*` module). The binary
//! picks the program from its argv\[0\].
//!
//! The rest of this page describes Maya `Render`.
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
//! | `RENDER_SIM_HOOK_LOG=file` | append `HOOK-EXECUTED <flag> <value>` for each code-running flag run (every program) |
//! | `RENDER_SIM_LINES_PER_FRAME=n` | print `n` progress lines per frame back to back, without the step pause (every program) |
//! | `RENDER_SIM_PID_FILE=file` | write the simulator's pid at start |
//! | `RENDER_SIM_CHILD_PID_FILE=file` | at start: start a child process of the simulator itself (same program, same environment, same stdout and stderr, which it keeps open) that only sleeps (10 minutes unless killed), and write its pid to the file: a renderer with a helper of its own, for tests that a stop takes the whole tree and that a helper holding the pipes does not hold up the job |
//! | `RENDER_SIM_START_STAMP=file` | very first thing: append one line `<start> <main>`, `CLOCK_MONOTONIC` nanoseconds: when this process was created (its CPU and run-queue time, from `/proc/self/schedstat`, subtracted: the loader's work on the simulator is not the caller's latency) and when `run` began (benchmarks time command → renderer start with it) |
//! | `RENDER_SIM_END_STAMP=file` | last thing before exiting: append one line `<end>`, `CLOCK_MONOTONIC` nanoseconds |
//!
//! SIGTERM and SIGINT keep their default action: the process dies.

mod args;
mod knobs;
mod maya;
mod naming;
mod picture;
mod programs;
mod renderers;

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use knobs::{Knobs, append_line, sleep_if_child, spawn_sleeping_child, stamp_end, stamp_start};

/// Exit code for a command line Maya cannot parse.
pub const EXIT_USAGE: i32 = 206;
/// Exit code for a renderer error (missing scene, failed frame…).
pub const EXIT_RENDER_ERROR: i32 = 211;

/// Runs the simulator with argv (excluding argv\[0\]) and returns the process
/// exit code. Reads its knobs from the process environment.
pub fn run(args: Vec<OsString>) -> i32 {
    let knobs = start();
    log_argv(&knobs, &args);
    let code = maya::run(&args, &knobs);
    stamp_end();
    code
}

/// The first things every program does: the start stamp (before anything
/// else, so it is as close to exec as we can get), the knobs, the pid file.
fn start() -> Knobs {
    // The sleeping child of `RENDER_SIM_CHILD_PID_FILE` does nothing else.
    sleep_if_child();
    if let Some(stamp) = std::env::var_os("RENDER_SIM_START_STAMP").filter(|v| !v.is_empty()) {
        stamp_start(Path::new(&stamp));
    }
    let knobs = Knobs::from_env();
    if let Some(pid_file) = &knobs.pid_file {
        let written = fs::write(pid_file, format!("{}\n", std::process::id()));
        if let Err(e) = written {
            eprintln!("render-sim: cannot write {}: {e}", pid_file.display());
        }
    }
    if let Some(child_pid_file) = &knobs.child_pid_file
        && let Err(e) = spawn_sleeping_child(child_pid_file)
    {
        eprintln!(
            "render-sim: cannot start the child for {}: {e}",
            child_pid_file.display()
        );
    }
    knobs
}

/// `RENDER_SIM_ARGV_LOG`: appends argv as one JSON array line.
fn log_argv(knobs: &Knobs, args: &[OsString]) {
    if let Some(log) = &knobs.env_log {
        // The slot a render manager gave this run: its GPUs and name.
        let mut env = serde_json::Map::new();
        env.insert("pid".into(), std::process::id().into());
        for k in [
            "CUDA_VISIBLE_DEVICES",
            "HIP_VISIBLE_DEVICES",
            "DROPRENDER_SLOT",
        ] {
            if let Ok(v) = std::env::var(k) {
                env.insert(k.into(), v.into());
            }
        }
        let line = serde_json::Value::Object(env).to_string();
        if let Err(e) = append_line(log, &line) {
            eprintln!("render-sim: cannot append to {}: {e}", log.display());
        }
    }
    if let Some(log) = &knobs.argv_log {
        let argv: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
        let line = serde_json::to_string(&argv).unwrap_or_default();
        if let Err(e) = append_line(log, &line) {
            eprintln!("render-sim: cannot append to {}: {e}", log.display());
        }
    }
}

/// The programs the simulator can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// Maya `Render` (also what `render-sim` itself is).
    Maya,
    /// Autodesk 3ds Max `3dsmaxcmd` (and `3dsmaxcmdio`).
    Max,
    /// Houdini `husk`.
    Husk,
    /// Cinema 4D `Commandline` (and Linux `c4d_clr`).
    Cinema4d,
    /// Arnold `kick`.
    Kick,
    /// V-Ray Standalone `vray`.
    Vray,
}

impl Program {
    /// The program an argv\[0\] names: its file stem, any case, with or
    /// without `.exe` (`/opt/hfs20.5/bin/husk`, `C:\…\3dsmaxcmd.exe`,
    /// `Render`, `render-sim`). `None` for anything else.
    pub fn from_argv0(argv0: &str) -> Option<Self> {
        let name = argv0.rsplit(['/', '\\']).next().unwrap_or(argv0);
        let lower = name.to_ascii_lowercase();
        let stem = lower.strip_suffix(".exe").unwrap_or(&lower);
        Some(match stem {
            "render" | "maya" | "render-sim" | "render_sim" => Self::Maya,
            "3dsmaxcmd" | "3dsmaxcmdio" => Self::Max,
            "husk" => Self::Husk,
            "commandline" | "c4d_clr" => Self::Cinema4d,
            "kick" => Self::Kick,
            "vray" => Self::Vray,
            _ => return None,
        })
    }
}

/// Runs the simulator as `program` (an argv\[0\] or a bare name, see
/// [`Program::from_argv0`]) with argv (excluding argv\[0\]) and returns the
/// exit code. Reads its knobs from the process environment. An unknown
/// program prints an error on stderr and returns 127, like a shell.
pub fn run_as(program: &str, args: Vec<OsString>) -> i32 {
    let Some(which) = Program::from_argv0(program) else {
        eprintln!(
            "render-sim: unknown program \"{program}\"; expected Render, 3dsmaxcmd, husk, Commandline, kick or vray"
        );
        return 127;
    };
    let knobs = start();
    log_argv(&knobs, &args);
    let code = match which {
        Program::Maya => maya::run(&args, &knobs),
        Program::Max => programs::max::run(&args, &knobs),
        Program::Husk => programs::husk::run(&args, &knobs),
        Program::Cinema4d => programs::c4d::run(&args, &knobs),
        Program::Kick => programs::kick::run(&args, &knobs),
        Program::Vray => programs::vray::run(&args, &knobs),
    };
    stamp_end();
    code
}
