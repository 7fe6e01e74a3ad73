//! A whole render: a values file from the input over a file with a valid gitlabUrl and token.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use runnerctl::render::OutputFormat;
use runnerctl::{Release, ValuesBuilder, render};

const TOKEN: &str = "glrt-FUZZSECRET";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Input that names the token (or any token key) may copy it anywhere on purpose.
    let lower = text.to_ascii_lowercase();
    let echoed = lower.contains("fuzzsecret") || lower.contains("token");
    let base = format!("gitlabUrl: https://gitlab.example.com/\nrunnerToken: {TOKEN}\n");
    let built = ValuesBuilder::new()
        .values_file("base.yaml", base)
        .values_file("fuzz.yaml", text.as_ref())
        .build();
    let (values, _) = match built {
        Ok(v) => v,
        Err(e) => {
            assert!(echoed || !e.to_string().contains("FUZZSECRET"), "{e}");
            return;
        }
    };
    let release = Release {
        name: "gitlab-runner".into(),
        namespace: "ci".into(),
        values,
        create_namespace: text.len() % 2 == 0,
        api_versions: vec!["monitoring.coreos.com/v1".into()],
    };
    match render(&release) {
        Ok(manifest) => {
            for o in &manifest.objects {
                serde_json::to_string(&o.value).expect("object serialises");
                // The YAML writer's output reads back as the same object.
                let yaml = runnerctl::render::to_yaml(&o.value);
                let back: serde_json::Value =
                    serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
                assert_eq!(back, o.value, "{yaml}");
            }
            if !echoed {
                let encoded = base64::engine::general_purpose::STANDARD.encode(TOKEN);
                for format in [OutputFormat::Yaml, OutputFormat::Json] {
                    let shown = manifest.to_text(format, false);
                    assert!(!shown.contains("FUZZSECRET") && !shown.contains(&encoded));
                }
            }
        }
        Err(e) => assert!(echoed || !e.to_string().contains("FUZZSECRET"), "{e}"),
    }
});
