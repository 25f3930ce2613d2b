//! Frame-list values: `1,3,5-12` (3ds Max, kick) and V-Ray's
//! `b[-e[,s]]{;…}` (`ranges`). Counted against [`MAX_FRAMES`] before any
//! list is built, so a hostile line cannot make the node allocate much.

use super::MAX_FRAMES;

/// The `(start, end, step)` runs of a frame list, unchecked against the cap.
fn items(ranges: bool, v: &str) -> Result<Vec<(i64, i64, i64)>, String> {
    let (sep, example) = if ranges {
        (';', "expected frames such as 1-10;20-30,2")
    } else {
        (',', "expected frames such as 1,3,5-12")
    };
    let num = |s: &str| -> Result<i64, String> {
        if (1..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map_err(|_| example.to_string())
        } else {
            Err(example.to_string())
        }
    };
    let mut out = Vec::new();
    for part in v.split(sep) {
        let (span, step) = match part.split_once(',') {
            Some((span, step)) if sep == ';' => (span, num(step)?),
            _ => (part, 1),
        };
        let (a, b) = match span.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(span)?, num(span)?),
        };
        if a > b || step < 1 {
            return Err(example.to_string());
        }
        out.push((a, b, step));
    }
    if out.len() > 10_000 {
        return Err(example.to_string());
    }
    Ok(out)
}

pub(crate) fn too_many(count: f64) -> String {
    format!("the line asks for {count:.0} frames; the limit is {MAX_FRAMES:.0}")
}

/// The frames of a list value, sorted and without repeats.
pub(crate) fn expand(ranges: bool, v: &str) -> Result<Vec<i64>, String> {
    let runs = items(ranges, v)?;
    let count: f64 = runs.iter().map(|(a, b, s)| ((b - a) / s + 1) as f64).sum();
    if count > MAX_FRAMES {
        return Err(too_many(count));
    }
    let mut all: Vec<i64> = runs
        .iter()
        .flat_map(|&(a, b, s)| (a..=b).step_by(s as usize))
        .collect();
    all.sort_unstable();
    all.dedup();
    Ok(all)
}

/// A list value naming `frames` (sorted): `1-3,7` or `1-3;7`.
pub(crate) fn format(ranges: bool, frames: &[i64]) -> String {
    let sep = if ranges { ";" } else { "," };
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &f in frames {
        match runs.last_mut() {
            Some((_, e)) if *e + 1 == f => *e = f,
            _ => runs.push((f, f)),
        }
    }
    runs.iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(sep)
}
