//! The frames a line names: checked when the line is parsed (start before
//! end, a positive step, the [`MAX_FRAMES`] cap), then counted, listed and
//! resumed by the node from the same data.

use super::kinds::Kind;
use super::lists;
use super::model::{FrameSpec, Profile};
use super::{Flag, FlagError, MAX_FRAMES};

/// The frames a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Frames {
    /// `start..=end` by `step` (fractions allowed: Maya renders half frames).
    Range { start: f64, end: f64, step: f64 },
    /// Whole frames, sorted, without repeats.
    List(Vec<i64>),
}

impl Frames {
    /// The whole frame numbers, when every frame is whole.
    pub fn whole(&self) -> Option<Vec<i64>> {
        match self {
            Frames::List(l) => Some(l.clone()),
            Frames::Range { start, end, step } => {
                let whole = |v: f64| (v.fract() == 0.0).then_some(v as i64);
                let (s, e, b) = (whole(*start)?, whole(*end)?, whole(*step)?);
                if b <= 0 {
                    return None;
                }
                Some((s..=e).step_by(usize::try_from(b).ok()?).collect())
            }
        }
    }

    pub fn count(&self) -> u64 {
        match self {
            Frames::List(l) => l.len() as u64,
            Frames::Range { start, end, step } => {
                if *step <= 0.0 || end < start {
                    return 0;
                }
                ((end - start) / step + 1e-9).floor() as u64 + 1
            }
        }
    }
}

/// The frames of a list value, sorted and without repeats.
pub fn expand(kind: &Kind, v: &str) -> Result<Vec<i64>, String> {
    lists::expand(*kind == Kind::FrameRanges, v)
}

/// A list value naming `frames` (sorted): `1-3,7` or `1-3;7`.
pub fn format(kind: &Kind, frames: &[i64]) -> String {
    lists::format(*kind == Kind::FrameRanges, frames)
}

fn too_many(count: f64) -> String {
    lists::too_many(count)
}

/// The byte range of the frame number in a per-frame scene's name
/// (`shot.0007.ass` → the `0007`), when there is one.
pub fn scene_number(scene: &str, extensions: &[String]) -> Option<(usize, usize)> {
    let lower = scene.to_ascii_lowercase();
    let ext = extensions
        .iter()
        .filter(|e| lower.ends_with(e.as_str()))
        .map(String::len)
        .max()
        .unwrap_or(0);
    let body = &scene[..scene.len() - ext];
    let name_start = body.rfind(['/', '\\']).map_or(0, |i| i + 1);
    let digits = body[name_start..]
        .bytes()
        .rev()
        .take_while(u8::is_ascii_digit)
        .count();
    (digits > 0 && digits <= 9).then(|| (body.len() - digits, body.len()))
}

fn value<'a>(flags: &'a [Flag], name: &Option<String>) -> Option<&'a str> {
    let name = name.as_deref()?;
    flags
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| f.value.as_deref())
}

fn number(flags: &[Flag], name: &Option<String>) -> Option<f64> {
    value(flags, name).and_then(|v| v.parse::<f64>().ok())
}

fn span_parts(v: &str) -> Vec<f64> {
    v.split(' ').filter_map(|p| p.parse::<f64>().ok()).collect()
}

impl FrameSpec {
    /// The line's frame flags make sense together.
    pub(crate) fn check(&self, p: &Profile, flags: &[Flag], scene: &str) -> Result<(), FlagError> {
        let invalid = |s: String| Err(FlagError::Invalid(s));
        let given = |n: &Option<String>| value(flags, n).is_some();
        if let Some(list) = self.list.as_deref().filter(|_| given(&self.list))
            && [&self.start, &self.end, &self.step, &self.count, &self.span]
                .iter()
                .any(|n| given(n))
        {
            return invalid(format!("give {list} or the other frame flags, not both"));
        }
        let (s, e) = (number(flags, &self.start), number(flags, &self.end));
        if let (Some(s), Some(e)) = (s, e)
            && s > e
        {
            return invalid(format!("the start frame {s} is after the end frame {e}"));
        }
        if let Some(b) = number(flags, &self.step) {
            if b <= 0.0 {
                let name = self.step.as_deref().unwrap_or("the step");
                return invalid(format!("{name} must be greater than 0"));
            }
            let count = match number(flags, &self.count) {
                Some(n) => n,
                None => (e.unwrap_or(1.0) - s.unwrap_or(1.0)) / b + 1.0,
            };
            if count > MAX_FRAMES {
                return invalid(too_many(count));
            }
        } else if let (Some(s), Some(e)) = (s, e)
            && e - s + 1.0 > MAX_FRAMES
        {
            return invalid(too_many(e - s + 1.0));
        }
        if let Some(v) = value(flags, &self.span) {
            let name = self.span.as_deref().unwrap_or_default();
            if let [a, b, rest @ ..] = span_parts(v).as_slice() {
                let step = rest.first().copied().unwrap_or(1.0);
                if a > b {
                    return invalid(format!("the start frame {a} is after the end frame {b}"));
                }
                if step < 1.0 {
                    return invalid(format!("the {name} step must be at least 1"));
                }
                if (b - a) / step + 1.0 > MAX_FRAMES {
                    return invalid(too_many((b - a) / step + 1.0));
                }
            }
        }
        if self.from_scene_name
            && let Some(list) = self.list.as_deref().filter(|_| given(&self.list))
            && scene_number(scene, &p.scene_extensions).is_none()
        {
            return invalid(format!(
                "{list} renders each frame's own scene file: name one of them, such as shot.0001{}",
                p.scene_extensions.first().map_or("", String::as_str)
            ));
        }
        Ok(())
    }

    /// The frames the flags ask for; `None` when the scene decides.
    pub fn frames_of(&self, p: &Profile, flags: &[Flag], scene: &str) -> Option<Frames> {
        if let Some(v) = value(flags, &self.list) {
            let kind = p.kind_of(self.list.as_deref()?)?;
            return expand(kind, v).ok().map(Frames::List);
        }
        if let Some(v) = value(flags, &self.span) {
            let parts = span_parts(v);
            let start = *parts.first()?;
            return Some(Frames::Range {
                start,
                end: parts.get(1).copied().unwrap_or(start),
                step: parts.get(2).copied().unwrap_or(1.0),
            });
        }
        let start = number(flags, &self.start).or(self.default_start.map(|s| s as f64));
        let Some(start) = start else {
            return self.from_scene_name.then(|| {
                let n = scene_number(scene, &p.scene_extensions)
                    .and_then(|(a, b)| scene[a..b].parse().ok())
                    .unwrap_or(1);
                Frames::List(vec![n])
            });
        };
        let step = number(flags, &self.step).unwrap_or(1.0);
        if let Some(n) = number(flags, &self.count) {
            return Some(Frames::Range {
                start,
                end: start + (n - 1.0) * step,
                step,
            });
        }
        match number(flags, &self.end) {
            Some(end) => Some(Frames::Range { start, end, step }),
            None if self.end_defaults_to_start || self.count.is_some() => Some(Frames::Range {
                start,
                end: start,
                step,
            }),
            None => None,
        }
    }
}

/// Whether `kind` may name frames in the `role` of a [`FrameSpec`].
pub(crate) fn fits(role: &str, kind: &Kind) -> bool {
    match role {
        "start" | "end" => matches!(kind, Kind::Frame | Kind::WholeFrame | Kind::Int(..)),
        "step" => matches!(
            kind,
            Kind::Frame | Kind::WholeFrame | Kind::Int(..) | Kind::Float(..)
        ),
        "count" => matches!(kind, Kind::Int(..) | Kind::WholeFrame),
        "list" => matches!(kind, Kind::FrameList | Kind::FrameRanges),
        "span" => *kind == Kind::FrameSpan,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_expand_format_and_cap() {
        assert_eq!(expand(&Kind::FrameList, "1,3,5-7"), Ok(vec![1, 3, 5, 6, 7]));
        assert_eq!(
            expand(&Kind::FrameRanges, "1-9,4;20"),
            Ok(vec![1, 5, 9, 20])
        );
        assert!(expand(&Kind::FrameList, "5-1").is_err());
        assert!(expand(&Kind::FrameList, "1,,2").is_err());
        assert!(expand(&Kind::FrameList, "-1").is_err());
        assert!(expand(&Kind::FrameRanges, "1-9,0").is_err());
        let err = expand(&Kind::FrameList, "1-999999").unwrap_err();
        assert!(err.contains("the limit is 100000"), "{err}");
        assert_eq!(format(&Kind::FrameList, &[1, 2, 3, 7, 9, 10]), "1-3,7,9-10");
        assert_eq!(format(&Kind::FrameRanges, &[1, 2, 3, 7]), "1-3;7");
        let exts = vec![".ass".to_string(), ".ass.gz".to_string()];
        assert_eq!(scene_number("a/shot.0007.ass", &exts), Some((7, 11)));
        assert_eq!(scene_number("a/shot.0007.ass.gz", &exts), Some((7, 11)));
        assert_eq!(scene_number("a1/shot.ass", &exts), None);
    }
}
