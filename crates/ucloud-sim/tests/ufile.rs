//! `ucloud-sim --ufile-dir` over the wire: objects served path-style at
//! `/ufile/BUCKET/KEY` as UFile serves them (signature in the header or the
//! URL, HEAD, GET, Range, UFile's error bodies and session id), and imports
//! decided by the real bytes of the object they name.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use test_support::sim::{Reply, Sim};
use ucloud_sim::ufile::{self, SESSION_ID_HEADER};

/// A qcow2 header on 64 KiB of zeros, and 5000 bytes counting up.
fn objects() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("images");
    std::fs::create_dir_all(bucket.join("dir")).unwrap();
    let mut qcow2 = b"QFI\xfb\0\0\0\x03".to_vec();
    qcow2.resize(65536, 0);
    std::fs::write(bucket.join("c7.qcow2"), qcow2).unwrap();
    let counting: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(bucket.join("dir/a b.raw"), counting).unwrap();
    std::fs::write(bucket.join("empty.raw"), b"").unwrap();
    dir
}

fn start(dir: &Path) -> Sim {
    Sim::start(&["--making-time", "0s", "--ufile-dir", &dir.to_string_lossy()])
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// `UCloud <public>:<signature>` for `verb` on `/images/KEY`.
fn authorization(verb: &str, key: &str, private: &str) -> String {
    let sts = ufile::string_to_sign(verb, "", "", "", "images", key);
    format!("UCloud {}:{}", Sim::KEY_PUBLIC, ufile::signature(private, &sts))
}

/// The path-style request path of `key` presigned for GET until `expires`.
fn presigned(encoded_key: &str, key: &str, private: &str, expires: u64) -> String {
    let sts = ufile::string_to_sign("GET", "", "", &expires.to_string(), "images", key);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("UCloudPublicKey", Sim::KEY_PUBLIC)
        .append_pair("Expires", &expires.to_string())
        .append_pair("Signature", &ufile::signature(private, &sts))
        .finish();
    format!("/ufile/images/{encoded_key}?{query}")
}

fn get(sim: &Sim, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    sim.request_with(method, path, headers, b"").unwrap()
}

fn ufile_error(reply: &Reply) -> (i64, String) {
    let body = reply.json();
    (
        body["RetCode"].as_i64().unwrap(),
        body["ErrMsg"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn signed_requests_read_sizes_and_ranges() {
    let dir = objects();
    let sim = start(dir.path());
    let key = "dir/a b.raw";
    let path = "/ufile/images/dir/a%20b.raw";

    let head = get(
        &sim,
        "HEAD",
        path,
        &[("Authorization", &authorization("HEAD", key, Sim::KEY_PRIVATE))],
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("5000"));
    assert!(head.body.is_empty());
    assert!(head.header(SESSION_ID_HEADER).is_some_and(|s| !s.is_empty()));

    let auth = authorization("GET", key, Sim::KEY_PRIVATE);
    let first = get(
        &sim,
        "GET",
        path,
        &[("Authorization", &auth), ("Range", "bytes=0-1023")],
    );
    assert_eq!(first.status, 206);
    assert_eq!(first.header("Content-Range"), Some("bytes 0-1023/5000"));
    assert_eq!(first.body.len(), 1024);
    assert_eq!(first.body[1000], (1000 % 251) as u8);
    let last = get(&sim, "GET", path, &[("Authorization", &auth), ("Range", "bytes=-1536")]);
    assert_eq!(last.status, 206);
    assert_eq!(last.header("Content-Range"), Some("bytes 3464-4999/5000"));
    assert_eq!(last.body[0], (3464 % 251) as u8);
    let whole = get(&sim, "GET", path, &[("Authorization", &auth)]);
    assert_eq!((whole.status, whole.body.len()), (200, 5000));

    // An empty object has no byte 0.
    let auth = authorization("GET", "empty.raw", Sim::KEY_PRIVATE);
    let empty = get(
        &sim,
        "GET",
        "/ufile/images/empty.raw",
        &[("Authorization", &auth), ("Range", "bytes=0-1023")],
    );
    assert_eq!(empty.status, 416);
    assert_eq!(empty.header("Content-Range"), Some("bytes */0"));

    // A presigned URL reads too, for GET only: a signature covers one verb.
    let url = presigned("dir/a%20b.raw", key, Sim::KEY_PRIVATE, now() + 600);
    let r = get(&sim, "GET", &url, &[("Range", "bytes=0-0")]);
    assert_eq!((r.status, r.header("Content-Range")), (206, Some("bytes 0-0/5000")));
    let r = get(&sim, "HEAD", &url, &[]);
    assert_eq!(r.status, 403);

    let journal = sim.object_requests();
    assert_eq!(journal.len(), 7, "{journal:#?}");
    assert_eq!(journal[1]["Range"], "bytes=0-1023");
    assert_eq!(journal[1]["Key"], key);
    assert_eq!(journal[1]["Auth"], "header");
    assert_eq!(journal[5]["Auth"], "url");
    assert!(sim.journal().is_empty(), "object requests are not API requests");
}

#[test]
fn refusals_carry_ufile_error_bodies_and_a_session_id() {
    let dir = objects();
    let sim = start(dir.path());
    // (what, path, headers, status, RetCode, ErrMsg)
    type Case<'a> = (&'a str, String, Vec<(&'a str, String)>, u16, i64, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "missing",
            "/ufile/images/nope.raw".into(),
            vec![("Authorization", authorization("GET", "nope.raw", Sim::KEY_PRIVATE))],
            404,
            -148654,
            "file not exist",
        ),
        (
            "wrong key",
            "/ufile/images/c7.qcow2".into(),
            vec![("Authorization", authorization("GET", "c7.qcow2", "not-the-key"))],
            403,
            -148658,
            "invalid signature",
        ),
        (
            "unsigned",
            "/ufile/images/c7.qcow2".into(),
            vec![],
            401,
            -148643,
            "no authorization found",
        ),
        (
            "expired",
            presigned("c7.qcow2", "c7.qcow2", Sim::KEY_PRIVATE, now() - 1),
            vec![],
            403,
            -148658,
            "signature expired",
        ),
        (
            "signed twice",
            presigned("c7.qcow2", "c7.qcow2", Sim::KEY_PRIVATE, now() + 60),
            vec![("Authorization", authorization("GET", "c7.qcow2", Sim::KEY_PRIVATE))],
            400,
            -148658,
            "both",
        ),
        (
            "out of the bucket",
            "/ufile/images/..%2F..%2Fetc%2Fpasswd".into(),
            vec![(
                "Authorization",
                authorization("GET", "../../etc/passwd", Sim::KEY_PRIVATE),
            )],
            404,
            -148654,
            "file not exist",
        ),
    ];
    for (what, path, headers, status, code, says) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = get(&sim, "GET", &path, &headers);
        assert_eq!(r.status, status, "{what}: {}", String::from_utf8_lossy(&r.body));
        let (ret, msg) = ufile_error(&r);
        assert_eq!(ret, code, "{what}");
        assert!(msg.contains(says), "{what}: {msg}");
        assert!(r.header(SESSION_ID_HEADER).is_some(), "{what}");
    }
    // HEAD answers carry no body, only the status and the session id.
    let r = get(&sim, "HEAD", "/ufile/images/nope.raw", &[]);
    assert_eq!(r.status, 401);
    assert!(r.body.is_empty() && r.header(SESSION_ID_HEADER).is_some());
}

#[test]
fn without_a_ufile_dir_object_requests_are_answered_503() {
    let sim = Sim::start(&[]);
    let r = get(&sim, "GET", "/ufile/images/c7.qcow2", &[("Range", "bytes=0-1023")]);
    assert_eq!(r.status, 503);
    assert!(ufile_error(&r).1.contains("--ufile-dir"));
    assert_eq!(sim.object_requests().len(), 1);
}

#[test]
fn imports_of_served_objects_end_by_their_real_bytes() {
    let dir = objects();
    let sim = start(dir.path());
    let host = |key: &str, private: &str, expires: u64| {
        let path = presigned(key, key, private, expires);
        format!(
            "https://images.cn-bj.ufileos.com{}",
            path.trim_start_matches("/ufile/images")
        )
    };
    let import = |url: &str, format: &str| -> String {
        let answer = sim.sign_and_post(
            "ImportCustomImage",
            &[
                ("Region", "cn-bj2"),
                ("ImageName", "img"),
                ("UFileUrl", url),
                ("OsType", "CentOS"),
                ("OsName", "CentOS 7.6 64位"),
                ("Format", format),
                ("Auth", "true"),
            ],
        );
        assert_eq!(answer["RetCode"], 0, "{answer}");
        answer["ImageId"].as_str().unwrap().to_string()
    };
    let later = now() + 3600;
    let cases = [
        (
            host("c7.qcow2", Sim::KEY_PRIVATE, later),
            "qcow2",
            "Available",
            Value::Null,
        ),
        (
            host("c7.qcow2", Sim::KEY_PRIVATE, later),
            "RAW",
            "Unavailable",
            Value::from("Format is RAW but the file is qcow2"),
        ),
        (
            host("missing.qcow2", Sim::KEY_PRIVATE, later),
            "qcow2",
            "Unavailable",
            Value::from("the object images/missing.qcow2 does not exist"),
        ),
        (
            host("c7.qcow2", "not-the-key", later),
            "qcow2",
            "Unavailable",
            Value::from("the URL's signature is wrong"),
        ),
        (
            "https://images.cn-bj.ufileos.com/c7.qcow2".to_string(),
            "qcow2",
            "Unavailable",
            Value::from("the URL carries no signature and the bucket is private"),
        ),
        (
            // Path-style under the simulator itself maps to the same object.
            format!(
                "{}{}",
                sim.url,
                presigned("c7.qcow2", "c7.qcow2", Sim::KEY_PRIVATE, later)
            ),
            "qcow2",
            "Available",
            Value::Null,
        ),
        (
            "https://elsewhere.cn-bj.ufileos.com/corrupt/x.raw".to_string(),
            "RAW",
            "Unavailable",
            Value::from("the UFileUrl path contains `corrupt`"),
        ),
    ];
    for (url, format, state, error) in cases {
        let id = import(&url, format);
        let image = sim.wait_for_state(&id, state);
        assert_eq!(image["ImportError"], error, "{url}");
    }
    std::thread::sleep(Duration::from_millis(1));
    assert!(
        sim.object_requests().is_empty(),
        "imports read files directly, not over HTTP"
    );
}
