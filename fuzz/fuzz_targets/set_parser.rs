//! The `--set` family through the public builder: each input line is one flag, chosen by its
//! first character (`s` --set, `t` --set-string, `j` --set-json, `f` --set-file key=content,
//! anything else --set with the whole line).
#![no_main]

use libfuzzer_sys::fuzz_target;
#[path = "shared/mod.rs"]
mod shared;

use runnerctl::values::ValuesBuilder;
use shared::{SECRET, check_build};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut b = ValuesBuilder::new().set_string(format!("runnerToken=glrt-{SECRET}"));
    for line in text.split('\n') {
        let mut chars = line.chars();
        b = match chars.next() {
            Some('s') => b.set(chars.as_str()),
            Some('t') => b.set_string(chars.as_str()),
            Some('j') => b.set_json(chars.as_str()),
            Some('f') => {
                let rest = chars.as_str();
                let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
                b.set_file(k, v)
            }
            _ => b.set(line),
        };
    }
    let echoed = text.contains(SECRET);
    check_build(b.build(), echoed);
});
