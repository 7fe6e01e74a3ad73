//! The Go-template subset: an arbitrary template against a small fixed scope.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use runnerctl::render::gotmpl::{MAX_EXPANSION_BYTES, Scope, evaluate};
use serde_json::{Value, json};

const SECRET: &str = "FUZZSECRET";

fn values() -> &'static Value {
    static VALUES: OnceLock<Value> = OnceLock::new();
    VALUES.get_or_init(|| {
        json!({
            "runnerToken": format!("glrt-{SECRET}"),
            "gitlabUrl": "https://gitlab.example.com/",
            "concurrent": 10,
            "rbac": {"create": true, "rules": []},
            "runners": {"config": "[[runners]]\n", "tags": "a,b", "jobNamespace": null,
                        "privileged": false},
            "image": {"registry": "registry.gitlab.com", "tag": "{{ .Chart.AppVersion }}"},
            "big": "x".repeat(64 * 1024),
            "list": [1, "two", null, {"k": "v"}],
            "empty": "",
            "unicode": "ünï ✓ \u{0}",
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(template) = std::str::from_utf8(data) else {
        return;
    };
    let scope = Scope {
        release_name: "rel",
        release_namespace: "ns",
        values: values(),
    };
    match evaluate("runners.config", template, &scope) {
        Ok(out) => {
            assert!(out.text.len() <= MAX_EXPANSION_BYTES);
            // Every position of the output maps back into the template.
            let lines = template.lines().count().max(1) + 1;
            let step = (out.text.len() / 64).max(1);
            let mut offsets: Vec<usize> = out
                .text
                .char_indices()
                .map(|(i, _)| i)
                .filter(|i| i % step == 0)
                .collect();
            offsets.push(out.text.len());
            for offset in offsets {
                let (line, column) = out.source_position(offset);
                assert!(
                    line >= 1 && line <= lines && column >= 1,
                    "{offset} -> {line}:{column}"
                );
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("runners.config"), "{msg}");
            assert!(template.contains(SECRET) || !msg.contains(SECRET), "{msg}");
        }
    }
});
