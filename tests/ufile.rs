//! The UFile layer of the pre-import check (issue #13), from the outside:
//! - the signer against vectors made by UCloud's official Python SDK;
//! - the format verdict on real files made by `qemu-img` (and compressed by
//!   the system tools), and on the checked-in header fixtures;
//! - the object reader against an in-process UFile look-alike that checks
//!   signatures and serves ranges, errors, stalls and dropped connections.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use test_support::scripted::{Reply, ScriptedServer, Seen};
use tokio_util::sync::CancellationToken;
use tpu::images::format::{ENDS, HEAD_LEN, TAIL_LEN};
use tpu::resources::custom_image::preflight::{self, FindingKind, Verdict};
use tpu::ucloud::ImageFormat;
use tpu::ucloud::Secret;
use tpu::ucloud::ufile::{
    self, Credentials, CredentialsError, ObjectReader, ObjectUrl, Outcome, ProbeError, ReaderConfig, StringToSign,
    UrlError,
};
use url::Url;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------
// Signing vectors from the Python SDK

#[derive(Deserialize)]
struct VectorFile {
    sdk: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    kind: String,
    public_key: String,
    private_key: String,
    method: String,
    bucket: String,
    key: String,
    #[serde(default)]
    content_md5: String,
    #[serde(default)]
    content_type: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    expires: u64,
    string_to_sign: String,
    #[serde(default)]
    authorization: String,
    #[serde(default)]
    signature: String,
    #[serde(default)]
    signed_url: String,
}

fn vectors() -> VectorFile {
    let path = manifest_dir().join("tests/fixtures/ufile/vectors.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Splits a URL as the SDK builds it (key unencoded, so it may itself hold
/// a `?`) at its last `?`, and decodes the query.
fn sdk_url_parts(url: &str) -> (&str, Vec<(String, String)>) {
    let (prefix, query) = url.rsplit_once('?').unwrap_or((url, ""));
    let pairs = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    (prefix, pairs)
}

#[test]
fn signer_matches_the_python_sdk_vectors() {
    let file = vectors();
    assert!(file.sdk.starts_with("ufile=="), "{}", file.sdk);
    let (mut headers, mut urls) = (0, 0);
    for v in &file.vectors {
        let creds = Credentials::new(&v.public_key, Secret::new(v.private_key.clone())).unwrap();
        let what = format!("{} {} /{}/{}", v.kind, v.method, v.bucket, v.key);
        match v.kind.as_str() {
            "authorization" => {
                let sts = StringToSign {
                    verb: &v.method,
                    content_md5: &v.content_md5,
                    content_type: &v.content_type,
                    date: &v.date,
                    bucket: &v.bucket,
                    key: &v.key,
                };
                assert_eq!(sts.to_string(), v.string_to_sign, "{what}");
                assert_eq!(creds.authorization(&sts).expose(), v.authorization, "{what}");
                // The simulator's verifier accepts it, and only for this request.
                let sig = v.authorization.rsplit_once(':').unwrap().1;
                let private = Secret::new(v.private_key.clone());
                assert!(ufile::sign::verify(&private, &v.string_to_sign, sig), "{what}");
                let other_verb = if v.method == "GET" { "HEAD" } else { "GET" };
                let other = StringToSign {
                    verb: other_verb,
                    ..sts
                };
                assert!(!ufile::sign::verify(&private, &other.to_string(), sig), "{what}");
                headers += 1;
            }
            "presigned_url" => {
                let expires = v.expires.to_string();
                let sts = StringToSign::presigned("GET", &v.bucket, &v.key, &expires);
                assert_eq!(sts.to_string(), v.string_to_sign, "{what}");
                assert_eq!(creds.sign(&sts).expose(), v.signature, "{what}");

                // Our presigned URL for the same object carries the same query.
                let given = format!("https://{}.cn-bj.ufileos.com/{}", v.bucket, encode_key(&v.key));
                let object = ObjectUrl::parse(&given, None).unwrap();
                assert_eq!(object.key(), v.key, "{what}");
                let ours = object.presigned_for_import(&creds, v.expires);
                let ours_url = Url::parse(ours.expose()).unwrap();
                let ours_query: Vec<(String, String)> = ours_url.query_pairs().into_owned().collect();
                let (sdk_prefix, sdk_query) = sdk_url_parts(&v.signed_url);
                assert_eq!(ours_query, sdk_query, "{what}");
                // Where the key needs no encoding, the whole URL is the SDK's.
                if v.key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
                {
                    assert_eq!(ours.expose(), v.signed_url, "{what}");
                } else {
                    assert_eq!(
                        format!("https://{}.cn-bj.ufileos.com/{}", v.bucket, v.key),
                        sdk_prefix,
                        "{what}"
                    );
                }
                // Read back, it is a presigned URL for the same object.
                let back = ObjectUrl::parse(ours.expose(), None).unwrap();
                assert_eq!((back.bucket(), back.key()), (v.bucket.as_str(), v.key.as_str()));
                assert_eq!(back.presigned().map(|p| p.expires), Some(v.expires));
                urls += 1;
            }
            other => panic!("unknown vector kind {other}"),
        }
    }
    assert!(headers >= 64 && urls >= 32, "{headers} header and {urls} URL vectors");
}

/// Percent-encodes a key the way a user's browser would write it.
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Real image files

/// Head and tail of `path` as the reader would fetch them.
fn head_tail(path: &Path) -> (u64, Vec<u8>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let size = bytes.len() as u64;
    let head = bytes[..bytes.len().min(HEAD_LEN)].to_vec();
    let tail = bytes[bytes.len() - bytes.len().min(TAIL_LEN)..].to_vec();
    (size, head, tail)
}

fn judge_file(declared: ImageFormat, path: &Path) -> Verdict {
    let (size, head, tail) = head_tail(path);
    preflight::check(declared, size, &head, &tail)
}

fn qemu_img(args: &[&str], dir: &Path) -> Result<(), String> {
    let out = Command::new("qemu-img").args(args).current_dir(dir).output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "qemu-img not found: these tests make real image files with it; install Debian/Ubuntu package \
             qemu-utils (apt-get install -y qemu-utils), Fedora qemu-img, or macOS `brew install qemu`"
        ),
        Err(e) => panic!("cannot run qemu-img: {e}"),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "qemu-img {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        )),
    }
}

/// Runs `qemu-img` with whitespace-separated `args` in `dir`.
fn make(dir: &Path, args: &str) {
    let args: Vec<&str> = args.split_whitespace().collect();
    if let Err(e) = qemu_img(&args, dir) {
        panic!("{e}");
    }
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

fn truncated_copy(dir: &Path, from: &str, to: &str, len: u64) -> PathBuf {
    let dst = dir.join(to);
    std::fs::copy(dir.join(from), &dst).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&dst)
        .unwrap()
        .set_len(len)
        .unwrap();
    dst
}

fn assert_verdict(v: &Verdict, label: &str, errors: &[FindingKind], warnings: &[FindingKind], what: &str) {
    let got_errors: Vec<FindingKind> = v.errors().map(|f| f.kind).collect();
    let got_warnings: Vec<FindingKind> = v.warnings().map(|f| f.kind).collect();
    assert_eq!(v.detected.label(), label, "{what}: {}", v.detected);
    assert_eq!(got_errors, errors, "{what}: {:#?}", v.findings);
    assert_eq!(got_warnings, warnings, "{what}: {:#?}", v.findings);
}

#[test]
fn verdicts_on_files_made_by_qemu_img() {
    use FindingKind::*;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // LUKS creation spends seconds calibrating its key derivation whatever
    // iter-time says: let it run while the other files are made.
    let luks = {
        let d = d.to_owned();
        std::thread::spawn(move || {
            make(
                &d,
                "create -q --object secret,id=s0,data=pw -f qcow2 \
                 -o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 luks.qcow2 1M",
            )
        })
    };
    // Content, so that converted images hold real data clusters.
    let data: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(d.join("data.raw"), &data).unwrap();

    // RAW: qemu-img makes zeros; give it an MBR, or a GPT.
    make(d, "create -q -f raw mbr.raw 1M");
    write_at(&d.join("mbr.raw"), 446 + 4, &[0x83]);
    write_at(&d.join("mbr.raw"), 510, &[0x55, 0xaa]);
    make(d, "create -q -f raw gpt.raw 1M");
    write_at(&d.join("gpt.raw"), 446 + 4, &[0xee]);
    write_at(&d.join("gpt.raw"), 510, &[0x55, 0xaa]);
    write_at(&d.join("gpt.raw"), 512, b"EFI PART");
    make(d, "create -q -f raw zeros.raw 1M");
    assert_verdict(
        &judge_file(ImageFormat::Raw, &d.join("mbr.raw")),
        "raw-mbr",
        &[],
        &[],
        "mbr.raw",
    );
    assert_verdict(
        &judge_file(ImageFormat::Raw, &d.join("gpt.raw")),
        "raw-gpt",
        &[],
        &[GptPartitionTable],
        "gpt.raw",
    );
    assert_verdict(
        &judge_file(ImageFormat::Raw, &d.join("zeros.raw")),
        "raw",
        &[],
        &[NoPartitionTable],
        "zeros",
    );

    // qcow2: v3, v2, converted with data, a backing file, encryption.
    make(d, "create -q -f qcow2 v3.qcow2 1M");
    make(d, "create -q -f qcow2 -o compat=0.10 v2.qcow2 1M");
    make(d, "convert -O qcow2 data.raw data.qcow2");
    make(d, "create -q -f qcow2 -b v3.qcow2 -F qcow2 overlay.qcow2");
    for f in ["v3.qcow2", "v2.qcow2", "data.qcow2"] {
        assert_verdict(&judge_file(ImageFormat::Qcow2, &d.join(f)), "qcow2", &[], &[], f);
    }
    let v = judge_file(ImageFormat::Qcow2, &d.join("overlay.qcow2"));
    assert_verdict(&v, "qcow2", &[Qcow2BackingFile], &[], "overlay.qcow2");
    assert!(v.findings[0].detail.contains("\"v3.qcow2\""), "{}", v.findings[0]);
    if let Err(panic) = luks.join() {
        std::panic::resume_unwind(panic);
    }
    let v = judge_file(ImageFormat::Qcow2, &d.join("luks.qcow2"));
    assert_verdict(&v, "qcow2", &[Qcow2Encrypted], &[], "luks.qcow2");
    assert!(v.findings[0].detail.contains("LUKS"), "{}", v.findings[0]);
    // Legacy AES: newer QEMU builds may refuse to create it.
    let aes =
        "create -q --object secret,id=s0,data=pw -f qcow2 -o encrypt.format=aes,encrypt.key-secret=s0 aes.qcow2 1M";
    match qemu_img(&aes.split_whitespace().collect::<Vec<_>>(), d) {
        Ok(()) => assert_verdict(
            &judge_file(ImageFormat::Qcow2, &d.join("aes.qcow2")),
            "qcow2",
            &[Qcow2Encrypted],
            &[],
            "aes",
        ),
        Err(e) => eprintln!("note: no AES-encrypted qcow2 from this qemu-img ({e})"),
    }
    let v = judge_file(ImageFormat::Raw, &d.join("v3.qcow2"));
    assert_verdict(&v, "qcow2", &[FormatMismatch], &[], "qcow2 as RAW");
    assert_eq!(v.findings[0].summary, "format is \"RAW\" but the file is a qcow2 image");

    // VMDK: monolithicSparse, streamOptimized (created and converted), a
    // descriptor whose data is in a flat extent, a split sparse descriptor.
    make(d, "create -q -f vmdk sparse.vmdk 1M");
    make(d, "create -q -f vmdk -o subformat=streamOptimized stream.vmdk 1M");
    make(
        d,
        "convert -O vmdk -o subformat=streamOptimized data.raw data-stream.vmdk",
    );
    make(d, "convert -O vmdk data.raw data-sparse.vmdk");
    make(d, "create -q -f vmdk -o subformat=monolithicFlat flat.vmdk 1M");
    make(d, "create -q -f vmdk -o subformat=twoGbMaxExtentSparse split.vmdk 1M");
    for (f, label) in [
        ("sparse.vmdk", "vmdk-sparse"),
        ("data-sparse.vmdk", "vmdk-sparse"),
        ("stream.vmdk", "vmdk-stream"),
        ("data-stream.vmdk", "vmdk-stream"),
    ] {
        assert_verdict(&judge_file(ImageFormat::Vmdk, &d.join(f)), label, &[], &[], f);
    }
    let v = judge_file(ImageFormat::Vmdk, &d.join("flat.vmdk"));
    assert_verdict(&v, "vmdk-descriptor", &[VmdkDescriptorOnly], &[], "flat.vmdk");
    assert!(v.findings[0].detail.contains("\"flat-flat.vmdk\""), "{}", v.findings[0]);
    let v = judge_file(ImageFormat::Vmdk, &d.join("split.vmdk"));
    assert_verdict(&v, "vmdk-descriptor", &[VmdkDescriptorOnly], &[], "split.vmdk");
    assert!(
        v.findings[0].detail.contains("twoGbMaxExtentSparse"),
        "{}",
        v.findings[0]
    );
    // The flat extent alone is a raw disk (of zeros).
    assert_verdict(
        &judge_file(ImageFormat::Raw, &d.join("flat-flat.vmdk")),
        "raw",
        &[],
        &[NoPartitionTable],
        "flat extent",
    );

    // VHD: dynamic, fixed, converted, and a differencing disk (qemu-img
    // cannot make one: patch a dynamic one's disk type and parent name).
    make(d, "create -q -f vpc dynamic.vhd 1M");
    make(d, "create -q -f vpc -o subformat=fixed fixed.vhd 1M");
    make(d, "convert -O vpc data.raw data.vhd");
    make(d, "convert -O vpc -o subformat=fixed mbr.raw mbr-fixed.vhd");
    for (f, label, warnings) in [
        ("dynamic.vhd", "vhd-dynamic", &[][..]),
        ("data.vhd", "vhd-dynamic", &[]),
        ("fixed.vhd", "vhd-fixed", &[NoPartitionTable]),
        ("mbr-fixed.vhd", "vhd-fixed", &[]),
    ] {
        assert_verdict(&judge_file(ImageFormat::Vhd, &d.join(f)), label, &[], warnings, f);
    }
    let diff = d.join("diff.vhd");
    std::fs::copy(d.join("dynamic.vhd"), &diff).unwrap();
    let size = std::fs::metadata(&diff).unwrap().len();
    let parent: Vec<u8> = "parent.vhd".encode_utf16().flat_map(u16::to_be_bytes).collect();
    write_at(&diff, 512 + 64, &parent);
    for footer in [0, size - 512] {
        let mut f = std::fs::read(&diff).unwrap()[footer as usize..footer as usize + 512].to_vec();
        f[60..64].copy_from_slice(&4u32.to_be_bytes());
        f[64..68].fill(0);
        let sum = f.iter().fold(0u32, |a, &x| a.wrapping_add(u32::from(x)));
        f[64..68].copy_from_slice(&(!sum).to_be_bytes());
        write_at(&diff, footer, &f);
    }
    let v = judge_file(ImageFormat::Vhd, &diff);
    assert_verdict(&v, "vhd-differencing", &[VhdDifferencing], &[], "diff.vhd");
    assert!(v.findings[0].detail.contains("\"parent.vhd\""), "{}", v.findings[0]);
    let v = judge_file(ImageFormat::Qcow2, &d.join("data.vhd"));
    assert_verdict(&v, "vhd-dynamic", &[FormatMismatch], &[], "VHD as qcow2");

    // Truncated uploads: cut inside the structures the head and tail show.
    let cases: [(&str, ImageFormat, u64, &str, &[FindingKind]); 6] = [
        ("v3.qcow2", ImageFormat::Qcow2, 100_000, "qcow2", &[Truncated]),
        ("sparse.vmdk", ImageFormat::Vmdk, 8192, "vmdk-sparse", &[Truncated]),
        ("data.vhd", ImageFormat::Vhd, 2 << 20, "vhd-dynamic", &[Truncated]),
        ("dynamic.vhd", ImageFormat::Vhd, 1024, "vhd-dynamic", &[Truncated]),
        // A fixed VHD loses its footer: what is left is raw, not VHD.
        ("mbr-fixed.vhd", ImageFormat::Vhd, 1 << 19, "raw-mbr", &[FormatMismatch]),
        ("v3.qcow2", ImageFormat::Qcow2, 1024, "qcow2", &[Truncated]),
    ];
    for (from, declared, len, label, errors) in cases {
        let to = format!("cut-{len}-{from}");
        let v = judge_file(declared, &truncated_copy(d, from, &to, len));
        assert_verdict(&v, label, errors, &[], &to);
    }
    let v = judge_file(ImageFormat::Qcow2, &truncated_copy(d, "v3.qcow2", "cut.qcow2", 100_000));
    assert!(v.findings[0].detail.contains("upload"), "{}", v.findings[0]);
}

#[test]
fn verdicts_on_compressed_and_archived_images() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make(d, "create -q -f qcow2 disk.qcow2 1M");
    let tools: [(&str, &[&str], &str, &str); 6] = [
        ("gzip", &["-k", "disk.qcow2"], "disk.qcow2.gz", "gzip"),
        ("xz", &["-k", "disk.qcow2"], "disk.qcow2.xz", "xz"),
        ("zstd", &["-q", "-k", "disk.qcow2"], "disk.qcow2.zst", "zstd"),
        ("bzip2", &["-k", "disk.qcow2"], "disk.qcow2.bz2", "bzip2"),
        ("tar", &["-cf", "disk.tar", "disk.qcow2"], "disk.tar", "tar"),
        ("zip", &["-q", "disk.zip", "disk.qcow2"], "disk.zip", "zip"),
    ];
    let mut made = 0;
    for (tool, args, out, label) in tools {
        match Command::new(tool).args(args).current_dir(d).status() {
            Ok(s) if s.success() => {}
            // Hand-built headers of every kind are covered by the unit tests.
            Ok(_) | Err(_) => {
                eprintln!("note: {tool} unavailable, skipping its real file");
                continue;
            }
        }
        let v = judge_file(ImageFormat::Qcow2, &d.join(out));
        assert_verdict(&v, label, &[FindingKind::Compressed], &[], out);
        assert!(
            v.findings[0].detail.contains("decompress it first"),
            "{}",
            v.findings[0]
        );
        made += 1;
    }
    assert!(made >= 2, "neither gzip nor tar could be run");
}

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<FixtureCase>,
}

#[derive(Deserialize)]
struct FixtureCase {
    name: String,
    size: u64,
    head_len: usize,
    tail_len: usize,
    declared: String,
    label: String,
    errors: Vec<String>,
    warnings: Vec<String>,
}

#[test]
fn verdicts_on_checked_in_header_fixtures() {
    let dir = manifest_dir().join("tests/fixtures/formats");
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.cases.len() >= 15);
    for c in &manifest.cases {
        let bin = std::fs::read(dir.join(format!("{}.bin", c.name))).unwrap();
        assert_eq!(bin.len(), c.head_len + c.tail_len, "{}", c.name);
        assert!(
            bin.len() <= HEAD_LEN + TAIL_LEN,
            "{}: fixtures hold headers only",
            c.name
        );
        let (head, tail) = bin.split_at(c.head_len);
        let declared = ImageFormat::parse(&c.declared).unwrap();
        let v = preflight::check(declared, c.size, head, tail);
        let names = |it: &mut dyn Iterator<Item = &preflight::Finding>| -> Vec<String> {
            it.map(|f| format!("{:?}", f.kind)).collect()
        };
        assert_eq!(v.detected.label(), c.label, "{}: {}", c.name, v.detected);
        assert_eq!(names(&mut v.errors()), c.errors, "{}", c.name);
        assert_eq!(names(&mut v.warnings()), c.warnings, "{}", c.name);
    }
}

// ---------------------------------------------------------------------------
// The object reader against a UFile look-alike

const PUB: &str = "TOKEN_test-public";
const PRIV: &str = "test-private-6f1d0c2b";
const SESSION: &str = "sess-0b5e7";

/// How the server misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Like UFile: signatures, ranges, JSON errors with a session id.
    Ufile,
    /// Ignores Range, always sends the whole object.
    IgnoreRange,
    /// Answers every request with this status and no session id.
    Status(u16),
    /// Accepts the connection and never answers.
    Stall,
}

/// The scripted server playing UFile in `mode` over `objects`.
struct Server {
    scripted: ScriptedServer,
}

impl Server {
    async fn start(mode: Mode, objects: HashMap<String, Vec<u8>>) -> Server {
        let scripted = ScriptedServer::respond_with(move |_, request| Some(respond(mode, &objects, request)))
            .await
            .unwrap();
        Server { scripted }
    }

    fn seen(&self) -> Vec<Seen> {
        self.scripted.seen()
    }

    fn base(&self) -> &str {
        &self.scripted.base_url
    }

    fn reader(&self, private_key: &str) -> ObjectReader {
        reader(Some(self.base()), Credentials::new(PUB, Secret::new(private_key)))
    }
}

fn reader(base: Option<&str>, credentials: Result<Credentials, CredentialsError>) -> ObjectReader {
    ObjectReader::new(ReaderConfig {
        base_url: base.map(str::to_owned),
        credentials,
        timeout: Duration::from_millis(500),
        user_agent: "tpu-test".to_owned(),
    })
    .unwrap()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The answer of the UFile look-alike: status line + headers, body.
/// UFile's answer to `request` in `mode`.
fn respond(mode: Mode, objects: &HashMap<String, Vec<u8>>, request: &Seen) -> Reply {
    let answer = |status: u16, extra: &[(&str, String)], body: Vec<u8>, session: bool| {
        let mut reply = Reply::json(status, body);
        if session {
            reply = reply.header("X-SessionId", SESSION);
        }
        for (k, v) in extra {
            reply = reply.header(k, v);
        }
        reply
    };
    let json = |code: i64, msg: &str| format!(r#"{{"RetCode":{code},"ErrMsg":"{msg}"}}"#).into_bytes();
    match mode {
        Mode::Status(code) => return Reply::html(code, "<html>proxy says no</html>"),
        Mode::Stall => return Reply::hang(),
        Mode::Ufile | Mode::IgnoreRange => {}
    }
    let (method, target) = (request.method(), request.target());
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let resource = percent_decode(path);
    let Some((bucket, key)) = resource.trim_start_matches('/').split_once('/') else {
        return answer(400, &[], json(-1, "bad path"), true);
    };
    let query: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let private = Secret::new(PRIV);
    let authorised = if let Some(sig) = query.get("Signature") {
        let expires = query.get("Expires").cloned().unwrap_or_default();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        if expires.parse::<u64>().unwrap_or(0) <= now {
            return answer(403, &[], json(-148659, "signature expired"), true);
        }
        let sts = StringToSign::presigned(method, bucket, key, &expires);
        query.get("UCloudPublicKey").map(String::as_str) == Some(PUB)
            && ufile::sign::verify(&private, &sts.to_string(), sig)
    } else if let Some(auth) = request.header("authorization") {
        let sts = StringToSign::dated(method, bucket, key, request.header("date").unwrap_or_default());
        let sig = auth.strip_prefix(&format!("UCloud {PUB}:")).unwrap_or("");
        ufile::sign::verify(&private, &sts.to_string(), sig)
    } else {
        return answer(403, &[], json(-148643, "no authorization found"), true);
    };
    if !authorised {
        return answer(403, &[], json(-148658, "invalid signature"), true);
    }
    let Some(object) = objects.get(&format!("{bucket}/{key}")) else {
        return answer(404, &[], json(-148654, "file not exist"), true);
    };
    let size = object.len() as u64;
    let class = ("X-Ufile-Storage-Class", "STANDARD".to_owned());
    if method == "HEAD" {
        return answer(200, &[class], object.clone(), true).head_only();
    }
    let range = request
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'));
    match (mode, range) {
        (Mode::Ufile, Some((a, b))) => {
            let (start, end) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
                (Some(a), Some(b)) => (a, b.min(size.saturating_sub(1))),
                (None, Some(n)) => (size.saturating_sub(n), size.saturating_sub(1)),
                (Some(a), None) => (a, size.saturating_sub(1)),
                (None, None) => (1, 0),
            };
            if size == 0 || start > end {
                return answer(416, &[], json(-1, "invalid range"), true);
            }
            let body = object[start as usize..=end as usize].to_vec();
            let cr = ("Content-Range", format!("bytes {start}-{end}/{size}"));
            answer(206, &[class, cr], body, true)
        }
        _ => answer(200, &[class], object.clone(), true),
    }
}

fn qcow2_bytes() -> Vec<u8> {
    let dir = manifest_dir().join("tests/fixtures/formats");
    let bin = std::fs::read(dir.join("qcow2-v3.bin")).unwrap();
    // The real file is 196616 bytes: head, zeros, tail.
    let mut file = vec![0u8; 196_616];
    file[..1024].copy_from_slice(&bin[..1024]);
    let n = file.len();
    file[n - 1536..].copy_from_slice(&bin[1024..]);
    file
}

fn store(entries: &[(&str, Vec<u8>)]) -> HashMap<String, Vec<u8>> {
    entries.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn reads_head_and_tail_with_two_signed_ranged_gets() {
    let qcow2 = qcow2_bytes();
    let server = Server::start(Mode::Ufile, store(&[("images/linux/disk image.qcow2", qcow2.clone())])).await;
    let cancel = CancellationToken::new();
    let probe = server
        .reader(PRIV)
        .probe_url(
            "https://images.cn-bj.ufileos.com/linux/disk%20image.qcow2",
            ENDS,
            &cancel,
        )
        .await
        .unwrap();
    assert_eq!(probe.size, 196_616);
    assert_eq!(probe.head, qcow2[..HEAD_LEN]);
    assert_eq!(probe.tail, qcow2[qcow2.len() - TAIL_LEN..]);
    assert_eq!(probe.requests, 2);
    assert_eq!(probe.session_id.as_deref(), Some(SESSION));
    assert_eq!(probe.storage_class.as_deref(), Some("STANDARD"));
    let v = preflight::check(ImageFormat::Qcow2, probe.size, &probe.head, &probe.tail);
    assert!(v.is_importable() && v.findings.is_empty(), "{:?}", v.findings);

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!((s.method(), s.target()), ("GET", "/images/linux/disk%20image.qcow2"));
        assert!(
            s.header("authorization")
                .is_some_and(|a| a.starts_with(&format!("UCloud {PUB}:")))
        );
        // Dated, and the Date signed: a captured header expires.
        assert!(
            s.header("date")
                .and_then(|d| httpdate::parse_http_date(d).ok())
                .is_some(),
            "{:?}",
            s.headers
        );
    }
    assert_eq!(seen[0].header("range"), Some("bytes=0-1023"));
    assert_eq!(seen[1].header("range"), Some("bytes=195080-196615"));
    // The probe's Debug shows no bytes and no secrets.
    assert!(!format!("{probe:?}").contains("QFI"));
}

#[tokio::test]
async fn small_objects_take_one_request() {
    let text = b"# Disk DescriptorFile\nversion=1\nRW 2048 FLAT \"d-flat.vmdk\" 0\n".to_vec();
    let server = Server::start(Mode::Ufile, store(&[("b-1/d.vmdk", text.clone())])).await;
    let probe = server
        .reader(PRIV)
        .probe_url("https://b-1.hk.ufileos.com/d.vmdk", ENDS, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((probe.size, probe.requests), (text.len() as u64, 1));
    assert_eq!((probe.head.clone(), probe.tail.clone()), (text.clone(), text));
    let v = preflight::check(ImageFormat::Vmdk, probe.size, &probe.head, &probe.tail);
    assert!(v.has(FindingKind::VmdkDescriptorOnly));
}

#[tokio::test]
async fn presigned_urls_are_used_as_given() {
    let server = Server::start(Mode::Ufile, store(&[("images/a.raw", vec![7u8; 5000])])).await;
    let creds = Credentials::new(PUB, Secret::new(PRIV)).unwrap();
    let object = ObjectUrl::parse("https://images.cn-bj.ufileos.com/a.raw", None).unwrap();
    let signed = object.presigned_for_import(&creds, now() + 600);
    let sig = Url::parse(signed.expose())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "Signature")
        .unwrap()
        .1
        .into_owned();

    // A reader without usable credentials can still read it.
    let r = reader(Some(server.base()), Err(CredentialsError::NoPrivateKey));
    let probe = r
        .probe_url(signed.expose(), ENDS, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((probe.size, probe.requests), (5000, 2));
    for s in server.seen() {
        assert_eq!(s.method(), "GET");
        assert!(
            s.header("authorization").is_none(),
            "a signature in both URL and header"
        );
        assert!(
            s.target().starts_with("/images/a.raw?UCloudPublicKey="),
            "{}",
            s.target()
        );
    }

    // Signed with another key: UFile refuses, definitely.
    let wrong = Credentials::new(PUB, Secret::new("not-the-key")).unwrap();
    let bad = object.presigned_for_import(&wrong, now() + 600);
    let e = r
        .probe_url(bad.expose(), ENDS, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, ProbeError::Denied { .. }), "{e}");
    assert_eq!(e.outcome(), Outcome::Definite);
    assert_eq!(e.session_id(), Some(SESSION));

    // Expired: refused without a request, and the message shows no signature.
    let before = server.seen().len();
    let expired = object.presigned_for_import(&creds, now() - 5);
    let e = r
        .probe_url(expired.expose(), ENDS, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, ProbeError::Expired { .. }), "{e}");
    assert!(e.is_definite());
    assert_eq!(server.seen().len(), before);
    for shown in [format!("{e} {e:?}"), format!("{signed} {signed:?}")] {
        assert!(!shown.contains(&sig), "{shown}");
    }
}

#[tokio::test]
async fn definite_failures_carry_ufile_evidence() {
    let server = Server::start(
        Mode::Ufile,
        store(&[("images/empty.raw", Vec::new()), ("images/a.raw", vec![0; 4096])]),
    )
    .await;
    let cancel = CancellationToken::new();

    let e = server
        .reader(PRIV)
        .probe_url("https://images.cn-bj.ufileos.com/missing.qcow2", ENDS, &cancel)
        .await
        .unwrap_err();
    let ProbeError::NotFound { object, answer } = &e else {
        panic!("{e}")
    };
    assert_eq!(object, "images/missing.qcow2");
    assert_eq!((answer.status, answer.ret_code), (404, Some(-148654)));
    assert!(e.is_definite());
    assert_eq!(
        e.to_string(),
        format!(
            "the object images/missing.qcow2 does not exist in UFile (HTTP 404, RetCode -148654 \"file not exist\", UFile session id {SESSION})"
        )
    );

    let e = server
        .reader("wrong-private-key")
        .probe_url("https://images.cn-bj.ufileos.com/a.raw", ENDS, &cancel)
        .await
        .unwrap_err();
    let ProbeError::Denied { answer, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(
        (answer.status, answer.message.as_deref()),
        (403, Some("invalid signature"))
    );
    assert!(e.is_definite());
    assert!(!e.to_string().contains("wrong-private-key"));

    let before = server.seen().len();
    let e = server
        .reader(PRIV)
        .probe_url("https://images.cn-bj.ufileos.com/empty.raw", ENDS, &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, ProbeError::Empty { .. }), "{e}");
    assert!(e.is_definite());
    // 416 to the ranged GET, then a HEAD to confirm: the most a probe sends.
    let seen = server.seen();
    let methods: Vec<&str> = seen[before..].iter().map(Seen::method).collect();
    assert_eq!(methods, ["GET", "HEAD"]);
}

#[tokio::test]
async fn inconclusive_failures_say_why_the_check_was_skipped() {
    let cancel = CancellationToken::new();
    let url = "https://images.cn-bj.ufileos.com/a.raw";
    let objects = store(&[("images/a.raw", vec![1u8; 1 << 20])]);

    for status in [500, 503] {
        let server = Server::start(Mode::Status(status), objects.clone()).await;
        let e = server.reader(PRIV).probe_url(url, ENDS, &cancel).await.unwrap_err();
        assert!(matches!(e, ProbeError::Server { .. }), "{e}");
        assert_eq!(e.outcome(), Outcome::Inconclusive);
        assert!(e.to_string().contains("proxy says no"), "{e}");
    }
    // 403 without UFile's session id: a proxy, not UFile's verdict.
    let server = Server::start(Mode::Status(403), objects.clone()).await;
    let e = server.reader(PRIV).probe_url(url, ENDS, &cancel).await.unwrap_err();
    assert!(matches!(e, ProbeError::Unexpected { .. }), "{e}");
    assert!(!e.is_definite());

    // A server that ignores Range: the head is read (bounded), the tail cannot be.
    let server = Server::start(Mode::IgnoreRange, objects.clone()).await;
    let started = Instant::now();
    let e = server.reader(PRIV).probe_url(url, ENDS, &cancel).await.unwrap_err();
    assert!(matches!(e, ProbeError::Protocol { .. }), "{e}");
    assert!(!e.is_definite());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.seen().len(), 2);

    // Stalls, refused connections.
    let server = Server::start(Mode::Stall, objects.clone()).await;
    let started = Instant::now();
    let e = server.reader(PRIV).probe_url(url, ENDS, &cancel).await.unwrap_err();
    assert!(matches!(e, ProbeError::Timeout { .. }), "{e}");
    assert!(!e.is_definite());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = reader(
        Some(&format!("http://127.0.0.1:{port}")),
        Credentials::new(PUB, Secret::new(PRIV)),
    );
    let e = r.probe_url(url, ENDS, &cancel).await.unwrap_err();
    assert!(matches!(e, ProbeError::Unreachable { .. }), "{e}");
    assert!(!e.is_definite());
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");

    // Nothing to send to, or nothing to sign with.
    let e = r
        .probe_url("https://cdn.example.com/a.raw", ENDS, &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, ProbeError::Url(UrlError::UnknownHost { .. })), "{e}");
    assert!(!e.is_definite());
    let r = reader(None, Credentials::new("", Secret::new(PRIV)));
    let e = r.probe_url(url, ENDS, &cancel).await.unwrap_err();
    assert!(
        matches!(e, ProbeError::CannotSign(CredentialsError::NoPublicKey)),
        "{e}"
    );
    assert!(!e.is_definite());

    // Cancellation ends a stalled probe at once.
    let server = Server::start(Mode::Stall, objects).await;
    let r = server.reader(PRIV);
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.cancel();
    });
    let e = r.probe_url(url, ENDS, &cancel).await.unwrap_err();
    assert_eq!(e, ProbeError::Cancelled);
}

#[test]
fn reader_config_is_checked() {
    let bad = ObjectReader::new(ReaderConfig {
        base_url: Some("ftp://x".into()),
        credentials: Err(CredentialsError::NoPublicKey),
        timeout: Duration::ZERO,
        user_agent: "ua".into(),
    });
    assert!(bad.is_err());
    let r = reader(Some("http://127.0.0.1:9/prefix/"), Err(CredentialsError::NoPublicKey));
    let o = r.object("https://images.cn-bj.ufileos.com/a%20b.raw").unwrap();
    assert_eq!(o.request_url().as_str(), "http://127.0.0.1:9/prefix/images/a%20b.raw");
    assert_eq!(o.resource(), "/images/a b.raw");
}
