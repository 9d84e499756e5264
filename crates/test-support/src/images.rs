//! Image files for tests: the checked-in format fixtures (heads and tails of
//! real `qemu-img` files) made whole again, and large local disk files built
//! on them, so upload tests get files of any size in a known format without
//! `qemu-img`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/formats")
}

/// A file of the checked-in format fixtures, whole again: its head and tail
/// where they were, zeros between (what `qemu-img` leaves there, too).
pub fn fixture(name: &str) -> Vec<u8> {
    let dir = fixtures_dir();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).expect("manifest")).expect("JSON");
    let case = manifest["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no fixture {name}"));
    let n = |k: &str| case[k].as_u64().expect("a size") as usize;
    let (size, head_len, tail_len) = (n("size"), n("head_len"), n("tail_len"));
    let bin = std::fs::read(dir.join(format!("{name}.bin"))).expect("fixture bytes");
    let mut file = vec![0u8; size];
    file[..head_len].copy_from_slice(&bin[..head_len]);
    file[size - tail_len..].copy_from_slice(&bin[head_len..head_len + tail_len]);
    file
}

/// Writes a qcow2 file of `size` bytes at `path`: the `qcow2-v3` fixture,
/// then bytes drawn from `seed` (so two seeds give two contents), written
/// in 1 MiB pieces: never the whole file in memory.
pub fn write_qcow2(path: &Path, size: u64, seed: u64) {
    let head = fixture("qcow2-v3");
    assert!(size >= head.len() as u64, "a qcow2 of at least {} bytes", head.len());
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create the image file"));
    out.write_all(&head).expect("write");
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut left = size - head.len() as u64;
    let mut chunk = vec![0u8; 1 << 20];
    while left > 0 {
        for word in chunk.chunks_mut(8) {
            // xorshift64: cheap, and different for every seed.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n]).expect("write");
        left -= n as u64;
    }
    out.flush().expect("flush");
}
