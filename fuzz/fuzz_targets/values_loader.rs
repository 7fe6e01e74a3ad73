//! A values file of arbitrary text through the public builder, after a file holding a token.
#![no_main]

use libfuzzer_sys::fuzz_target;
#[path = "shared/mod.rs"]
mod shared;

use runnerctl::values::ValuesBuilder;
use shared::{SECRET, check_build};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let echoed = text.contains(SECRET);
    let result = ValuesBuilder::new()
        .values_file("secret.yaml", format!("runnerToken: glrt-{SECRET}\n"))
        .values_file("fuzz.yaml", text.as_ref())
        .build();
    check_build(result, echoed);
});
