//! What the values targets check of a build: values serialise, warnings stay bounded, and
//! the token put into the values never reaches a message unless the input itself holds it.
use runnerctl::values::{Error, MAX_REPORTED_UNKNOWN_KEYS, Values, Warning};

/// The secret part of the token the targets put into the values.
pub const SECRET: &str = "FUZZSECRET";

/// Check the outcome of `ValuesBuilder::build`; `echoed`: the fuzz input contains [`SECRET`].
pub fn check_build(result: Result<(Values, Vec<Warning>), Error>, echoed: bool) {
    match result {
        Ok((values, warnings)) => {
            serde_json::to_string(values.as_json()).expect("values serialise");
            // Unknown keys (bounded) and at most the four deprecations.
            assert!(warnings.len() <= MAX_REPORTED_UNKNOWN_KEYS + 1 + 4);
            for w in &warnings {
                assert!(echoed || !w.message.contains(SECRET), "{w}");
            }
        }
        Err(e) => assert!(echoed || !e.to_string().contains(SECRET), "{e}"),
    }
}
