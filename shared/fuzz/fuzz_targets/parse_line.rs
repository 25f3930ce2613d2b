//! Any bytes as one line of commands.txt: the parser never panics, a
//! normalised line is a fixed point, and normalising a parsed line then
//! parsing it again (or parsing its canonical form) gives the same command.

#![no_main]

use droprender_shared::command::{parse_line, parse_normalized};
use droprender_shared::normalize::{Normalized, normalize_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    if let Ok(Normalized::Text(t)) = normalize_line(raw) {
        assert_eq!(
            normalize_line(t.as_bytes()),
            Ok(Normalized::Text(t.clone()))
        );
    }
    if let Ok(Some((text, cmd))) = parse_line(raw) {
        assert_eq!(
            parse_line(text.as_bytes()),
            Ok(Some((text.clone(), cmd.clone())))
        );
        assert_eq!(parse_normalized(&cmd.to_line()), Ok(cmd));
    }
});
