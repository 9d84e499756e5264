//! What the simulator's ImportCustomImage makes of the bytes of an image
//! file, standing in for UHost's importer: the file must be a whole disk
//! image in the declared format (RAW, VHD, VMDK, qcow2), not compressed,
//! not empty, and self-contained. Written from the formats' published
//! layouts, independently of the provider's detector: a deliberately small
//! judge, so that the provider's check is tested against a second opinion.

/// Why the import fails, or `Ok` when UHost would import the file.
/// `head` and `tail` hold the first and last bytes (a few KiB) of a file of
/// `size` bytes; `format` is the import's Format parameter.
pub fn judge(format: &str, size: u64, head: &[u8], tail: &[u8]) -> Result<(), String> {
    if size == 0 {
        return Err("the file is empty".to_owned());
    }
    if let Some(wrapper) = wrapper(head) {
        return Err(format!("the file is {wrapper}, not a disk image"));
    }
    let found = kind(head, tail)?;
    if !found.eq_ignore_ascii_case(format) {
        return Err(format!("Format is {format} but the file is {found}"));
    }
    Ok(())
}

/// A compressed or archive format, by its magic bytes.
fn wrapper(head: &[u8]) -> Option<&'static str> {
    let magics: [(&[u8], usize, &str); 6] = [
        (&[0x1f, 0x8b], 0, "gzip-compressed"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0], 0, "xz-compressed"),
        (&[0x28, 0xb5, 0x2f, 0xfd], 0, "zstd-compressed"),
        (b"BZh", 0, "bzip2-compressed"),
        (b"PK\x03\x04", 0, "a zip archive"),
        (b"ustar", 257, "a tar archive"),
    ];
    magics
        .iter()
        .find(|(magic, at, _)| head.get(*at..at + magic.len()) == Some(magic))
        .map(|(_, _, name)| *name)
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

fn be64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// The import format the bytes are, or why no import format can hold them.
fn kind(head: &[u8], tail: &[u8]) -> Result<&'static str, String> {
    if head.starts_with(b"QFI\xfb") {
        let version = be32(head, 4);
        if version != 2 && version != 3 {
            return Err(format!("the file is a qcow version {version} image"));
        }
        if be64(head, 8) != 0 {
            return Err("the qcow2 image has a backing file".to_owned());
        }
        if be32(head, 32) != 0 {
            return Err("the qcow2 image is encrypted".to_owned());
        }
        return Ok("qcow2");
    }
    if head.starts_with(b"KDMV") || head.starts_with(b"COWD") {
        return Ok("VMDK");
    }
    if is_vmdk_descriptor(head) {
        return Err("the file is a VMDK descriptor without its data".to_owned());
    }
    let footer = tail.len().checked_sub(512).map(|at| &tail[at..]);
    let vhd = footer
        .filter(|f| f.starts_with(b"conectix"))
        .or(head.starts_with(b"conectix").then_some(head));
    if let Some(f) = vhd {
        if be32(f, 60) == 4 {
            return Err("the VHD image is a differencing disk".to_owned());
        }
        return Ok("VHD");
    }
    Ok("RAW")
}

/// A text VMDK descriptor: `#` comments, then a `version=` line.
fn is_vmdk_descriptor(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head.split(|b| *b == 0).next().unwrap_or_default());
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.replace(' ', "").starts_with("version="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(start: &[u8], len: usize) -> Vec<u8> {
        let mut v = start.to_vec();
        v.resize(len, 0);
        v
    }

    #[test]
    fn each_format_is_known_by_its_magic() {
        let qcow2 = padded(b"QFI\xfb\0\0\0\x03", 4096);
        assert_eq!(judge("qcow2", 196_616, &qcow2, &[0; 4096]), Ok(()));
        let err = judge("RAW", 196_616, &qcow2, &[0; 4096]).unwrap_err();
        assert!(err.contains("the file is qcow2"), "{err}");
        assert_eq!(judge("VMDK", 65536, &padded(b"KDMV", 4096), &[0; 4096]), Ok(()));
        let mut vhd = vec![0u8; 4096];
        vhd[4096 - 512..4096 - 504].copy_from_slice(b"conectix");
        vhd[4096 - 512 + 63] = 2;
        assert_eq!(judge("VHD", 1 << 20, &[0; 4096], &vhd), Ok(()));
        assert_eq!(judge("RAW", 1 << 20, &[0; 4096], &[0; 4096]), Ok(()));
    }

    #[test]
    fn what_no_import_can_read_fails() {
        let mut backing = padded(b"QFI\xfb\0\0\0\x03", 4096);
        backing[15] = 0x70;
        for (format, head, says) in [
            ("RAW", padded(&[0x1f, 0x8b, 8], 4096), "gzip"),
            ("qcow2", backing, "backing file"),
            (
                "VMDK",
                padded(b"# Disk DescriptorFile\nversion=1\n", 4096),
                "descriptor",
            ),
        ] {
            let err = judge(format, 4096, &head, &head).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        assert!(judge("RAW", 0, &[], &[]).unwrap_err().contains("empty"));
    }
}
