//! The judgement on a file before it is imported: [`check`] compares what the
//! bytes are ([`detect`]) with the `format` the user declared and lists what
//! would make the import fail (errors) or is worth knowing (warnings), each
//! with a message that quotes its evidence, and the argument it lands on
//! (`ufile_url` or `format`). Pure, like the detector: the preflight turns
//! findings into diagnostics at those attributes.

use std::fmt;

use crate::images::format::{Detected, PartitionTable, Qcow2Encryption, VhdType, VmdkVariant, detect, human_size};
use crate::ucloud::ImageFormat;

/// The outcome of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub size: u64,
    pub detected: Detected,
    /// Errors first, then warnings.
    pub findings: Vec<Finding>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The import would fail or produce a broken image: do not start it.
    Error,
    /// Worth telling, but the import goes on.
    Warning,
}

/// The resource argument a finding belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribute {
    UfileUrl,
    Format,
}

/// What a finding is about, for code that reacts to particular ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FindingKind {
    Empty,
    /// gzip, xz, zstd, bzip2, zip or tar.
    Compressed,
    /// A disk format UCloud does not import (VDI, VHDX, old qcow).
    UnsupportedFormat,
    /// The bytes are another import format than `format` says.
    FormatMismatch,
    Qcow2BackingFile,
    Qcow2Encrypted,
    Qcow2ExternalData,
    Qcow2MarkedCorrupt,
    VmdkDescriptorOnly,
    VhdDifferencing,
    VhdBadChecksum,
    Truncated,
    /// UCloud's import guide: MBR only.
    GptPartitionTable,
    NoPartitionTable,
    /// A raw disk is a whole number of sectors.
    SizeNotSectorMultiple,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub attribute: Attribute,
    pub kind: FindingKind,
    /// One line, for a diagnostic summary.
    pub summary: String,
    /// The evidence and what to do.
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.summary, self.detail)
    }
}

impl Verdict {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Warning)
    }

    /// No errors: the import may start.
    pub fn is_importable(&self) -> bool {
        self.errors().next().is_none()
    }

    pub fn kinds(&self) -> Vec<FindingKind> {
        self.findings.iter().map(|f| f.kind).collect()
    }

    pub fn has(&self, kind: FindingKind) -> bool {
        self.findings.iter().any(|f| f.kind == kind)
    }
}

/// Judges a file declared as `declared` from its size and first/last bytes
/// (see [`detect`] for what `head` and `tail` should hold).
pub fn check(declared: ImageFormat, size: u64, head: &[u8], tail: &[u8]) -> Verdict {
    let detected = detect(size, head, tail);
    let mut out = Findings::default();

    match &detected {
        Detected::Empty => out.error(
            Attribute::UfileUrl,
            FindingKind::Empty,
            "the image file is empty",
            "the object has 0 bytes; upload the disk image again and check that the upload finished".to_owned(),
        ),
        Detected::Wrapped(w) => out.error(
            Attribute::UfileUrl,
            FindingKind::Compressed,
            format!("the image file is {}, not a disk image", w.describe()),
            format!(
                "found {detected}, {}; UCloud imports disk images as they are: decompress it first ({}) and upload the {declared} file",
                human_size(size),
                w.unpack_hint(),
            ),
        ),
        Detected::Other(o) => out.error(
            Attribute::Format,
            FindingKind::UnsupportedFormat,
            format!("the image file is {o}, which UCloud cannot import"),
            format!(
                "found {detected}; UCloud imports RAW, VHD, VMDK and qcow2: convert it first, e.g. `qemu-img convert -O {} in out`",
                qemu_name(declared)
            ),
        ),
        _ => {}
    }

    if let Some(found) = detected.format()
        && found != declared
    {
        let hint = if found == ImageFormat::Raw {
            format!(
                "it has no {declared} header ({}) and starts with {}; if it really is a {declared} image the upload is damaged",
                missing_magic(declared),
                first_bytes(head, size)
            )
        } else {
            format!("set format = \"{found}\" or convert the file to {declared}")
        };
        out.error(
            Attribute::Format,
            FindingKind::FormatMismatch,
            format!("format is \"{declared}\" but the file is {}", article_name(found)),
            format!("found {detected}; {hint}"),
        );
    }

    match &detected {
        Detected::Qcow2(q) => {
            if let Some(b) = &q.backing_file {
                let name = b.name.as_deref().map(|n| format!(" \"{n}\"")).unwrap_or_default();
                out.error(
                    Attribute::UfileUrl,
                    FindingKind::Qcow2BackingFile,
                    "the qcow2 image has a backing file",
                    format!(
                        "the header names a backing file{name}: the image holds only the changes to it, and UCloud imports a single file; flatten it with `qemu-img convert -O qcow2 in.qcow2 out.qcow2`"
                    ),
                );
            }
            if q.encryption != Qcow2Encryption::None {
                let how = match q.encryption {
                    Qcow2Encryption::Aes => "AES (crypt_method 1)".to_owned(),
                    Qcow2Encryption::Luks => "LUKS (crypt_method 2)".to_owned(),
                    Qcow2Encryption::Unknown(n) => format!("crypt_method {n}"),
                    Qcow2Encryption::None => String::new(),
                };
                out.error(
                    Attribute::UfileUrl,
                    FindingKind::Qcow2Encrypted,
                    "the qcow2 image is encrypted",
                    format!(
                        "the header says it is encrypted with {how}; UCloud cannot read it without the key: convert it to an unencrypted image with `qemu-img convert` (giving the key as a --object secret)"
                    ),
                );
            }
            if q.external_data_file {
                out.error(
                    Attribute::UfileUrl,
                    FindingKind::Qcow2ExternalData,
                    "the qcow2 image keeps its data in another file",
                    "incompatible feature bit 2 (external data file) is set: the file holds only metadata; convert it with `qemu-img convert -O qcow2` to get one self-contained file".to_owned(),
                );
            }
            if q.marked_corrupt {
                out.warning(
                    Attribute::UfileUrl,
                    FindingKind::Qcow2MarkedCorrupt,
                    "the qcow2 image is marked corrupt",
                    "incompatible feature bit 1 (corrupt) is set: QEMU found an inconsistency in it; check it with `qemu-img check`".to_owned(),
                );
            }
        }
        Detected::Vmdk(v) => {
            if let VmdkVariant::Descriptor { extents } = &v.variant {
                let create_type = v
                    .create_type
                    .as_deref()
                    .map(|c| format!(" (createType \"{c}\")"))
                    .unwrap_or_default();
                let files = if extents.is_empty() {
                    "in extent files it names".to_owned()
                } else {
                    let names: Vec<String> = extents.iter().map(|e| format!("\"{e}\"")).collect();
                    format!("in {}", names.join(", "))
                };
                out.error(
                    Attribute::UfileUrl,
                    FindingKind::VmdkDescriptorOnly,
                    "the file is only a VMDK descriptor, without its data",
                    format!(
                        "these {size} bytes are a VMDK text descriptor{create_type}; the disk data is {files}, which UCloud does not fetch: make a single-file VMDK with `qemu-img convert -O vmdk -o subformat=streamOptimized in.vmdk out.vmdk`"
                    ),
                );
            }
        }
        Detected::Vhd(v) => {
            if let VhdType::Differencing { parent } = &v.disk_type {
                let parent = parent.as_deref().map(|p| format!(" \"{p}\"")).unwrap_or_default();
                out.error(
                    Attribute::UfileUrl,
                    FindingKind::VhdDifferencing,
                    "the VHD image is a differencing disk",
                    format!(
                        "disk type 4 (differencing): it holds only the changes to its parent{parent}, and UCloud imports a single file; merge it with `qemu-img convert -O vpc in.vhd out.vhd`"
                    ),
                );
            }
            if !v.checksum_ok {
                out.warning(
                    Attribute::UfileUrl,
                    FindingKind::VhdBadChecksum,
                    "the VHD footer checksum is wrong",
                    "the footer's checksum (bytes 64-67) does not match its contents; the file may be damaged"
                        .to_owned(),
                );
            }
        }
        _ => {}
    }

    if let Some(t) = detected.truncation() {
        let needed = t
            .needed
            .map(|n| format!(", which needs at least {n} bytes"))
            .unwrap_or_default();
        out.error(
            Attribute::UfileUrl,
            FindingKind::Truncated,
            "the image file is truncated",
            format!(
                "the file has {size} bytes but lacks {}{needed}; the upload was probably incomplete: upload it again",
                t.what
            ),
        );
    }

    // The partition table is visible in raw disks and in fixed VHDs (raw data
    // plus a footer); inside the other formats it is not.
    let partitions = match &detected {
        Detected::Raw(r) => Some(r.partition_table),
        Detected::Vhd(v) => v.partition_table,
        _ => None,
    };
    let matches = detected.format() == Some(declared);
    match partitions {
        Some(PartitionTable::GptHeader | PartitionTable::GptProtectiveMbr) => {
            let evidence = if partitions == Some(PartitionTable::GptHeader) {
                "\"EFI PART\" at offset 512"
            } else {
                "a protective MBR entry of type EE"
            };
            out.warning(
                Attribute::UfileUrl,
                FindingKind::GptPartitionTable,
                "the disk has a GPT partition table",
                format!(
                    "{evidence}: UCloud's import guide supports only MBR partition tables, so the image may not boot"
                ),
            );
        }
        Some(PartitionTable::None) if matches => out.warning(
            Attribute::UfileUrl,
            FindingKind::NoPartitionTable,
            "the disk has no MBR partition table",
            "there is no boot signature 55 AA at offset 510: a bare file system image or not a disk image at all; UCloud imports whole disks with an MBR partition table".to_owned(),
        ),
        _ => {}
    }
    if matches && declared == ImageFormat::Raw && !size.is_multiple_of(512) {
        out.warning(
            Attribute::UfileUrl,
            FindingKind::SizeNotSectorMultiple,
            "the raw image size is not a multiple of 512 bytes",
            format!(
                "{} is not a whole number of 512-byte sectors, which a raw disk image always is: is it complete, and is it a disk image?",
                human_size(size)
            ),
        );
    }

    let mut findings = out.0;
    findings.sort_by_key(|f| f.severity);
    Verdict {
        size,
        detected,
        findings,
    }
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, severity: Severity, attribute: Attribute, kind: FindingKind, summary: String, detail: String) {
        self.0.push(Finding {
            severity,
            attribute,
            kind,
            summary,
            detail,
        });
    }

    fn error(&mut self, attribute: Attribute, kind: FindingKind, summary: impl Into<String>, detail: String) {
        self.push(Severity::Error, attribute, kind, summary.into(), detail);
    }

    fn warning(&mut self, attribute: Attribute, kind: FindingKind, summary: impl Into<String>, detail: String) {
        self.push(Severity::Warning, attribute, kind, summary.into(), detail);
    }
}

/// The first bytes as hex and text, e.g. `3C 68 74 6D 6C 3E 0A 20 ("<html>. ")`.
fn first_bytes(head: &[u8], size: u64) -> String {
    let n = head.len().min(usize::try_from(size).unwrap_or(usize::MAX)).min(8);
    let bytes = &head[..n];
    if bytes.is_empty() {
        return "nothing readable".to_owned();
    }
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let text: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{} (\"{text}\")", hex.join(" "))
}

fn article_name(f: ImageFormat) -> String {
    match f {
        ImageFormat::Raw => "a raw disk image (no VHD, VMDK or qcow2 header)".to_owned(),
        other => format!("a {other} image"),
    }
}

fn missing_magic(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Qcow2 => "\"QFI\\xfb\" at offset 0",
        ImageFormat::Vmdk => "\"KDMV\" at offset 0 or a descriptor",
        ImageFormat::Vhd => "\"conectix\" in the last 512 bytes",
        ImageFormat::Raw => "none",
    }
}

/// `qemu-img`'s name for an import format.
fn qemu_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Raw => "raw",
        ImageFormat::Vhd => "vpc",
        ImageFormat::Vmdk => "vmdk",
        ImageFormat::Qcow2 => "qcow2",
    }
}

#[cfg(test)]
mod tests;
