//! The argv builder of every profile but Maya's and Blender's: the
//! profile's `run` data says which program, which fixed arguments, where
//! the scene goes, which output the node sets and how missing frames are
//! passed. The line's flags go through in the program's own syntax; paths
//! in them are replaced by the ones the node resolved inside its roots.
//!
//! argv: fixed, [scene flag + scene], line flags, output, frames,
//! [skip-existing], [scene last].

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use droprender_shared::profile::{
    Frames, Kind, Profile, Resume, ScenePlace, frames::format, frames::scene_number, kinds,
};

use super::{Invocation, Resolved, frames};
use crate::config::Config;

/// The scene's name as output names use it: letters, digits, `_` and `-`
/// (no `$` or `%` a program would expand); a per-frame scene loses its
/// frame number (`shot.0001.ass` → `shot`).
fn stem(p: &Profile, scene: &Path) -> String {
    let name = scene
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let ext = p
        .scene_extensions
        .iter()
        .filter(|e| lower.ends_with(e.as_str()))
        .map(String::len)
        .max()
        .unwrap_or(0);
    let mut base = &name[..name.len() - ext];
    if p.frames.from_scene_name {
        base = base
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches(['.', '_']);
    }
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "frame".into()
    } else {
        clean
    }
}

fn padded(frame: i64, pad: usize) -> String {
    if frame < 0 {
        format!("-{:0pad$}", -frame)
    } else {
        format!("{frame:0pad$}")
    }
}

/// The output the node sets: the pattern with `{dir}`, `{stem}`, `{frame}`.
fn node_output(p: &Profile, job: &Resolved, frame: Option<i64>) -> Option<(String, PathBuf)> {
    let out = p.run.output.as_ref()?;
    let rest = out.pattern.strip_prefix("{dir}/")?;
    let frame = frame.map_or_else(String::new, |f| padded(f, usize::from(p.run.pad)));
    let name = rest
        .replace("{stem}", &stem(p, &job.scene))
        .replace("{frame}", &frame);
    Some((out.flag.clone(), job.output_dir.join(name)))
}

fn os(words: Vec<String>) -> impl Iterator<Item = OsString> {
    words.into_iter().map(OsString::from)
}

fn path_words(p: &Profile, flag: &str, path: &Path) -> Vec<String> {
    p.words(flag, Some(&path.to_string_lossy()))
}

/// The names of the flags that say which frames to render.
fn frame_flags(p: &Profile) -> Vec<&str> {
    let f = &p.frames;
    [&f.start, &f.end, &f.step, &f.count, &f.list, &f.span]
        .into_iter()
        .filter_map(|n| n.as_deref())
        .collect()
}

/// The line's flags for argv: frame flags left out when the node passes
/// its own; output and project paths as the node resolved them.
fn line_flags(p: &Profile, job: &Resolved, own_frames: bool) -> (Vec<OsString>, bool) {
    let skip = frame_flags(p);
    let mut args = Vec::new();
    let mut has_output = false;
    for f in &job.request.flags {
        if own_frames && skip.contains(&f.name.as_str()) {
            continue;
        }
        let value = match (p.kind_of(&f.name), f.value.as_deref()) {
            (Some(Kind::OutputDir), _) => Some(job.output_dir.clone()),
            (Some(Kind::OutputFile(_) | Kind::OutputPrefix), Some(v)) => {
                Some(job.output_dir.join(kinds::file_name(v)))
            }
            (Some(Kind::ProjectDir), _) => job.project.clone(),
            _ => None,
        };
        match value {
            Some(path) => {
                has_output |= p.kind_of(&f.name).is_some_and(kinds::is_output);
                args.extend(os(path_words(p, &f.name, &path)));
            }
            None => args.extend(os(p.words(&f.name, f.value.as_deref()))),
        }
    }
    (args, has_output)
}

/// Frame arguments for `start..=end` by `step`.
fn run_args(p: &Profile, start: i64, end: i64, step: i64) -> Vec<OsString> {
    let f = &p.frames;
    let mut w = Vec::new();
    if let Some(span) = &f.span {
        let v = if step == 1 {
            format!("{start} {end}")
        } else {
            format!("{start} {end} {step}")
        };
        w.extend(p.words(span, Some(&v)));
    } else if let Some(s) = &f.start {
        w.extend(p.words(s, Some(&start.to_string())));
        if let Some(e) = &f.end {
            w.extend(p.words(e, Some(&end.to_string())));
        } else if let Some(c) = &f.count {
            w.extend(p.words(c, Some(&((end - start) / step + 1).to_string())));
        }
        if let Some(b) = f.step.as_ref().filter(|_| step != 1 && start != end) {
            w.extend(p.words(b, Some(&step.to_string())));
        }
    }
    os(w).collect()
}

/// Runs of frames one invocation each: consecutive positions of a stepped
/// range, or consecutive numbers of a list.
fn runs(frames: &Frames, all: &[i64], done: &BTreeSet<i64>) -> Vec<(i64, i64, i64, Vec<i64>)> {
    let step = match frames {
        Frames::Range { step, .. } => *step as i64,
        Frames::List(_) => 1,
    };
    let mut out: Vec<(i64, i64, i64, Vec<i64>)> = Vec::new();
    let mut prev: Option<usize> = None;
    for (i, &f) in all.iter().enumerate() {
        if done.contains(&f) {
            continue;
        }
        let joins = prev.is_some_and(|j| j + 1 == i) && all[i] - all[i - 1] == step;
        match out.last_mut() {
            Some(run) if joins => {
                run.1 = f;
                run.3.push(f);
            }
            _ => out.push((f, f, step, vec![f])),
        }
        prev = Some(i);
    }
    out
}

pub fn plan(cfg: &Config, job: &Resolved, done: &BTreeSet<i64>) -> Vec<Invocation> {
    let p = &*job.request.profile;
    let requested = frames(&job.request);
    let all = requested.as_ref().and_then(Frames::whole);
    let program = cfg.program_for(p);
    let build = |scene: &Path, frame_args: Vec<OsString>, frame: Option<i64>, frames: Vec<i64>| {
        let mut args: Vec<OsString> = p.run.fixed.iter().map(OsString::from).collect();
        match (p.run.scene, &p.scene_flag) {
            (ScenePlace::Flag, Some(flag)) => args.extend(os(path_words(p, flag, scene))),
            (ScenePlace::First, _) => args.push(scene.into()),
            _ => {}
        }
        let (line, has_output) = line_flags(p, job, all.is_some());
        args.extend(line);
        if !has_output && let Some((flag, path)) = node_output(p, job, frame) {
            args.extend(os(path_words(p, &flag, &path)));
        }
        args.extend(frame_args);
        if all.is_none() && !done.is_empty() {
            args.extend(p.run.skip_existing.iter().map(OsString::from));
        }
        if p.run.scene == ScenePlace::Last {
            args.push(scene.into());
        }
        Invocation {
            program: program.clone(),
            args,
            frames,
            env: Vec::new(),
        }
    };
    let (Some(requested), Some(all)) = (requested, all.clone()) else {
        return vec![build(&job.scene, Vec::new(), None, Vec::new())];
    };
    let missing: Vec<i64> = all.iter().copied().filter(|f| !done.contains(f)).collect();
    // A list the line gave goes back as a list where the program takes one.
    let as_list = matches!(requested, Frames::List(_)) && p.frames.list.is_some();
    match p.run.frames {
        Resume::Runs if !as_list => runs(&requested, &all, done)
            .into_iter()
            .map(|(s, e, b, fs)| build(&job.scene, run_args(p, s, e, b), None, fs))
            .collect(),
        Resume::Runs | Resume::List => {
            let (Some(flag), false) = (&p.frames.list, missing.is_empty()) else {
                return Vec::new();
            };
            let kind = p.kind_of(flag).cloned().unwrap_or(Kind::FrameList);
            let args = os(p.words(flag, Some(&format(&kind, &missing)))).collect();
            vec![build(&job.scene, args, None, missing)]
        }
        Resume::PerFrame => missing
            .into_iter()
            .filter_map(|f| {
                let scene = frame_scene(cfg, p, &job.scene, f)?;
                Some(build(&scene, Vec::new(), Some(f), vec![f]))
            })
            .collect(),
    }
}

/// The scene file of frame `f` beside the one the line named
/// (`shot.0001.ass` → `shot.0007.ass`), resolved inside the projects root:
/// a sibling that is a link to elsewhere is not rendered.
fn frame_scene(cfg: &Config, p: &Profile, scene: &Path, f: i64) -> Option<PathBuf> {
    let text = scene.to_string_lossy();
    let Some((a, b)) = scene_number(&text, &p.scene_extensions) else {
        return Some(scene.to_path_buf());
    };
    let named = format!("{}{}{}", &text[..a], padded(f, b - a), &text[b..]);
    match crate::paths::existing_inside(&cfg.projects, &named) {
        Ok(real) => Some(real),
        Err(e) => {
            tracing::warn!("frame {f}: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests;
