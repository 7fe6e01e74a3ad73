//! Converts the embedded default values (values/values.yaml) to JSON at build time, so the
//! binary reads its defaults with a fast JSON parser instead of parsing YAML on every run.
fn main() {
    println!("cargo::rerun-if-changed=values/values.yaml");
    let text = std::fs::read_to_string("values/values.yaml").expect("values/values.yaml exists");
    let value: serde_json::Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("values/values.yaml is not valid YAML: {e}"));
    assert!(value.is_object(), "values/values.yaml must be a map");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out.join("default-values.json"),
        serde_json::to_string(&value).expect("JSON"),
    )
    .expect("OUT_DIR is writable");
}
