//! Value kinds: the closed set of values a line may give a flag. Each is
//! safe by construction; there is no kind for an arbitrary path, a
//! script or a free-form string, so a profile cannot allow one.

use serde::{Deserialize, Serialize};

use super::FlagError;
use super::lists;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Kind {
    /// No value.
    Switch,
    /// `on|yes|true|1|off|no|false|0`.
    Bool,
    /// `^-?\d{1,6}(\.\d{1,3})?$`.
    Frame,
    /// An unsigned whole frame (Blender reads a sign as "relative").
    WholeFrame,
    Int(i64, i64),
    Float(f64, f64),
    /// Maya camera names: `^[A-Za-z_][A-Za-z0-9_:|]{0,127}$`.
    Camera,
    /// An object name: letters, digits, `_ : | . -`, not starting with `-`
    /// or `.`, at most 128 characters.
    Name,
    /// A name that may contain spaces but not `|` (3ds Max objects,
    /// Cinema 4D takes).
    NameWithSpaces,
    /// A USD prim path: `/a/b`, or relative `a/b`.
    PrimPath,
    /// Comma list of `^[A-Za-z_][A-Za-z0-9_:]{0,63}$` (Maya render layers).
    Layers,
    /// One of these words, matched ignoring case.
    OneOf(Vec<String>),
    /// Up to `max` characters from `chars` (letters and digits only).
    Word {
        chars: String,
        max: usize,
    },
    /// `WIDTHxHEIGHT`, each 1..16384.
    Resolution,
    /// Two whole numbers in the range, as two arguments (`--res 1280 720`).
    IntPair(i64, i64),
    /// `1,3,5-12`.
    FrameList,
    /// `1-10;20-30,2` (V-Ray's `b[-e[,s]]{;…}`).
    FrameRanges,
    /// `start [end [step]]` as one to three arguments (Cinema 4D `-frame`).
    FrameSpan,
    /// `^[A-Za-z0-9_.<>-]{1,128}$`, no `/` (Maya `-im`).
    ImagePrefix,
    /// A folder the node resolves inside its output root.
    OutputDir,
    /// A folder the node resolves inside its projects root.
    ProjectDir,
    /// A file the node resolves inside its output root, with one of these
    /// extensions; the program numbers frames into its name.
    OutputFile(Vec<String>),
    /// A file-name prefix the node resolves inside its output root.
    OutputPrefix,
    /// Threads: 0..1024 here; the node refuses more than its CPUs.
    Threads,
}

/// How many arguments a value takes: (least, most).
pub fn arity(kind: &Kind) -> (usize, usize) {
    match kind {
        Kind::Switch => (0, 0),
        Kind::IntPair(..) => (2, 2),
        Kind::FrameSpan => (1, 3),
        _ => (1, 1),
    }
}

fn bad(flag: &str, value: &str, rule: impl Into<String>) -> FlagError {
    FlagError::BadValue {
        flag: flag.to_string(),
        value: value.to_string(),
        rule: rule.into(),
    }
}

pub(crate) fn is_frame(v: &str, signed: bool) -> bool {
    let digits = if signed {
        v.strip_prefix('-').unwrap_or(v)
    } else {
        v
    };
    let (int, frac) = match digits.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (digits, None),
    };
    let int_ok = (1..=6).contains(&int.len()) && int.bytes().all(|b| b.is_ascii_digit());
    let frac_ok =
        frac.is_none_or(|f| (1..=3).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()));
    int_ok && frac_ok
}

fn name_ok(v: &str, max: usize, rest: impl Fn(char) -> bool) -> bool {
    let mut chars = v.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && v.len() <= max
        && chars.all(rest)
}

fn object_name_ok(v: &str, spaces: bool) -> bool {
    (1..=128).contains(&v.len())
        && !v.starts_with(['-', '.', ' '])
        && !v.ends_with(' ')
        && !v.contains("..")
        && v.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || "_:.-".contains(c)
                || if spaces { c == ' ' } else { c == '|' }
        })
}

fn prim_path_ok(v: &str) -> bool {
    let body = v.strip_prefix('/').unwrap_or(v);
    v.len() <= 256
        && !body.is_empty()
        && body
            .split('/')
            .all(|part| name_ok(part, 128, |c| c.is_ascii_alphanumeric() || c == '_'))
}

/// A path as typed: the node resolves it inside a root; here only its shape.
fn path_ok(v: &str) -> bool {
    !v.is_empty() && v.len() <= 1024 && !v.starts_with('-') && !v.chars().any(|c| c.is_control())
}

/// The file name at the end of a path typed the Unix or the Windows way.
pub fn file_name(v: &str) -> &str {
    v.rsplit(['/', '\\']).next().unwrap_or(v)
}

/// An output path: plain characters only (no `$`, `%`, `~`: programs
/// expand those), and a file name that does not end in a digit, because
/// the program appends the frame number to it.
fn output_path_ok(v: &str, has_extension: bool) -> bool {
    let name = file_name(v);
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if has_extension => stem,
        _ => name,
    };
    path_ok(v)
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./\\: ".contains(c))
        && !name.is_empty()
        && !name.starts_with('.')
        && !stem.ends_with(|c: char| c.is_ascii_digit())
}

/// Checks one value (arguments of a multi-argument kind joined by spaces).
pub fn check(flag: &str, kind: &Kind, v: &str) -> Result<(), FlagError> {
    let ok = |cond: bool, rule: &str| cond.then_some(()).ok_or_else(|| bad(flag, v, rule));
    match kind {
        Kind::Switch => Ok(()),
        Kind::Bool => ok(
            super::parse_bool(v).is_some(),
            "expected on/off, yes/no, true/false or 1/0",
        ),
        Kind::Frame => ok(
            is_frame(v, true),
            "expected a frame number such as 1, -10 or 12.5",
        ),
        Kind::WholeFrame => ok(
            is_frame(v, false) && !v.contains('.'),
            "expected a whole frame number without a sign, such as 1 or 240",
        ),
        Kind::Int(lo, hi) => match v.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&&n) => Ok(()),
            _ => Err(bad(
                flag,
                v,
                format!("expected a whole number from {lo} to {hi}"),
            )),
        },
        Kind::Threads => check(flag, &Kind::Int(0, 1024), v),
        Kind::Float(lo, hi) => match v.parse::<f64>() {
            Ok(n) if n.is_finite() && (lo..=hi).contains(&&n) && v.len() <= 12 => Ok(()),
            _ => Err(bad(flag, v, format!("expected a number from {lo} to {hi}"))),
        },
        Kind::Camera => ok(
            name_ok(v, 128, |c| c.is_ascii_alphanumeric() || "_:|".contains(c)),
            "a camera name is letters, digits, _ : and |, starting with a letter or _",
        ),
        Kind::Name => ok(
            object_name_ok(v, false),
            "a name is letters, digits and _ : | . -, not starting with - or .",
        ),
        Kind::NameWithSpaces => ok(
            object_name_ok(v, true),
            "a name is letters, digits, spaces and _ : . -, not starting with - or .",
        ),
        Kind::PrimPath => ok(
            prim_path_ok(v),
            "expected a USD prim path such as /cameras/main",
        ),
        Kind::Layers => ok(
            v.split(',')
                .all(|n| name_ok(n, 64, |c| c.is_ascii_alphanumeric() || "_:".contains(c))),
            "layer names are letters, digits, _ and :, separated by commas",
        ),
        Kind::OneOf(set) => set
            .iter()
            .any(|s| s.eq_ignore_ascii_case(v))
            .then_some(())
            .ok_or_else(|| bad(flag, v, format!("expected one of: {}", set.join(", ")))),
        Kind::Word { chars, max } => ok(
            !v.is_empty() && v.chars().count() <= *max && v.chars().all(|c| chars.contains(c)),
            &format!("expected up to {max} of these characters: {chars}"),
        ),
        Kind::Resolution => ok(
            v.split_once(['x', 'X']).is_some_and(|(w, h)| {
                [w, h].iter().all(|n| {
                    n.len() <= 5 && n.parse::<u32>().is_ok_and(|n| (1..=16384).contains(&n))
                })
            }),
            "expected WIDTHxHEIGHT, such as 1920x1080",
        ),
        Kind::IntPair(lo, hi) => {
            let parts: Vec<&str> = v.split(' ').collect();
            let each = |p: &&str| {
                p.len() <= 12 && p.parse::<i64>().is_ok_and(|n| (*lo..=*hi).contains(&n))
            };
            ok(
                parts.len() == 2 && parts.iter().all(each),
                &format!("expected two whole numbers from {lo} to {hi}"),
            )
        }
        Kind::FrameList | Kind::FrameRanges => lists::expand(*kind == Kind::FrameRanges, v)
            .map(|_| ())
            .map_err(|why| bad(flag, v, why)),
        Kind::FrameSpan => {
            let parts: Vec<&str> = v.split(' ').collect();
            ok(
                (1..=3).contains(&parts.len())
                    && parts.iter().all(|p| is_frame(p, true) && !p.contains('.')),
                "expected a start frame, then optionally an end frame and a step",
            )
        }
        Kind::ImagePrefix => ok(
            (1..=128).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.<>-".contains(c))
                && !v.starts_with('.'),
            "an image prefix is letters, digits and _ . < > -, without /",
        ),
        Kind::OutputDir | Kind::ProjectDir => ok(path_ok(v), "expected a directory path"),
        Kind::OutputFile(exts) => {
            let lower = v.to_ascii_lowercase();
            ok(
                output_path_ok(v, true) && exts.iter().any(|e| lower.ends_with(e.as_str())),
                &format!(
                    "expected a file name ending in {} (not in a digit before it: frame numbers are added), inside the output root",
                    exts.join(" ")
                ),
            )
        }
        Kind::OutputPrefix => ok(
            output_path_ok(v, false),
            "expected a file name prefix (letters, digits, _ - .; not ending in a digit: frame numbers are added), inside the output root",
        ),
    }
}

/// The value as argv and the canonical line carry it.
pub fn canonical(kind: &Kind, v: &str) -> String {
    match kind {
        Kind::OneOf(set) => set
            .iter()
            .find(|s| s.eq_ignore_ascii_case(v))
            .map_or_else(|| v.to_string(), Clone::clone),
        Kind::Resolution => v.to_ascii_lowercase(),
        _ => v.to_string(),
    }
}

/// A short hint for help.txt (`-res WxH`), or nothing.
pub fn hint(kind: &Kind) -> Option<&'static str> {
    match kind {
        Kind::Resolution => Some("WxH"),
        Kind::IntPair(..) => Some("W H"),
        Kind::FrameSpan => Some("A [B [STEP]]"),
        Kind::FrameList => Some("1,3,5-12"),
        Kind::FrameRanges => Some("1-10;20"),
        _ => None,
    }
}

/// Whether the kind names a path the node resolves in one of its roots.
pub fn is_path(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::OutputDir | Kind::ProjectDir | Kind::OutputFile(_) | Kind::OutputPrefix
    )
}

/// Whether the kind names where frames go.
pub fn is_output(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::OutputDir | Kind::OutputFile(_) | Kind::OutputPrefix
    )
}
