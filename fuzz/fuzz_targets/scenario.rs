//! Any bytes as a scenario file next to removit's pack.yaml: a clear error
//! naming the file, or a pack; never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

const PACK: &str = include_str!("../../scenarios/removit/pack.yaml");

fuzz_target!(|data: &[u8]| {
    // Without `severities`, which names checks this one-file pack lacks.
    let pack = PACK.split("\nseverities:").next().unwrap_or(PACK);
    let files = vec![
        ("pack.yaml".to_string(), pack.as_bytes().to_vec()),
        ("x.yaml".to_string(), data.to_vec()),
    ];
    if let Err(e) = golive::pack::from_files("fuzz", files) {
        let msg = e.to_string();
        assert!(msg.starts_with("fuzz/x.yaml"), "does not name the file: {msg}");
    }
});
