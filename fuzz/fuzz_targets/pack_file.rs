//! Any bytes as pack.yaml, with one valid scenario: a clear error naming the
//! file, or a pack; never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SCENARIO: &str = include_str!("../../scenarios/removit/auth-valid-key.yaml");

fuzz_target!(|data: &[u8]| {
    let files = vec![
        ("pack.yaml".to_string(), data.to_vec()),
        ("auth-valid-key.yaml".to_string(), SCENARIO.as_bytes().to_vec()),
    ];
    if let Err(e) = golive::pack::from_files("fuzz", files) {
        let msg = e.to_string();
        assert!(msg.starts_with("fuzz"), "does not name the file: {msg}");
    }
});
