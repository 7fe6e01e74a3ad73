//! Build-time conversions, so that a run parses less: the embedded default values
//! (values/values.yaml) become JSON (read with a fast JSON parser instead of YAML), and GitLab
//! Runner's config keys (src/render/runner_keys.json) become sorted static tables (nothing to
//! parse at all), and the runner's scripts are listed for embedding.
use std::fmt::Write as _;

fn main() {
    // The command starts fastest as a position-dependent executable: no relocations for the
    // dynamic loader to apply, fewer pages touched at start. Linux with GNU ld or lld only.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo::rustc-link-arg-bins=-no-pie");
        // The command links GCC's static unwinder when the C toolchain has it (see main.rs).
        if static_unwinder_available() {
            println!("cargo::rustc-cfg=static_unwinder");
        }
        hot_symbols_first();
    }
    println!("cargo::rustc-check-cfg=cfg(static_unwinder)");
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

/// Whether the linker's C compiler finds GCC's static unwinder, `libgcc_eh.a` (every GCC
/// installation has it; a toolchain without GCC's libraries may not). `-print-file-name`
/// prints the archive's full path when it finds it, else the bare name.
fn static_unwinder_available() -> bool {
    println!("cargo::rerun-if-env-changed=CC");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    std::process::Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .is_some_and(|path| path.is_absolute() && path.is_file())
}

/// The functions a run uses (link/hot-symbols.txt, written by `cargo xtask hot-symbols`) are
/// placed next to each other in the binary, so that a render touches a few contiguous pages of
/// code rather than pages spread over all of it: fewer page faults, fewer pages mapped. Only
/// lld reads such a list; names the binary does not have are skipped without a word.
fn hot_symbols_first() {
    println!("cargo::rerun-if-changed=link/hot-symbols.txt");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it");
    let file = std::path::Path::new(&dir).join("link/hot-symbols.txt");
    let path = file.to_string_lossy();
    if links_with_lld() && file.is_file() && !path.contains(',') {
        println!("cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={path}");
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the binary is linked by lld: the default for x86_64-unknown-linux-gnu since Rust
/// 1.90 (rustc's own rust-lld), unless a linker is configured or rustc is told otherwise.
fn links_with_lld() -> bool {
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || std::env::var_os("RUSTC_LINKER").is_some()
        || ["linker", "link-self-contained", "fuse-ld"]
            .iter()
            .any(|f| flags.contains(f))
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(release) = text.lines().find_map(|l| l.strip_prefix("release: ")) else {
        return false;
    };
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
