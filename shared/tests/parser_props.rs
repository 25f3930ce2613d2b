//! Property tests on the commands.txt grammar.

use droprender_shared::command::{parse_line, parse_normalized};
use droprender_shared::normalize::{Normalized, normalize_str};
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
            Just("")
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
