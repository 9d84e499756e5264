//! The detector and the verdict on hand-built headers (every branch, with
//! exact offsets), and a seeded fuzz run proving that no input panics (the
//! detector's own edge cases are in `images/format/tests.rs`).
//! Real files made by `qemu-img` and the checked-in header fixtures are
//! tested in `tests/ufile.rs`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::*;
use crate::images::format::*;
use crate::ucloud::ImageFormat;

/// Head and tail of a file of `size` bytes whose content is `bytes` at
/// offset 0 and `end` at the end, zeros elsewhere (like a sparse file).
fn file(size: u64, bytes: &[u8], end: &[u8]) -> (u64, Vec<u8>, Vec<u8>) {
    let head_len = size.min(HEAD_LEN as u64) as usize;
    let tail_len = size.min(TAIL_LEN as u64) as usize;
    let at = |off: u64| -> u8 {
        if (off as usize) < bytes.len() {
            return bytes[off as usize];
        }
        let from_end = size - off;
        if from_end as usize <= end.len() {
            return end[end.len() - from_end as usize];
        }
        0
    };
    let head = (0..head_len as u64).map(at).collect();
    let tail = (size - tail_len as u64..size).map(at).collect();
    (size, head, tail)
}

fn judge(declared: ImageFormat, f: &(u64, Vec<u8>, Vec<u8>)) -> Verdict {
    check(declared, f.0, &f.1, &f.2)
}

fn put(buf: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    if buf.len() < at + bytes.len() {
        buf.resize(at + bytes.len(), 0);
    }
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

fn mbr() -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[0..3].copy_from_slice(&[0xeb, 0x63, 0x90]);
    b[446 + 4] = 0x83; // Linux partition
    b[510] = 0x55;
    b[511] = 0xaa;
    b
}

fn gpt() -> Vec<u8> {
    let mut b = mbr();
    b[446 + 4] = 0xee;
    put(&mut b, 512, b"EFI PART");
    b
}

/// A qcow2 header as `qemu-img create -f qcow2 x 1M` writes it (196616 bytes).
fn qcow2(version: u32, backing: Option<&str>, crypt: u32, incompatible: u64) -> Vec<u8> {
    let mut h = Vec::new();
    put(&mut h, 0, b"QFI\xfb");
    put(&mut h, 4, &version.to_be_bytes());
    put(&mut h, 20, &16u32.to_be_bytes()); // cluster_bits
    put(&mut h, 24, &(1u64 << 20).to_be_bytes()); // virtual size
    put(&mut h, 32, &crypt.to_be_bytes());
    put(&mut h, 36, &1u32.to_be_bytes()); // l1_size
    put(&mut h, 40, &0x30000u64.to_be_bytes()); // l1_table_offset
    put(&mut h, 48, &0x10000u64.to_be_bytes()); // refcount_table_offset
    put(&mut h, 56, &1u32.to_be_bytes()); // refcount_table_clusters
    if version == 3 {
        put(&mut h, 72, &incompatible.to_be_bytes());
        put(&mut h, 100, &112u32.to_be_bytes());
    }
    if let Some(name) = backing {
        put(&mut h, 8, &528u64.to_be_bytes());
        put(&mut h, 16, &(name.len() as u32).to_be_bytes());
        put(&mut h, 528, name.as_bytes());
    }
    h
}

const QCOW2_SIZE: u64 = 196_616;

/// A `KDMV` header; `gd_offset` in sectors (`u64::MAX`: in the footer).
fn kdmv(compress: u16, gd_offset: u64, capacity_sectors: u64) -> Vec<u8> {
    let mut h = Vec::new();
    put(&mut h, 0, b"KDMV");
    put(&mut h, 4, &3u32.to_le_bytes());
    let flags: u32 = if compress == 1 { 0x0003_0003 } else { 3 };
    put(&mut h, 8, &flags.to_le_bytes());
    put(&mut h, 12, &capacity_sectors.to_le_bytes());
    put(&mut h, 20, &128u64.to_le_bytes()); // granularity
    put(&mut h, 28, &1u64.to_le_bytes()); // desc_offset
    put(&mut h, 36, &20u64.to_le_bytes()); // desc_size
    put(&mut h, 56, &gd_offset.to_le_bytes());
    put(&mut h, 64, &128u64.to_le_bytes()); // grain_offset
    put(&mut h, 73, b"\n \r\n");
    put(&mut h, 77, &compress.to_le_bytes());
    h.resize(512, 0);
    h
}

/// The last 1536 bytes of a VMware stream-optimized VMDK.
fn vmdk_footer(gd_offset: u64) -> Vec<u8> {
    let mut f = vec![0u8; 1536];
    put(&mut f, 0, &1u64.to_le_bytes());
    put(&mut f, 12, &3u32.to_le_bytes()); // MARKER_FOOTER
    put(&mut f, 512, &kdmv(1, gd_offset, 2048));
    f
}

/// A VHD footer with a correct checksum.
fn vhd_footer(disk_type: u32, current_size: u64, data_offset: u64) -> Vec<u8> {
    let mut f = vec![0u8; 512];
    put(&mut f, 0, b"conectix");
    put(&mut f, 8, &2u32.to_be_bytes());
    put(&mut f, 12, &0x0001_0000u32.to_be_bytes());
    put(&mut f, 16, &data_offset.to_be_bytes());
    put(&mut f, 40, &current_size.to_be_bytes());
    put(&mut f, 48, &current_size.to_be_bytes());
    put(&mut f, 60, &disk_type.to_be_bytes());
    let sum = f.iter().fold(0u32, |a, &x| a.wrapping_add(u32::from(x)));
    put(&mut f, 64, &(!sum).to_be_bytes());
    f
}

/// Footer copy + `cxsparse` header (+ parent name), as at the start of a
/// dynamic or differencing VHD.
fn vhd_dynamic_head(disk_type: u32, parent: Option<&str>) -> Vec<u8> {
    let mut h = vhd_footer(disk_type, 1 << 20, 512);
    put(&mut h, 512, b"cxsparse");
    put(&mut h, 512 + 8, &u64::MAX.to_be_bytes());
    put(&mut h, 512 + 16, &1536u64.to_be_bytes()); // table offset
    put(&mut h, 512 + 28, &1u32.to_be_bytes()); // max table entries
    if let Some(p) = parent {
        let utf16: Vec<u8> = p.encode_utf16().flat_map(u16::to_be_bytes).collect();
        put(&mut h, 512 + 64, &utf16);
    }
    h
}

fn vhd_dynamic(disk_type: u32, parent: Option<&str>) -> (u64, Vec<u8>, Vec<u8>) {
    file(
        2560,
        &vhd_dynamic_head(disk_type, parent),
        &vhd_footer(disk_type, 1 << 20, 512),
    )
}

fn errors(v: &Verdict) -> Vec<FindingKind> {
    v.errors().map(|f| f.kind).collect()
}

fn warnings(v: &Verdict) -> Vec<FindingKind> {
    v.warnings().map(|f| f.kind).collect()
}

#[test]
fn raw_with_mbr_is_clean_and_gpt_warns() {
    let f = file(1 << 20, &mbr(), &[]);
    let v = judge(ImageFormat::Raw, &f);
    assert_eq!(v.detected.label(), "raw-mbr");
    assert!(v.findings.is_empty(), "{:?}", v.findings);

    let v = judge(ImageFormat::Raw, &file(1 << 20, &gpt(), &[]));
    assert_eq!(v.detected.label(), "raw-gpt");
    assert_eq!(warnings(&v), [FindingKind::GptPartitionTable]);
    assert!(v.is_importable());
    assert!(v.findings[0].detail.contains("EFI PART"), "{}", v.findings[0]);

    // A protective MBR alone (a 4K-sector GPT keeps its header at 4096).
    let mut protective = mbr();
    protective[446 + 4] = 0xee;
    let v = judge(ImageFormat::Raw, &file(1 << 20, &protective, &[]));
    assert_eq!(v.detected.format(), Some(ImageFormat::Raw));
    assert_eq!(warnings(&v), [FindingKind::GptPartitionTable]);
    assert!(v.findings[0].detail.contains("type EE"));
}

#[test]
fn raw_without_partition_table_or_with_odd_size_warns() {
    let v = judge(ImageFormat::Raw, &file(1 << 20, b"hello", &[]));
    assert_eq!(warnings(&v), [FindingKind::NoPartitionTable]);
    let v = judge(ImageFormat::Raw, &file(1000, &mbr(), &[]));
    assert_eq!(warnings(&v), [FindingKind::SizeNotSectorMultiple]);
    assert!(v.findings[0].detail.contains("1000 bytes"));
}

#[test]
fn empty_file_is_an_error_on_ufile_url() {
    let v = check(ImageFormat::Qcow2, 0, &[], &[]);
    assert_eq!(v.detected, Detected::Empty);
    assert_eq!(errors(&v), [FindingKind::Empty]);
    assert_eq!(v.findings[0].attribute, Attribute::UfileUrl);
    // Bytes handed in for a zero size are ignored.
    assert_eq!(detect(0, b"QFI\xfb", b"x"), Detected::Empty);
}

#[test]
fn qcow2_versions_backing_file_and_encryption() {
    let v = judge(ImageFormat::Qcow2, &file(QCOW2_SIZE, &qcow2(3, None, 0, 0), &[]));
    assert_eq!(v.detected.label(), "qcow2");
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    let Detected::Qcow2(q) = &v.detected else {
        unreachable!()
    };
    assert_eq!((q.version, q.virtual_size), (3, 1 << 20));

    let v = judge(ImageFormat::Qcow2, &file(QCOW2_SIZE, &qcow2(2, None, 0, 0), &[]));
    assert!(v.findings.is_empty(), "{:?}", v.findings);

    let v = judge(
        ImageFormat::Qcow2,
        &file(QCOW2_SIZE, &qcow2(3, Some("base.qcow2"), 0, 0), &[]),
    );
    assert_eq!(errors(&v), [FindingKind::Qcow2BackingFile]);
    assert!(v.findings[0].detail.contains("\"base.qcow2\""), "{}", v.findings[0]);

    for (crypt, word) in [(1, "AES"), (2, "LUKS"), (7, "crypt_method 7")] {
        let v = judge(ImageFormat::Qcow2, &file(QCOW2_SIZE, &qcow2(3, None, crypt, 0), &[]));
        assert_eq!(errors(&v), [FindingKind::Qcow2Encrypted]);
        assert!(v.findings[0].detail.contains(word), "{}", v.findings[0]);
    }

    let v = judge(ImageFormat::Qcow2, &file(QCOW2_SIZE, &qcow2(3, None, 0, 0b110), &[]));
    assert_eq!(errors(&v), [FindingKind::Qcow2ExternalData]);
    assert_eq!(warnings(&v), [FindingKind::Qcow2MarkedCorrupt]);

    let v = judge(ImageFormat::Qcow2, &file(QCOW2_SIZE, &qcow2(1, None, 0, 0), &[]));
    assert_eq!(v.detected, Detected::Other(OtherFormat::Qcow { version: 1 }));
    assert_eq!(errors(&v), [FindingKind::UnsupportedFormat]);
}

#[test]
fn qcow2_truncated_before_its_tables() {
    // The L1 table ends at 196616; one byte less is a cut upload.
    let v = judge(ImageFormat::Qcow2, &file(QCOW2_SIZE - 1, &qcow2(3, None, 0, 0), &[]));
    assert_eq!(errors(&v), [FindingKind::Truncated]);
    assert!(v.findings[0].detail.contains("L1 table"), "{}", v.findings[0]);
    // Only the magic.
    let v = check(ImageFormat::Qcow2, 4, b"QFI\xfb", b"QFI\xfb");
    assert_eq!(errors(&v), [FindingKind::Truncated]);
}

#[test]
fn vmdk_sparse_stream_and_footer() {
    let v = judge(ImageFormat::Vmdk, &file(65536, &kdmv(0, 21, 2048), &[]));
    assert_eq!(v.detected.label(), "vmdk-sparse");
    assert!(v.findings.is_empty(), "{:?}", v.findings);

    let v = judge(ImageFormat::Vmdk, &file(65536, &kdmv(1, 26, 2048), &[]));
    assert_eq!(v.detected.label(), "vmdk-stream");
    assert!(v.findings.is_empty(), "{:?}", v.findings);

    // VMware's layout: the header defers to the footer.
    let f = file(1 << 20, &kdmv(1, u64::MAX, 2048), &vmdk_footer(100));
    let v = judge(ImageFormat::Vmdk, &f);
    assert_eq!(
        v.detected,
        Detected::Vmdk(Vmdk {
            variant: VmdkVariant::StreamOptimized { footer: true },
            capacity: Some(2048 * 512),
            create_type: None,
            truncated: None,
        })
    );
    assert!(v.findings.is_empty(), "{:?}", v.findings);

    // The same file cut short: no footer at the end.
    let v = judge(ImageFormat::Vmdk, &file(1 << 19, &kdmv(1, u64::MAX, 2048), &[]));
    assert_eq!(errors(&v), [FindingKind::Truncated]);
    assert!(v.findings[0].detail.contains("footer"), "{}", v.findings[0]);

    // A sparse header whose grain directory lies beyond the end.
    let v = judge(ImageFormat::Vmdk, &file(8192, &kdmv(0, 21, 2048), &[]));
    assert_eq!(errors(&v), [FindingKind::Truncated]);

    let mut cowd = b"COWD".to_vec();
    put(&mut cowd, 12, &2048u32.to_le_bytes());
    let v = judge(ImageFormat::Vmdk, &file(1 << 20, &cowd, &[]));
    assert_eq!(v.detected.label(), "vmdk-cowd");
}

#[test]
fn vmdk_embedded_descriptor_gives_create_type() {
    let mut h = kdmv(0, 21, 2048);
    put(
        &mut h,
        512,
        b"# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicSparse\"\n",
    );
    let Detected::Vmdk(v) = detect(65536, &h, &[0; 1536]) else {
        panic!()
    };
    assert_eq!(v.create_type.as_deref(), Some("monolithicSparse"));
}

#[test]
fn vmdk_descriptor_alone_names_its_extents() {
    let text = "# Disk DescriptorFile\nversion=1\nCID=60575d3e\ncreateType=\"monolithicFlat\"\n\n\
                # Extent description\nRW 2048 FLAT \"disk-flat.vmdk\" 0\nRW 1024 ZERO\n";
    let f = file(text.len() as u64, text.as_bytes(), &[]);
    let v = judge(ImageFormat::Vmdk, &f);
    let Detected::Vmdk(d) = &v.detected else {
        panic!("{:?}", v.detected)
    };
    assert_eq!(
        d.variant,
        VmdkVariant::Descriptor {
            extents: vec!["disk-flat.vmdk".into()]
        }
    );
    assert_eq!(d.capacity, Some(3072 * 512));
    assert_eq!(errors(&v), [FindingKind::VmdkDescriptorOnly]);
    assert!(v.findings[0].detail.contains("\"disk-flat.vmdk\""), "{}", v.findings[0]);
    assert!(v.findings[0].detail.contains("monolithicFlat"), "{}", v.findings[0]);

    // Declared RAW, it is still a VMDK: two errors.
    let v = judge(ImageFormat::Raw, &f);
    assert_eq!(
        errors(&v),
        [FindingKind::FormatMismatch, FindingKind::VmdkDescriptorOnly]
    );

    // Not a descriptor: a later version= line, or another version.
    assert_eq!(detect(30, b"hello\nversion=1\n", b"").label(), "raw");
    assert_eq!(detect(30, b"version=4\n", b"").label(), "raw");
}

#[test]
fn vhd_fixed_dynamic_differencing() {
    let size = 0x107800u64;
    let f = file(size + 512, &mbr(), &vhd_footer(2, size, u64::MAX));
    let v = judge(ImageFormat::Vhd, &f);
    assert_eq!(v.detected.label(), "vhd-fixed");
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    // A fixed VHD is raw data: its GPT shows.
    let v = judge(
        ImageFormat::Vhd,
        &file(size + 512, &gpt(), &vhd_footer(2, size, u64::MAX)),
    );
    assert_eq!(warnings(&v), [FindingKind::GptPartitionTable]);
    // Declared RAW: a mismatch naming VHD.
    let v = judge(ImageFormat::Raw, &f);
    assert_eq!(errors(&v), [FindingKind::FormatMismatch]);
    assert!(v.findings[0].summary.contains("VHD"), "{}", v.findings[0]);

    let v = judge(ImageFormat::Vhd, &vhd_dynamic(3, None));
    assert_eq!(v.detected.label(), "vhd-dynamic");
    assert!(v.findings.is_empty(), "{:?}", v.findings);

    let v = judge(ImageFormat::Vhd, &vhd_dynamic(4, Some("parent.vhd")));
    assert_eq!(
        v.detected,
        Detected::Vhd(Vhd {
            disk_type: VhdType::Differencing {
                parent: Some("parent.vhd".into())
            },
            current_size: 1 << 20,
            checksum_ok: true,
            partition_table: None,
            truncated: None,
        })
    );
    assert_eq!(errors(&v), [FindingKind::VhdDifferencing]);
    assert!(v.findings[0].detail.contains("\"parent.vhd\""));
}

#[test]
fn vhd_damage_is_reported() {
    // Dynamic, cut before its footer.
    let v = judge(ImageFormat::Vhd, &file(2048, &vhd_dynamic_head(3, None), &[]));
    assert_eq!(errors(&v), [FindingKind::Truncated]);
    // Fixed footer claiming more data than the file has.
    let v = judge(ImageFormat::Vhd, &file(4096, &mbr(), &vhd_footer(2, 1 << 20, u64::MAX)));
    assert_eq!(errors(&v), [FindingKind::Truncated]);
    // A bad checksum only warns, as in QEMU.
    let mut footer = vhd_footer(2, 3584, u64::MAX);
    footer[67] ^= 1;
    let v = judge(ImageFormat::Vhd, &file(4096, &mbr(), &footer));
    assert_eq!(warnings(&v), [FindingKind::VhdBadChecksum]);
    assert!(v.is_importable());
}

#[test]
fn compressed_and_archives_say_decompress() {
    let mut tar = vec![0u8; 512];
    put(&mut tar, 0, b"disk.qcow2");
    put(&mut tar, 257, b"ustar\x0000");
    for (bytes, name) in [
        (&[0x1f, 0x8b, 0x08, 0x00][..], "gzip"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00][..], "xz"),
        (&[0x28, 0xb5, 0x2f, 0xfd][..], "zstd"),
        (b"BZh91AY&SY", "bzip2"),
        (b"PK\x03\x04\x14\x00", "zip"),
        (&tar[..], "tar"),
    ] {
        for declared in ImageFormat::ALL {
            let v = judge(declared, &file(1 << 20, bytes, &[]));
            assert_eq!(v.detected.label(), name);
            assert_eq!(errors(&v), [FindingKind::Compressed], "{name} as {declared}");
            assert!(
                v.findings[0].detail.contains("decompress it first"),
                "{}",
                v.findings[0]
            );
        }
    }
}

#[test]
fn other_formats_are_refused() {
    let mut vdi = vec![0u8; 128];
    put(&mut vdi, 0, b"<<< QEMU VM Virtual Disk Image >>>\n");
    put(&mut vdi, 64, &[0x7f, 0x10, 0xda, 0xbe]);
    let v = judge(ImageFormat::Vmdk, &file(1 << 20, &vdi, &[]));
    assert_eq!(v.detected.label(), "vdi");
    assert_eq!(errors(&v), [FindingKind::UnsupportedFormat]);
    assert_eq!(v.findings[0].attribute, Attribute::Format);
    let v = judge(ImageFormat::Vhd, &file(1 << 23, b"vhdxfile", &[]));
    assert_eq!(v.detected.label(), "vhdx");
    assert!(
        v.findings[0].detail.contains("qemu-img convert -O vpc"),
        "{}",
        v.findings[0]
    );
}

#[test]
fn mismatch_names_the_detected_format_and_the_evidence() {
    let v = judge(ImageFormat::Raw, &file(QCOW2_SIZE, &qcow2(3, None, 0, 0), &[]));
    assert_eq!(errors(&v), [FindingKind::FormatMismatch]);
    let f = &v.findings[0];
    assert_eq!(f.attribute, Attribute::Format);
    assert_eq!(f.summary, "format is \"RAW\" but the file is a qcow2 image");
    assert!(f.detail.contains("QFI\\xfb"), "{f}");
    assert!(f.detail.contains("set format = \"qcow2\""), "{f}");

    let v = judge(ImageFormat::Qcow2, &file(1 << 20, &mbr(), &[]));
    assert_eq!(errors(&v), [FindingKind::FormatMismatch]);
    assert!(v.findings[0].summary.contains("raw disk image"), "{}", v.findings[0]);
    assert!(v.findings[0].detail.contains("no qcow2 header"), "{}", v.findings[0]);
    assert!(v.findings[0].detail.contains("MBR"), "{}", v.findings[0]);

    // A web page uploaded in place of the image: the bytes show it.
    let v = judge(ImageFormat::Vmdk, &file(300, b"<html><body>404", &[]));
    assert!(
        v.findings[0].detail.contains("3C 68 74 6D 6C 3E 3C 62 (\"<html><b\")"),
        "{}",
        v.findings[0]
    );
}

/// Seed corpus for the fuzzer: every branch the tests above build.
fn corpus() -> Vec<(u64, Vec<u8>, Vec<u8>)> {
    let mut tar = vec![0u8; 300];
    put(&mut tar, 257, b"ustar");
    let mut vdi = vec![0u8; 68];
    put(&mut vdi, 64, &[0x7f, 0x10, 0xda, 0xbe]);
    vec![
        file(1 << 20, &mbr(), &[]),
        file(1 << 20, &gpt(), &[]),
        file(QCOW2_SIZE, &qcow2(3, Some("base.qcow2"), 2, 0b110), &[]),
        file(QCOW2_SIZE, &qcow2(2, None, 0, 0), &[]),
        file(65536, &kdmv(0, 21, 2048), &[]),
        file(1 << 20, &kdmv(1, u64::MAX, 2048), &vmdk_footer(100)),
        file(
            400,
            b"# Disk DescriptorFile\nversion=1\nRW 2048 FLAT \"x-flat.vmdk\" 0\n",
            &[],
        ),
        file(0x107a00, &mbr(), &vhd_footer(2, 0x107800, u64::MAX)),
        vhd_dynamic(3, None),
        vhd_dynamic(4, Some("p.vhd")),
        file(1 << 20, &[0x1f, 0x8b, 0x08], &[]),
        file(1 << 20, &tar, &[]),
        file(1 << 20, &vdi, &[]),
        file(1 << 20, b"COWD", &[]),
    ]
}

const MAGICS: [&[u8]; 12] = [
    b"QFI\xfb",
    b"KDMV",
    b"COWD",
    b"conectix",
    b"cxsparse",
    b"vhdxfile",
    b"EFI PART",
    b"version=1\n",
    b"ustar",
    &[0x55, 0xaa],
    &[0xff; 8],
    &[0x1f, 0x8b, 0x08],
];

/// At least 100,000 random, truncated and mutated inputs: every one gives a
/// verdict (no panic), and the verdicts keep their invariants.
#[test]
fn fuzz_detector_never_panics() {
    const ROUNDS: usize = 100_000;
    let seed = 0x13_u64 << 32 | 0x0f11e;
    let mut rng = fastrand::Rng::with_seed(seed);
    let corpus = corpus();
    let mut seen = std::collections::HashSet::new();
    for round in 0..ROUNDS {
        let (mut size, mut head, mut tail) = match rng.u8(0..4) {
            0 => {
                let size = rng.u64(0..5000);
                let len = rng.usize(0..=HEAD_LEN.min(size as usize));
                let mut bytes = vec![0u8; len];
                rng.fill(&mut bytes);
                let size = size.max(len as u64);
                let mut end = vec![0u8; rng.usize(0..=TAIL_LEN.min(size as usize))];
                rng.fill(&mut end);
                (size, bytes, end)
            }
            _ => corpus[rng.usize(0..corpus.len())].clone(),
        };
        // Mutations: flip bytes, plant magics and wild numbers, cut, resize.
        for _ in 0..rng.usize(0..8) {
            match rng.u8(0..7) {
                0 if !head.is_empty() => {
                    let i = rng.usize(0..head.len());
                    head[i] ^= 1 << rng.u8(0..8);
                }
                1 if !tail.is_empty() => {
                    let i = rng.usize(0..tail.len());
                    tail[i] = rng.u8(..);
                }
                2 => {
                    let m = MAGICS[rng.usize(0..MAGICS.len())];
                    let buf = if rng.bool() { &mut head } else { &mut tail };
                    let at = rng.usize(0..=buf.len());
                    put(buf, at, m);
                }
                3 => {
                    let wild = [0u64, 1, 511, 512, u32::MAX as u64, u64::MAX, rng.u64(..)][rng.usize(0..7)];
                    let bytes = if rng.bool() {
                        wild.to_be_bytes()
                    } else {
                        wild.to_le_bytes()
                    };
                    let at = rng.usize(0..=head.len());
                    put(&mut head, at, &bytes[..rng.usize(1..=8)]);
                }
                4 => head.truncate(rng.usize(0..=head.len())),
                5 => {
                    let keep = rng.usize(0..=tail.len());
                    tail.drain(..tail.len() - keep);
                }
                _ => {
                    size = [0, 1, 511, 513, 1023, 2560, u64::MAX, rng.u64(..), size / 2][rng.usize(0..9)];
                }
            }
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            seen.insert(detect(size, &head, &tail).label());
            // Each input against one declared format, all four in turn.
            {
                let declared = ImageFormat::ALL[round % 4];
                let v = check(declared, size, &head, &tail);
                assert_eq!(v.size, size);
                // Shown to users: must render.
                assert!(!v.detected.to_string().is_empty());
                for f in &v.findings {
                    assert!(!f.summary.is_empty() && !f.detail.is_empty());
                }
                // Errors come first.
                assert!(v.findings.windows(2).all(|w| w[0].severity <= w[1].severity));
                match v.detected {
                    Detected::Empty | Detected::Wrapped(_) | Detected::Other(_) => assert!(!v.is_importable()),
                    ref d if d.format() != Some(declared) => assert!(v.has(FindingKind::FormatMismatch)),
                    _ => {}
                }
            }
        }));
        if let Err(panic) = result {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "round {round} (seed {seed:#x}): size {size}, head {}, tail {}: {what}",
                hex::encode(&head),
                hex::encode(&tail)
            );
        }
    }
    // The mutations reach every kind of verdict, not just "raw".
    assert!(seen.len() >= 18, "only {seen:?}");
}
