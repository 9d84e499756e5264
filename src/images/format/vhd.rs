//! VHD: the `conectix` footer at the end (fixed) or its copy at offset 0
//! (dynamic, differencing), as QEMU's `vpc.c` reads them.

use super::*;

/// The fields of a VHD footer (also the copy at offset 0).
struct VhdFooter {
    data_offset: u64,
    current_size: u64,
    disk_type: u32,
    checksum_ok: bool,
}

fn vhd_footer(f: &[u8]) -> Option<VhdFooter> {
    let footer = f.get(..512)?;
    let stored = be_u32(footer, 64)?;
    let sum = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .fold(0u32, |acc, (_, &x)| acc.wrapping_add(u32::from(x)));
    Some(VhdFooter {
        data_offset: be_u64(footer, 16)?,
        current_size: be_u64(footer, 48)?,
        disk_type: be_u32(footer, 60)?,
        checksum_ok: !sum == stored,
    })
}

fn vhd_type(disk_type: u32, parent: Option<String>) -> VhdType {
    match disk_type {
        2 => VhdType::Fixed,
        3 => VhdType::Dynamic,
        4 => VhdType::Differencing { parent },
        n => VhdType::Unknown(n),
    }
}

/// A fixed VHD: raw data then a footer. QEMU's probe sees it as raw; only the
/// tail finds it.
pub(super) fn vhd_fixed(b: &Bytes<'_>, footer: &[u8]) -> Detected {
    let Some(f) = vhd_footer(footer) else {
        return Detected::Raw(Raw {
            partition_table: partition_table(b.head),
        });
    };
    let mut needs = Vec::new();
    if f.disk_type == 2 {
        needs.push((f.current_size.saturating_add(SECTOR), "the fixed VHD's data and footer"));
    } else {
        // A dynamic or differencing footer at the end needs its header copy at 0.
        needs.push((
            MISSING,
            "the VHD header copy at offset 0 (the footer says the disk is not fixed)",
        ));
    }
    Detected::Vhd(Vhd {
        disk_type: vhd_type(f.disk_type, None),
        current_size: f.current_size,
        checksum_ok: f.checksum_ok,
        partition_table: (f.disk_type == 2).then(|| partition_table(b.head)),
        truncated: first_truncation(b.size, &needs),
    })
}

/// A VHD with the footer copy at offset 0 (dynamic or differencing).
pub(super) fn vhd_with_header(b: &Bytes<'_>) -> Detected {
    let h = b.head;
    let Some(f) = vhd_footer(h) else {
        return Detected::Vhd(Vhd {
            disk_type: VhdType::Unknown(0),
            current_size: 0,
            checksum_ok: false,
            partition_table: None,
            truncated: Some(Truncation {
                needed: Some(512),
                what: "the VHD footer copy at offset 0".to_owned(),
            }),
        });
    };
    let dyn_header = usize::try_from(f.data_offset).ok().and_then(|o| h.get(o..));
    let mut parent = None;
    let mut needs = Vec::new();
    // The footer at the end must be there too.
    if b.at_end(512, 8).is_none_or(|s| s != b"conectix") {
        needs.push((MISSING, "the VHD footer in the last 512 bytes"));
    }
    match dyn_header {
        Some(d) if d.starts_with(b"cxsparse") => {
            if let (Some(table), Some(entries)) = (be_u64(d, 16), be_u32(d, 28)) {
                needs.push((
                    table.saturating_add(u64::from(entries) * 4),
                    "the VHD block allocation table",
                ));
            }
            if f.disk_type == 4 {
                parent = utf16be_name(d.get(64..).unwrap_or_default());
            }
        }
        Some(_) => needs.push((MISSING, "the VHD dynamic header (\"cxsparse\")")),
        None => needs.push((
            f.data_offset.saturating_add(1024),
            "the VHD dynamic header (\"cxsparse\")",
        )),
    }
    Detected::Vhd(Vhd {
        disk_type: vhd_type(f.disk_type, parent),
        current_size: f.current_size,
        checksum_ok: f.checksum_ok,
        partition_table: None,
        truncated: first_truncation(b.size, &needs),
    })
}

/// The parent name of a differencing VHD: UTF-16BE, NUL-terminated.
fn utf16be_name(bytes: &[u8]) -> Option<String> {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .take(256)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    (!units.is_empty()).then(|| String::from_utf16_lossy(&units))
}
