//! The detector on inputs no real file has: head and tail that disagree with
//! the size, and the sizes its messages show. Every format branch is tested
//! with the verdict (`resources/custom_image/preflight/verdict/tests.rs`).

use super::*;

#[test]
fn inconsistent_inputs_are_cut_to_the_size() {
    // Head and tail longer than the size claims: only `size` bytes count.
    let mut h = vec![0u8; 2048];
    h[..4].copy_from_slice(b"QFI\xfb");
    let d = detect(2, &h, &h);
    assert_eq!(d.label(), "raw");
    // A short head for a big file: nothing beyond it is trusted.
    assert_eq!(detect(u64::MAX, b"KDMV", &[]).label(), "vmdk-sparse");
    assert_eq!(detect(u64::MAX, &[], &[]).label(), "raw");
}

#[test]
fn human_sizes() {
    assert_eq!(human_size(1000), "1000 bytes");
    assert_eq!(human_size(1 << 20), "1 MiB (1048576 bytes)");
    assert_eq!(human_size(1536), "1.5 KiB (1536 bytes)");
    assert!(human_size(u64::MAX).contains("EiB"));
}
