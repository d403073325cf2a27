//! Any bytes as a scenario file of removit's pack: a clear error naming the
//! file, or a scenario; never a panic or a hang.
#![no_main]

use std::sync::OnceLock;

use golive::pack::{self, PackFile};
use libfuzzer_sys::fuzz_target;

/// The pack, loaded once (loading compiles its schemas).
fn removit() -> &'static PackFile {
    static PACK: OnceLock<PackFile> = OnceLock::new();
    PACK.get_or_init(|| pack::load_embedded("removit").expect("removit loads").file)
}

fuzz_target!(|data: &[u8]| {
    if let Err(e) = pack::scenario_file("fuzz/x.yaml", removit(), data) {
        let msg = e.to_string();
        assert!(msg.starts_with("fuzz/x.yaml"), "does not name the file: {msg}");
    }
});
