//! What a disk image file is, from its size, its first [`HEAD_LEN`] bytes and
//! its last [`TAIL_LEN`] bytes: together they hold every header and footer
//! QEMU probes for qcow2, VMDK, VHD, plus the magics of the compressed and
//! archive formats people upload by mistake. [`detect`] is pure and total: any
//! input, however short, inconsistent or malicious, gives a [`Detected`].
//!
//! Offsets and field layouts follow QEMU's block drivers (`qcow2.h`,
//! `vmdk.c`, `vpc.c`). Multi-byte fields are big-endian except VMDK's.

mod vhd;
mod vmdk;

use std::fmt;
use vhd::{vhd_fixed, vhd_with_header};
use vmdk::{vmdk_descriptor, vmdk4};

use crate::ucloud::ImageFormat;
use crate::ucloud::ufile::Ends;

/// How many leading bytes [`detect`] looks at (a ranged GET `bytes=0-1023`).
pub const HEAD_LEN: usize = 1024;
/// How many trailing bytes [`detect`] looks at: a stream-optimized VMDK's
/// footer starts 1536 bytes before the end; a VHD footer is the last 512.
pub const TAIL_LEN: usize = 1536;
/// What to read of a UFile object for [`detect`].
pub const ENDS: Ends = Ends {
    head: HEAD_LEN,
    tail: TAIL_LEN,
};

pub(super) const SECTOR: u64 = 512;

/// What the bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detected {
    /// Zero bytes.
    Empty,
    /// None of the formats below: a raw disk, or not a disk image at all.
    Raw(Raw),
    Qcow2(Qcow2),
    Vmdk(Vmdk),
    Vhd(Vhd),
    /// Compressed or archived: the image is inside, not importable as is.
    Wrapped(Wrapper),
    /// A disk image format UCloud does not import.
    Other(OtherFormat),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raw {
    pub partition_table: PartitionTable,
}

/// The partition table in the first sectors of a raw disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionTable {
    /// Boot signature `55 AA` at 510 and no GPT.
    Mbr,
    /// `EFI PART` at 512 (a GPT header).
    GptHeader,
    /// A protective MBR entry of type `EE` without a visible GPT header.
    GptProtectiveMbr,
    /// No boot signature: a bare file system, or no disk at all.
    None,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qcow2 {
    /// 2 or 3 (other versions are [`OtherFormat::Qcow`]).
    pub version: u32,
    pub virtual_size: u64,
    pub backing_file: Option<BackingFile>,
    pub encryption: Qcow2Encryption,
    /// Incompatible feature bit 2: the guest data lives in another file.
    pub external_data_file: bool,
    /// Incompatible feature bit 1: QEMU found the image corrupt.
    pub marked_corrupt: bool,
    pub truncated: Option<Truncation>,
}

/// A qcow2 backing file: the image holds only the differences from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackingFile {
    /// The backing file name, when it lies within the bytes read.
    pub name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qcow2Encryption {
    None,
    /// crypt_method 1, QEMU's legacy AES-CBC.
    Aes,
    /// crypt_method 2.
    Luks,
    Unknown(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmdk {
    pub variant: VmdkVariant,
    /// Virtual disk size in bytes, when the header says.
    pub capacity: Option<u64>,
    /// The descriptor's `createType`, when it lies within the bytes read.
    pub create_type: Option<String>,
    pub truncated: Option<Truncation>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmdkVariant {
    /// `KDMV` header with its grain directory (monolithicSparse and friends).
    Sparse,
    /// `KDMV` with compressed grains (compressAlgorithm 1). `footer` is set
    /// when the header defers to the footer 1536 bytes before the end (the
    /// grain directory at the end, as VMware writes OVA disks).
    StreamOptimized { footer: bool },
    /// VMware 3 `COWD` sparse extent.
    Cowd,
    /// A text descriptor: the data is in the extent files it lists.
    Descriptor { extents: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vhd {
    pub disk_type: VhdType,
    /// Virtual disk size from the footer.
    pub current_size: u64,
    /// The footer checksum is right (QEMU only warns when it is not).
    pub checksum_ok: bool,
    /// A fixed VHD's data is a raw disk: its partition table is visible.
    pub partition_table: Option<PartitionTable>,
    pub truncated: Option<Truncation>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VhdType {
    /// Disk type 2: raw data followed by the footer.
    Fixed,
    /// Disk type 3: footer copy at 0, `cxsparse` header, block table.
    Dynamic,
    /// Disk type 4: only differences from a parent VHD.
    Differencing {
        parent: Option<String>,
    },
    Unknown(u32),
}

/// The file is shorter than its own header says it must be: most likely an
/// incomplete upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The size the structures require; `None` when a structure that must
    /// be at the end of the file is not there.
    pub needed: Option<u64>,
    /// Which structure, for the message.
    pub what: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrapper {
    Gzip,
    Xz,
    Zstd,
    Bzip2,
    Zip,
    Tar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherFormat {
    /// `QFI\xfb` with a version other than 2 or 3 (1 is the old qcow).
    Qcow {
        version: u32,
    },
    Vdi,
    Vhdx,
}

impl Wrapper {
    pub fn name(self) -> &'static str {
        match self {
            Wrapper::Gzip => "gzip",
            Wrapper::Xz => "xz",
            Wrapper::Zstd => "zstd",
            Wrapper::Bzip2 => "bzip2",
            Wrapper::Zip => "zip",
            Wrapper::Tar => "tar",
        }
    }

    /// `gzip-compressed data`, `a tar archive`: what the file is, in words.
    pub fn describe(self) -> String {
        match self {
            Wrapper::Zip => "a zip archive".to_owned(),
            Wrapper::Tar => "a tar archive".to_owned(),
            other => format!("{}-compressed data", other.name()),
        }
    }

    /// The magic that gave it away, for the evidence.
    pub fn evidence(self) -> &'static str {
        match self {
            Wrapper::Gzip => "bytes 0-2 are 1F 8B 08",
            Wrapper::Xz => "bytes 0-5 are FD 37 7A 58 5A 00",
            Wrapper::Zstd => "bytes 0-3 are 28 B5 2F FD",
            Wrapper::Bzip2 => "bytes 0-2 are \"BZh\"",
            Wrapper::Zip => "bytes 0-3 are \"PK\\x03\\x04\"",
            Wrapper::Tar => "\"ustar\" at offset 257",
        }
    }

    /// How to get the image out, for the message.
    pub fn unpack_hint(self) -> &'static str {
        match self {
            Wrapper::Gzip => "gunzip it",
            Wrapper::Xz => "unxz it",
            Wrapper::Zstd => "unzstd it",
            Wrapper::Bzip2 => "bunzip2 it",
            Wrapper::Zip => "unzip it",
            Wrapper::Tar => "extract the image from the tar archive",
        }
    }
}

impl fmt::Display for OtherFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtherFormat::Qcow { version: 1 } => f.write_str("qcow (version 1, the predecessor of qcow2)"),
            OtherFormat::Qcow { version } => write!(f, "qcow2 with unknown version {version}"),
            OtherFormat::Vdi => f.write_str("VDI (VirtualBox)"),
            OtherFormat::Vhdx => f.write_str("VHDX (Hyper-V)"),
        }
    }
}

impl Detected {
    /// The UCloud import format these bytes are, if any.
    pub fn format(&self) -> Option<ImageFormat> {
        use ImageFormat as F;
        match self {
            Detected::Raw(_) => Some(F::Raw),
            Detected::Qcow2(_) => Some(F::Qcow2),
            Detected::Vmdk(_) => Some(F::Vmdk),
            Detected::Vhd(_) => Some(F::Vhd),
            Detected::Empty | Detected::Wrapped(_) | Detected::Other(_) => None,
        }
    }

    /// The structural truncation found, if any.
    pub fn truncation(&self) -> Option<&Truncation> {
        match self {
            Detected::Qcow2(q) => q.truncated.as_ref(),
            Detected::Vmdk(v) => v.truncated.as_ref(),
            Detected::Vhd(v) => v.truncated.as_ref(),
            _ => None,
        }
    }

    /// A short stable name for tests and logs: `qcow2`, `vmdk-stream`, ...
    pub fn label(&self) -> &'static str {
        match self {
            Detected::Empty => "empty",
            Detected::Raw(r) => match r.partition_table {
                PartitionTable::Mbr => "raw-mbr",
                PartitionTable::GptHeader | PartitionTable::GptProtectiveMbr => "raw-gpt",
                PartitionTable::None => "raw",
            },
            Detected::Qcow2(_) => "qcow2",
            Detected::Vmdk(v) => match v.variant {
                VmdkVariant::Sparse => "vmdk-sparse",
                VmdkVariant::StreamOptimized { .. } => "vmdk-stream",
                VmdkVariant::Cowd => "vmdk-cowd",
                VmdkVariant::Descriptor { .. } => "vmdk-descriptor",
            },
            Detected::Vhd(v) => match v.disk_type {
                VhdType::Fixed => "vhd-fixed",
                VhdType::Dynamic => "vhd-dynamic",
                VhdType::Differencing { .. } => "vhd-differencing",
                VhdType::Unknown(_) => "vhd-unknown",
            },
            Detected::Wrapped(w) => w.name(),
            Detected::Other(OtherFormat::Qcow { .. }) => "qcow-other",
            Detected::Other(OtherFormat::Vdi) => "vdi",
            Detected::Other(OtherFormat::Vhdx) => "vhdx",
        }
    }
}

impl fmt::Display for Detected {
    /// What the file is, with the bytes that say so.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detected::Empty => f.write_str("an empty file"),
            Detected::Raw(r) => match r.partition_table {
                PartitionTable::Mbr => f.write_str("a raw disk image (MBR boot signature 55 AA at offset 510)"),
                PartitionTable::GptHeader => {
                    f.write_str("a raw disk image with a GPT partition table (\"EFI PART\" at offset 512)")
                }
                PartitionTable::GptProtectiveMbr => {
                    f.write_str("a raw disk image with a GPT partition table (protective MBR entry of type EE)")
                }
                PartitionTable::None => {
                    f.write_str("raw data with no partition table (no 55 AA boot signature at offset 510)")
                }
            },
            Detected::Qcow2(q) => write!(
                f,
                "a qcow2 image (\"QFI\\xfb\" at offset 0, version {}, virtual size {})",
                q.version,
                human_size(q.virtual_size)
            ),
            Detected::Vmdk(v) => {
                let what = match &v.variant {
                    VmdkVariant::Sparse => "a sparse VMDK image (\"KDMV\" at offset 0)",
                    VmdkVariant::StreamOptimized { footer: false } => {
                        "a stream-optimized VMDK image (\"KDMV\" at offset 0, compressed grains)"
                    }
                    VmdkVariant::StreamOptimized { footer: true } => {
                        "a stream-optimized VMDK image (\"KDMV\" at offset 0, header in the footer)"
                    }
                    VmdkVariant::Cowd => "a VMware 3 sparse VMDK image (\"COWD\" at offset 0)",
                    VmdkVariant::Descriptor { .. } => "a VMDK text descriptor (\"version=\" line)",
                };
                f.write_str(what)?;
                if let Some(c) = v.capacity {
                    write!(f, ", virtual size {}", human_size(c))?;
                }
                Ok(())
            }
            Detected::Vhd(v) => {
                let what = match v.disk_type {
                    VhdType::Fixed => "a fixed VHD image (\"conectix\" footer in the last 512 bytes)",
                    VhdType::Dynamic => "a dynamic VHD image (\"conectix\" at offset 0 and a \"cxsparse\" header)",
                    VhdType::Differencing { .. } => "a differencing VHD image (\"conectix\" at offset 0, disk type 4)",
                    VhdType::Unknown(_) => "a VHD image of unknown disk type (\"conectix\")",
                };
                write!(f, "{what}, virtual size {}", human_size(v.current_size))
            }
            Detected::Wrapped(w) => write!(f, "{} ({})", w.describe(), w.evidence()),
            Detected::Other(o) => match o {
                OtherFormat::Qcow { .. } => write!(f, "a {o} image (\"QFI\\xfb\" at offset 0)"),
                OtherFormat::Vdi => write!(f, "a {o} image (7F 10 DA BE at offset 64)"),
                OtherFormat::Vhdx => write!(f, "a {o} image (\"vhdxfile\" at offset 0)"),
            },
        }
    }
}

/// `1 MiB (1048576 bytes)`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut unit = "bytes";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    let shown = if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    format!("{shown} {unit} ({n} bytes)")
}

/// The file's first and last bytes, made consistent with its size: a head or
/// tail longer than the file is cut, so that every later offset check can
/// trust `size`.
pub(super) struct Bytes<'a> {
    size: u64,
    head: &'a [u8],
    tail: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn new(size: u64, head: &'a [u8], tail: &'a [u8]) -> Self {
        let cap = usize::try_from(size).unwrap_or(usize::MAX);
        let head = &head[..head.len().min(cap)];
        let tail = &tail[tail.len() - tail.len().min(cap)..];
        Bytes { size, head, tail }
    }

    /// The `n` bytes ending `back` bytes before the end of the file, when the
    /// tail holds them.
    fn at_end(&self, back: usize, n: usize) -> Option<&'a [u8]> {
        let start = self.tail.len().checked_sub(back)?;
        self.tail.get(start..start.checked_add(n)?)
    }
}

/// What the bytes are. `head` should be the file's first [`HEAD_LEN`] bytes
/// (or all of it), `tail` its last [`TAIL_LEN`] (or all of it).
pub fn detect(size: u64, head: &[u8], tail: &[u8]) -> Detected {
    if size == 0 {
        return Detected::Empty;
    }
    let b = Bytes::new(size, head, tail);
    let h = b.head;
    if h.starts_with(b"QFI\xfb") {
        return qcow(&b);
    }
    if h.starts_with(b"KDMV") {
        return vmdk4(&b);
    }
    if h.starts_with(b"COWD") {
        return Detected::Vmdk(Vmdk {
            variant: VmdkVariant::Cowd,
            capacity: le_u32(h, 12).map(|s| u64::from(s) * SECTOR),
            create_type: None,
            truncated: None,
        });
    }
    if h.starts_with(b"conectix") {
        return vhd_with_header(&b);
    }
    if h.starts_with(b"vhdxfile") {
        return Detected::Other(OtherFormat::Vhdx);
    }
    if let Some(w) = wrapper(h) {
        return Detected::Wrapped(w);
    }
    if h.get(64..68) == Some(&[0x7f, 0x10, 0xda, 0xbe][..]) {
        return Detected::Other(OtherFormat::Vdi);
    }
    if let Some(d) = vmdk_descriptor(h) {
        return d;
    }
    if let Some(footer) = b.at_end(512, 512)
        && footer.starts_with(b"conectix")
    {
        return vhd_fixed(&b, footer);
    }
    Detected::Raw(Raw {
        partition_table: partition_table(h),
    })
}

fn wrapper(h: &[u8]) -> Option<Wrapper> {
    if h.starts_with(&[0x1f, 0x8b, 0x08]) {
        Some(Wrapper::Gzip)
    } else if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Wrapper::Xz)
    } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Wrapper::Zstd)
    } else if h.starts_with(b"BZh") && h.get(3).is_some_and(|c| (b'1'..=b'9').contains(c)) {
        Some(Wrapper::Bzip2)
    } else if h.starts_with(b"PK\x03\x04") || h.starts_with(b"PK\x05\x06") || h.starts_with(b"PK\x07\x08") {
        Some(Wrapper::Zip)
    } else if h.get(257..262) == Some(&b"ustar"[..]) {
        Some(Wrapper::Tar)
    } else {
        None
    }
}

fn partition_table(h: &[u8]) -> PartitionTable {
    if h.get(512..520) == Some(&b"EFI PART"[..]) {
        return PartitionTable::GptHeader;
    }
    if h.get(510..512) != Some(&[0x55, 0xaa][..]) {
        return PartitionTable::None;
    }
    let protective = (0..4).any(|i| h.get(446 + 16 * i + 4) == Some(&0xee));
    if protective {
        PartitionTable::GptProtectiveMbr
    } else {
        PartitionTable::Mbr
    }
}

fn qcow(b: &Bytes<'_>) -> Detected {
    let h = b.head;
    let Some(version) = be_u32(h, 4) else {
        return Detected::Qcow2(Qcow2 {
            version: 0,
            virtual_size: 0,
            backing_file: None,
            encryption: Qcow2Encryption::None,
            external_data_file: false,
            marked_corrupt: false,
            truncated: Some(Truncation {
                needed: Some(72),
                what: "the qcow2 header".to_owned(),
            }),
        });
    };
    if version != 2 && version != 3 {
        return Detected::Other(OtherFormat::Qcow { version });
    }
    let header_len: u64 = if version == 2 {
        72
    } else {
        be_u32(h, 100).map_or(104, |l| u64::from(l).max(104))
    };
    let backing_offset = be_u64(h, 8).unwrap_or(0);
    let backing_size = be_u32(h, 16).unwrap_or(0);
    let backing_file = (backing_offset != 0).then(|| BackingFile {
        name: slice_at(h, backing_offset, u64::from(backing_size).min(1023))
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned()),
    });
    let encryption = match be_u32(h, 32).unwrap_or(0) {
        0 => Qcow2Encryption::None,
        1 => Qcow2Encryption::Aes,
        2 => Qcow2Encryption::Luks,
        n => Qcow2Encryption::Unknown(n),
    };
    let incompatible = if version == 3 { be_u64(h, 72).unwrap_or(0) } else { 0 };

    // The L1 and refcount tables must lie inside the file.
    let cluster_bits = be_u32(h, 20).unwrap_or(16);
    let cluster_size = if (9..=21).contains(&cluster_bits) {
        1u64 << cluster_bits
    } else {
        65536
    };
    let mut needs = vec![(header_len, "the qcow2 header")];
    if let (Some(l1_size), Some(l1_offset)) = (be_u32(h, 36), be_u64(h, 40))
        && l1_size > 0
    {
        needs.push((l1_offset.saturating_add(u64::from(l1_size) * 8), "the qcow2 L1 table"));
    }
    if let (Some(rt_offset), Some(rt_clusters)) = (be_u64(h, 48), be_u32(h, 56)) {
        needs.push((
            rt_offset.saturating_add(u64::from(rt_clusters).saturating_mul(cluster_size)),
            "the qcow2 refcount table",
        ));
    }
    Detected::Qcow2(Qcow2 {
        version,
        virtual_size: be_u64(h, 24).unwrap_or(0),
        backing_file,
        encryption,
        external_data_file: incompatible & (1 << 2) != 0,
        marked_corrupt: incompatible & (1 << 1) != 0,
        truncated: first_truncation(b.size, &needs),
    })
}

/// `KDMV` (VMDK 4) header fields, little-endian.
/// The first requirement `size` does not meet. Each is (bytes needed, what).
pub(super) fn first_truncation(size: u64, needs: &[(u64, &str)]) -> Option<Truncation> {
    needs
        .iter()
        .find(|(needed, _)| *needed > size)
        .map(|(needed, what)| Truncation {
            needed: (*needed != MISSING).then_some(*needed),
            what: (*what).to_owned(),
        })
}

/// A requirement no file meets: the structure is not where it must be.
/// `MISSING` as a requirement: the structure is absent whatever the size.
pub(super) const MISSING: u64 = u64::MAX;

pub(super) fn slice_at(h: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    h.get(start..end)
}

pub(super) fn field<const N: usize>(h: &[u8], at: usize) -> Option<[u8; N]> {
    h.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(super) fn be_u32(h: &[u8], at: usize) -> Option<u32> {
    field(h, at).map(u32::from_be_bytes)
}

pub(super) fn be_u64(h: &[u8], at: usize) -> Option<u64> {
    field(h, at).map(u64::from_be_bytes)
}

pub(super) fn le_u16(h: &[u8], at: usize) -> Option<u16> {
    field(h, at).map(u16::from_le_bytes)
}

pub(super) fn le_u32(h: &[u8], at: usize) -> Option<u32> {
    field(h, at).map(u32::from_le_bytes)
}

pub(super) fn le_u64(h: &[u8], at: usize) -> Option<u64> {
    field(h, at).map(u64::from_le_bytes)
}

#[cfg(test)]
mod tests;
