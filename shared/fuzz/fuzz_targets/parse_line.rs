#![no_main]

use droprender_shared::command::{parse_line, parse_normalized};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    if let Ok(Some((text, cmd))) = parse_line(raw) {
        assert_eq!(parse_line(text.as_bytes()), Ok(Some((text.clone(), cmd.clone()))));
        assert_eq!(parse_normalized(&cmd.to_line()), Ok(cmd));
    }
});
