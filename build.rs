//! Build-time conversions, so that a run parses less: the embedded default values
//! (values/values.yaml) become JSON (read with a fast JSON parser instead of YAML), and GitLab
//! Runner's config keys (src/render/runner_keys.json) become sorted static tables (nothing to
//! parse at all), and the runner's scripts are listed for embedding.
use std::fmt::Write as _;

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
    runner_keys(&out);
    scripts(&out);
}

/// The runner's scripts (manifests/scripts/): `scripts.rs` holds `SCRIPTS` (key, text).
fn scripts(out: &std::path::Path) {
    const NAMES: &[&str] = &["entrypoint", "check-live"];
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("manifests/scripts");
    let mut texts = String::new();
    for name in NAMES {
        let path = dir.join(name);
        println!("cargo::rerun-if-changed={}", path.display());
        writeln!(
            texts,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("String");
    }
    let code = format!(
        "/// The runner's scripts, embedded and shipped in the ConfigMap: (key, text).\n\
         pub const SCRIPTS: &[(&str, &str)] = &[\n{texts}];\n"
    );
    std::fs::write(out.join("scripts.rs"), code).expect("OUT_DIR is writable");
}

/// `src/render/runner_keys.json` as Rust: the module string and the sections with their keys,
/// each list sorted by name so lookups can binary-search.
fn runner_keys(out: &std::path::Path) {
    println!("cargo::rerun-if-changed=src/render/runner_keys.json");
    let text = std::fs::read_to_string("src/render/runner_keys.json")
        .expect("src/render/runner_keys.json exists");
    let json: serde_json::Value = serde_json::from_str(&text).expect("runner_keys.json is JSON");
    let module = json["module"].as_str().expect("runner_keys.json: module");
    let sections = json["sections"]
        .as_object()
        .expect("runner_keys.json: sections");
    let mut names: Vec<&String> = sections.keys().collect();
    names.sort();
    let mut code = format!("const KNOWN_MODULE: &str = {module:?};\n");
    code.push_str("const KNOWN_SECTIONS: &[(&str, Section)] = &[\n");
    for name in names {
        let section = &sections[name.as_str()];
        let array = section["array"].as_bool().expect("array is a boolean");
        let keys = section["keys"].as_object().expect("keys is a map");
        let mut keys: Vec<(&String, &str)> = keys
            .iter()
            .map(|(k, v)| (k, v.as_str().expect("a key's kind is a string")))
            .collect();
        keys.sort();
        write!(code, "    ({name:?}, Section {{ array: {array}, keys: &[").expect("String");
        for (key, kind) in keys {
            write!(code, "({key:?}, {kind:?}), ").expect("String");
        }
        code.push_str("] }),\n");
    }
    code.push_str("];\n");
    std::fs::write(out.join("runner_keys.rs"), code).expect("OUT_DIR is writable");
}
