//! VMDK: the sparse (`KDMV`) header, the stream-optimized footer and the
//! text descriptor, as QEMU's `vmdk.c` reads them.

use super::*;

struct Vmdk4Header {
    flags: u32,
    capacity: u64,
    desc_offset: u64,
    desc_size: u64,
    gd_offset: u64,
    grain_offset: u64,
    compress: u16,
}

const GD_AT_END: u64 = u64::MAX;
const MARKER_FOOTER: u32 = 3;

fn vmdk4_header(h: &[u8]) -> Option<Vmdk4Header> {
    Some(Vmdk4Header {
        flags: le_u32(h, 8)?,
        capacity: le_u64(h, 12)?,
        desc_offset: le_u64(h, 28)?,
        desc_size: le_u64(h, 36)?,
        gd_offset: le_u64(h, 56)?,
        grain_offset: le_u64(h, 64)?,
        compress: le_u16(h, 77)?,
    })
}

pub(super) fn vmdk4(b: &Bytes<'_>) -> Detected {
    let Some(hdr) = vmdk4_header(b.head) else {
        return Detected::Vmdk(Vmdk {
            variant: VmdkVariant::Sparse,
            capacity: None,
            create_type: None,
            truncated: Some(Truncation {
                needed: Some(79),
                what: "the VMDK header".to_owned(),
            }),
        });
    };
    // The embedded descriptor, as far as the head holds it.
    let create_type = usize::try_from(hdr.desc_offset.saturating_mul(SECTOR))
        .ok()
        .filter(|&start| start > 0)
        .and_then(|start| {
            let len = usize::try_from(hdr.desc_size.saturating_mul(SECTOR)).unwrap_or(usize::MAX);
            b.head.get(start..start.saturating_add(len).min(b.head.len()))
        })
        .and_then(|d| create_type_of(&String::from_utf8_lossy(d)));
    // Flag bit 16: compressed grains; compressAlgorithm 1 (deflate).
    let stream = hdr.compress == 1 || hdr.flags & (1 << 16) != 0;
    let mut needs = Vec::new();
    let mut capacity = hdr.capacity;
    let variant = if hdr.gd_offset == GD_AT_END {
        match vmdk_footer(b) {
            Some(footer) => {
                capacity = footer.capacity;
                needs.push((
                    footer.gd_offset.saturating_mul(SECTOR).saturating_add(SECTOR),
                    "the VMDK grain directory named by the footer",
                ));
            }
            None => needs.push((
                MISSING,
                "the VMDK footer (the header says the grain directory is at the end, but the last 1536 bytes hold no footer)",
            )),
        }
        VmdkVariant::StreamOptimized { footer: true }
    } else {
        if hdr.gd_offset > 0 {
            needs.push((
                hdr.gd_offset.saturating_mul(SECTOR).saturating_add(SECTOR),
                "the VMDK grain directory",
            ));
        }
        if !stream {
            needs.push((
                hdr.grain_offset.saturating_mul(SECTOR),
                "the VMDK metadata before the first grain",
            ));
        }
        if stream {
            VmdkVariant::StreamOptimized { footer: false }
        } else {
            VmdkVariant::Sparse
        }
    };
    Detected::Vmdk(Vmdk {
        variant,
        capacity: Some(capacity.saturating_mul(SECTOR)),
        create_type,
        truncated: first_truncation(b.size, &needs),
    })
}

/// The header in a stream-optimized VMDK's footer: a footer marker sector,
/// the header sector, an end-of-stream marker sector (QEMU's `vmdk_open_vmdk4`).
fn vmdk_footer(b: &Bytes<'_>) -> Option<Vmdk4Header> {
    let marker = b.at_end(1536, 512)?;
    let header = b.at_end(1024, 512)?;
    let eos = b.at_end(512, 512)?;
    let marker_ok = le_u32(marker, 8) == Some(0) && le_u32(marker, 12) == Some(MARKER_FOOTER);
    let eos_ok = eos.get(..16).is_some_and(|s| s.iter().all(|&x| x == 0));
    if !(marker_ok && eos_ok && header.starts_with(b"KDMV")) {
        return None;
    }
    vmdk4_header(header).filter(|h| h.gd_offset != GD_AT_END)
}

/// A VMDK text descriptor, as QEMU's probe recognises one: after comment and
/// blank lines, a `version=1`, `2` or `3` line.
pub(super) fn vmdk_descriptor(h: &[u8]) -> Option<Detected> {
    let text = String::from_utf8_lossy(h);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let version = first.strip_prefix("version=")?;
    if !matches!(version, "1" | "2" | "3") {
        return None;
    }
    let mut extents = Vec::new();
    let mut capacity: Option<u64> = None;
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        let (Some(access), Some(sectors), Some(kind)) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        if !matches!(access, "RW" | "RDONLY" | "NOACCESS") {
            continue;
        }
        let Ok(sectors) = sectors.parse::<u64>() else {
            continue;
        };
        capacity = Some(capacity.unwrap_or(0).saturating_add(sectors.saturating_mul(SECTOR)));
        if kind == "ZERO" {
            continue;
        }
        if let Some(name) = quoted(line) {
            extents.push(name.to_owned());
        }
    }
    Some(Detected::Vmdk(Vmdk {
        variant: VmdkVariant::Descriptor { extents },
        capacity,
        create_type: create_type_of(&text),
        truncated: None,
    }))
}

fn create_type_of(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("createType"))
        .and_then(|rest| rest.trim_start().strip_prefix('='))
        .and_then(quoted)
        .map(str::to_owned)
}

fn quoted(s: &str) -> Option<&str> {
    let start = s.find('"')? + 1;
    let len = s[start..].find('"')?;
    Some(&s[start..start + len])
}
