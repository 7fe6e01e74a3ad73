//! A values file of arbitrary text through the public builder, after a file holding a token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnerctl::values::{MAX_REPORTED_UNKNOWN_KEYS, ValuesBuilder};

const SECRET: &str = "FUZZSECRET";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let echoed = text.contains(SECRET);
    let result = ValuesBuilder::new()
        .values_file("secret.yaml", format!("runnerToken: glrt-{SECRET}\n"))
        .values_file("fuzz.yaml", text.as_ref())
        .build();
    match result {
        Ok((values, warnings)) => {
            serde_json::to_string(values.as_json()).expect("values serialise");
            assert!(warnings.len() <= MAX_REPORTED_UNKNOWN_KEYS + 1 + 4);
            for w in &warnings {
                assert!(echoed || !w.message.contains(SECRET), "{w}");
            }
        }
        Err(e) => assert!(echoed || !e.to_string().contains(SECRET), "{e}"),
    }
});
