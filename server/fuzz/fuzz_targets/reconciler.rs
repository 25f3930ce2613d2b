//! Bytes decoded into a history of the synced folder (appends, partial
//! lines, phone rewrites, conflicted copies, garbage, crashes, scans) and
//! played against the real channel and ledger; the model in
//! tests/model/mod.rs checks that no command identity is accepted twice and
//! that every line ends up accepted or rejected exactly once.

#![no_main]

#[path = "../../tests/model/mod.rs"]
mod model;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use model::{Conflict, Crash, GARBAGE, Op, Pick, REPEATED, Raw, Rewrite, Scenario, Which};

fn pick(u: &mut Unstructured<'_>) -> Result<Pick> {
    Ok(Pick(u.arbitrary()?))
}

fn line(u: &mut Unstructured<'_>) -> Result<Raw> {
    Ok(match u.int_in_range(0u8..=12)? {
        0..=5 => Raw(u.choose(REPEATED)?.as_bytes().to_vec()),
        6..=8 => {
            let n = u.int_in_range(1u32..=300)?;
            let s = u.int_in_range(0u8..=2)?;
            Raw(format!("rend:-s {n} -e {n} shot{s}.mb").into_bytes())
        }
        9 | 10 => Raw(u.choose(GARBAGE)?.to_vec()),
        11 => {
            let len = u.int_in_range(0usize..=12)?;
            Raw(u
                .bytes(len)?
                .iter()
                .copied()
                .filter(|b| *b != b'\n')
                .collect())
        }
        _ => Raw(vec![
            u.int_in_range(b'a'..=b'c')?;
            *u.choose(&[4096usize, 4097, 5000])?
        ]),
    })
}

fn lines(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<Raw>> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| line(u)).collect()
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.int_in_range(0u8..=32)? {
        0..=7 => Op::Append {
            lines: lines(u, 4)?,
            crlf: u.ratio(1, 5)?,
        },
        8 | 9 => Op::Partial {
            line: line(u)?,
            cut: pick(u)?,
            scan_between: u.arbitrary()?,
        },
        10 | 11 => Op::NoNewline(line(u)?),
        12 | 13 => Op::Quiet,
        14..=16 => Op::Rewrite(Rewrite {
            keep: {
                let n = u.int_in_range(0usize..=7)?;
                (0..n).map(|_| u.ratio(4, 5)).collect::<Result<_>>()?
            },
            add: lines(u, 3)?,
            at: pick(u)?,
            crlf: u.arbitrary()?,
            bom: u.ratio(1, 5)?,
            final_newline: u.arbitrary()?,
            cosmetic: u.ratio(3, 10)?,
        }),
        17 | 18 => Op::Conflict(Conflict {
            main_base: u.int_in_range(0usize..=2)?,
            copy_base: u.int_in_range(0usize..=2)?,
            main_add: lines(u, 3)?,
            copy_add: lines(u, 3)?,
            naming: u.arbitrary()?,
            final_newline: u.ratio(4, 5)?,
        }),
        19 => Op::Merge {
            copy: pick(u)?,
            last: u.int_in_range(1usize..=3)?,
            delete: u.arbitrary()?,
        },
        20 => Op::DeleteCopy(pick(u)?),
        21 => Op::Touch,
        22 => Op::DeleteMain,
        23..=25 => Op::Scan(Which::All),
        26..=28 => Op::Scan(Which::Main),
        29 => Op::Scan(Which::Copy(pick(u)?)),
        30 => Op::Crash(Crash::Clean),
        31 => Op::Crash(match u.int_in_range(0u8..=1)? {
            0 => Crash::BeforeCommit,
            _ => Crash::AfterSnapshot,
        }),
        _ => Op::Crash(Crash::TornJournal(pick(u)?)),
    })
}

/// Decodes as much of a scenario as the bytes hold.
fn scenario(data: &[u8]) -> Scenario {
    let mut u = Unstructured::new(data);
    let mut s = Scenario {
        initial: Vec::new(),
        initial_newline: true,
        ops: Vec::new(),
        content_hash: u.arbitrary().unwrap_or(false),
    };
    if u.ratio(1, 4).unwrap_or(false) {
        s.initial = lines(&mut u, 4).unwrap_or_default();
        s.initial_newline = u.ratio(4, 5).unwrap_or(true);
    }
    while !u.is_empty() && s.ops.len() < 64 {
        match op(&mut u) {
            Ok(o) => s.ops.push(o),
            Err(_) => break,
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let s = scenario(data);
    if let (_, Err(e)) = model::run(&s) {
        panic!("{e}\n{s:#?}");
    }
});
