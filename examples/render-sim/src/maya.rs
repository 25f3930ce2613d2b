//! Maya `Render` (see the crate docs for the behaviour).

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::args::{self, Command, Hook, Options, UsageError};
use crate::knobs::{Fate, Knobs, append_line};
use crate::naming::{self, Frame};
use crate::picture::{self, Look};
use crate::renderers::{self, FrameInfo, Renderer};
use crate::{EXIT_RENDER_ERROR, EXIT_USAGE};

/// Runs Maya `Render` with argv (without argv\[0\]) once the common knobs ran.
pub(crate) fn run(args: &[OsString], knobs: &Knobs) -> i32 {
    let out = Printer::new(Duration::from_millis(knobs.step_ms));
    let opts = match args::parse(args) {
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
    match render(&opts, knobs, out) {
        Ok(()) => knobs.exit_code.unwrap_or(0),
        Err(code) => code,
    }
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

    /// Renderer lines back to back: prefixed like [`Self::render`], no pause,
    /// stdout locked once and flushed after every line.
    fn burst(&self, lines: impl Iterator<Item = String>) {
        let mut out = io::stdout().lock();
        for text in lines {
            let written = if self.stamped {
                let secs = self.started.elapsed().as_secs();
                let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
                writeln!(out, "{h:02}:{m:02}:{s:02}   {:>4}MB         | {text}", 120)
            } else {
                writeln!(out, "{text}")
            };
            if written.and_then(|()| out.flush()).is_err() {
                return;
            }
        }
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
            self.knobs
                .log_hook(&m.flag, &m.code)
                .map_err(|e| fail("RENDER_SIM_HOOK_LOG", &e))?;
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
        let fate = self.knobs.fate(frame.number);
        if self.knobs.burst() {
            // RENDER_SIM_LINES_PER_FRAME: the head, then n progress lines
            // back to back (half of them when the frame goes wrong).
            let head = self.renderer.head_lines(&info);
            head.iter().for_each(|l| self.out.render(l));
            let pcts = self.knobs.percents();
            let n = pcts.len();
            let shown = if fate == Fate::Render { n } else { n / 2 };
            self.out.burst(
                pcts[..shown]
                    .iter()
                    .enumerate()
                    .map(|(i, p)| self.renderer.progress_line(&info, i, n, *p)),
            );
        } else {
            let lines = self.renderer.frame_lines(&info);
            let shown_lines = if fate == Fate::Render {
                &lines[..]
            } else {
                &lines[..lines.len() / 2]
            };
            shown_lines.iter().for_each(|l| self.out.render(l));
        }
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
            black: self.knobs.black(frame.number),
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
