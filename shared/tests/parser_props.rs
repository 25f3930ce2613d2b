//! Property tests on the commands.txt grammar.

use droprender_shared::command::{parse_line, parse_normalized};
use droprender_shared::normalize::{Normalized, normalize_line, normalize_str};
use proptest::prelude::*;

/// Pieces phones and people type: valid flags, junk, dashes, quotes.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-r".to_string()),
        Just("sw".to_string()),
        Just("arnold".to_string()),
        Just("-s".to_string()),
        Just("-e".to_string()),
        Just("\u{2014}s".to_string()),
        Just("-preRender".to_string()),
        Just("-cam".to_string()),
        Just("\u{201c}my shot.mb\u{201d}".to_string()),
        Just("render".to_string()),
        Just("blender".to_string()),
        Just("-res".to_string()),
        Just("64x48".to_string()),
        Just("all".to_string()),
        Just("#3".to_string()),
        Just("high".to_string()),
        Just("-5".to_string()),
        Just("after=2,3".to_string()),
        Just("timeout=1h30m".to_string()),
        Just("retries=2".to_string()),
        Just("priority=low".to_string()),
        Just("'it''s'".to_string()),
        "[0-9]{1,4}",
        "[a-z_]{1,8}\\.(mb|ma|blend)",
        "[ -~]{0,6}",
        "\\PC{0,4}",
    ]
}

fn line() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("rend:"),
            Just("Rend:"),
            Just("progress:"),
            Just("REND@box1:"),
            Just("x:"),
            Just(""),
            Just("cancel:"),
            Just("Pause:"),
            Just("resume:"),
            Just("suspend:"),
            Just("priority:"),
            Just("retry:"),
            Just("status:"),
            Just("help@box-2:"),
        ],
        prop::collection::vec(token(), 0..8),
        prop_oneof![Just(""), Just("\r"), Just("  "), Just("\u{feff}")],
    )
        .prop_map(|(p, toks, tail)| format!("{p}{}{tail}", toks.join(" ")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..5000)) {
        let _ = parse_line(&bytes);
    }

    #[test]
    fn canonical_line_parses_to_the_same_command(raw in line()) {
        if let Ok(Some((_, cmd))) = parse_line(raw.as_bytes()) {
            let canonical = cmd.to_line();
            // The canonical text is already normalised…
            prop_assert_eq!(normalize_str(&canonical), Normalized::Text(canonical.clone()));
            // …and parses back to the same command.
            let again = parse_normalized(&canonical);
            prop_assert_eq!(again, Ok(cmd));
        }
    }

    #[test]
    fn normalising_is_idempotent(raw in line()) {
        if let Normalized::Text(t) = normalize_str(&raw) {
            prop_assert_eq!(normalize_str(&t), Normalized::Text(t.clone()));
        }
    }
}

/// What phones, Windows editors and sync engines put into lines: CR, BOMs,
/// dashes, smart quotes, odd spaces, NUL, broken UTF-8, and command pieces.
fn messy_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::sample::select(
            &[
                "\r",
                "\u{feff}",
                "\u{2014}",
                "\u{2013}",
                "\u{2212}",
                "\u{2011}",
                "\u{201c}",
                "\u{201d}",
                "\u{2018}",
                "\u{2019}",
                "\u{00ab}",
                "\u{00a0}",
                "\u{200b}",
                "\u{3000}",
                "\0",
                "\t",
                " ",
                "\"",
                "'",
                "#",
                ":",
                "@",
                "=",
                ",",
                "rend:",
                "Rend@box1:",
                "progress:",
                "cancel:",
                "priority:",
                "-s",
                "-e",
                "-r",
                "-cam",
                "1",
                "12",
                "a.mb",
                "x.blend",
                "blender",
                "after=2",
                "timeout=1h30m",
                "\u{e9}",
            ][..]
        )
        .prop_map(|s| s.as_bytes().to_vec()),
        Just(b"\xff".to_vec()),
        Just(b"\xe2\x80".to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Damage a phone does to a line without changing what it says.
#[derive(Debug, Clone)]
struct Damage {
    bom: bool,
    capital: bool,
    dash: Option<char>,
    smart_quotes: bool,
    space_after_colon: bool,
    double_spaces: bool,
    trailing: usize,
    cr: bool,
}

fn damage() -> impl Strategy<Value = Damage> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::select(
            &[
                '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2015}', '\u{2212}',
            ][..],
        )),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        any::<bool>(),
    )
        .prop_map(
            |(bom, capital, dash, smart_quotes, space_after_colon, double_spaces, trailing, cr)| {
                Damage {
                    bom,
                    capital,
                    dash,
                    smart_quotes,
                    space_after_colon,
                    double_spaces,
                    trailing,
                    cr,
                }
            },
        )
}

fn damaged(text: &str, d: &Damage) -> String {
    let mut out = String::new();
    if d.bom {
        out.push('\u{feff}');
    }
    let mut quote: Option<char> = None;
    let mut opened = false;
    let mut colon_seen = false;
    for (i, c) in text.chars().enumerate() {
        let inside = quote.is_some();
        match c {
            '"' | '\'' if quote.is_none() || quote == Some(c) => {
                quote = if inside { None } else { Some(c) };
                opened = !inside;
            }
            _ => {}
        }
        match c {
            _ if i == 0 && d.capital => out.push(c.to_ascii_uppercase()),
            '-' if d.dash.is_some() => out.extend(d.dash),
            '"' if d.smart_quotes && (quote.is_some() || !inside) => {
                out.push(if opened { '\u{201c}' } else { '\u{201d}' });
            }
            '\'' if d.smart_quotes && (quote.is_some() || !inside) => {
                out.push(if opened { '\u{2018}' } else { '\u{2019}' });
            }
            ' ' if d.double_spaces && !inside => out.push_str("  "),
            ':' if !colon_seen && d.space_after_colon => {
                colon_seen = true;
                out.push_str(": ");
            }
            _ => out.push(c),
        }
        colon_seen |= c == ':';
    }
    out.push_str(&" ".repeat(d.trailing));
    if d.cr {
        out.push('\r');
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn messy_bytes_never_panic_and_normal_forms_are_fixed_points(raw in messy_bytes()) {
        let parsed = parse_line(&raw);
        if let Ok(Normalized::Text(t)) = normalize_line(&raw) {
            prop_assert_eq!(normalize_line(t.as_bytes()), Ok(Normalized::Text(t.clone())));
        }
        if let Ok(Some((text, cmd))) = parsed {
            // Normalising a parsed line and parsing it again: the same command.
            prop_assert_eq!(parse_line(text.as_bytes()), Ok(Some((text.clone(), cmd.clone()))));
            // And its canonical line names the same command too.
            let canonical = cmd.to_line();
            prop_assert_eq!(parse_normalized(&canonical), Ok(cmd));
        }
    }

    #[test]
    fn normalising_a_parsed_line_then_parsing_it_again_gives_the_same_command(raw in line()) {
        if let Ok(Some((text, cmd))) = parse_line(raw.as_bytes()) {
            prop_assert_eq!(parse_line(text.as_bytes()), Ok(Some((text.clone(), cmd))));
        }
    }

    #[test]
    fn phone_damage_does_not_change_the_command(raw in line(), d in damage()) {
        if let Ok(Some((text, cmd))) = parse_line(raw.as_bytes()) {
            let phone = damaged(&text, &d);
            prop_assert_eq!(
                parse_line(phone.as_bytes()),
                Ok(Some((text.clone(), cmd))),
                "phone wrote {:?}",
                phone
            );
        }
    }
}
