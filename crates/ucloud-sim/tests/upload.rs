//! UFile uploads over the wire, signed as UFile's SDKs sign them: PutFile,
//! a multipart upload end to end, Finish's checks, both listings and their
//! paging, DeleteFile, the object ETag HEAD sends, each upload fault, the
//! counters, and DescribeBucket. Expected ETags are computed here from
//! UFile's documented rule, not by the simulator's code.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use serde_json::json;
use sha1::{Digest, Sha1};
use test_support::sim::{Reply, Sim};

const BUCKET: &str = "images";
const MIB4: usize = 4 << 20;

/// A simulator over a directory holding the bucket `images` (and `other`).
fn start(extra: &[&str]) -> (tempfile::TempDir, Sim) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
    std::fs::create_dir(dir.path().join("other")).unwrap();
    let path = dir.path().to_string_lossy().to_string();
    let mut args = vec!["--making-time", "0s", "--ufile-dir", path.as_str()];
    args.extend_from_slice(extra);
    let sim = Sim::start(&args);
    (dir, sim)
}

fn call(sim: &Sim, method: &str, key: &str, query: &str, body: &[u8]) -> Reply {
    let content_type = if body.is_empty() {
        ""
    } else {
        "application/octet-stream"
    };
    sim.ufile_request(method, BUCKET, key, query, content_type, body)
        .unwrap_or_else(|e| panic!("{method} {key}?{query}: {e}"))
}

fn etag(reply: &Reply) -> String {
    let raw = reply.header("ETag").unwrap_or_else(|| panic!("no ETag in {reply:?}"));
    assert!(raw.starts_with('"') && raw.ends_with('"'), "UFile quotes ETags: {raw}");
    raw.trim_matches('"').to_string()
}

fn error_message(reply: &Reply) -> String {
    reply.json()["ErrMsg"].as_str().unwrap_or_default().to_string()
}

fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// UFile's part ETag: URL-safe base64 of the SHA-1.
fn part_etag(data: &[u8]) -> String {
    URL_SAFE.encode(sha1(data))
}

/// UFile's object ETag, by the authorization doc's rule.
fn object_etag(data: &[u8]) -> String {
    let blocks = data.len().div_ceil(MIB4) as u32;
    let digest = if data.len() <= MIB4 {
        sha1(data)
    } else {
        let shas: Vec<u8> = data.chunks(MIB4).flat_map(sha1).collect();
        sha1(&shas)
    };
    let mut raw = blocks.to_le_bytes().to_vec();
    raw.extend_from_slice(&digest);
    URL_SAFE.encode(raw)
}

fn counting(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| ((i % 251) as u8).wrapping_add(salt)).collect()
}

fn initiate(sim: &Sim, key: &str) -> (String, u64) {
    let r = call(sim, "POST", key, "uploads", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert_eq!(
        (body["Bucket"].as_str(), body["Key"].as_str()),
        (Some(BUCKET), Some(key))
    );
    (
        body["UploadId"].as_str().unwrap().to_string(),
        body["BlkSize"].as_u64().unwrap(),
    )
}

fn part(sim: &Sim, key: &str, id: &str, n: u32, data: &[u8]) -> Reply {
    call(sim, "PUT", key, &format!("uploadId={id}&partNumber={n}"), data)
}

fn finish(sim: &Sim, key: &str, id: &str, etags: &[String]) -> Reply {
    call(sim, "POST", key, &format!("uploadId={id}"), etags.join(",").as_bytes())
}

fn list_parts(sim: &Sim, id: &str, extra: &str) -> Reply {
    sim.ufile_request("GET", BUCKET, "", &format!("muploadpart&uploadId={id}{extra}"), "", b"")
        .unwrap()
}

fn requests(sim: &Sim, op: &str) -> u64 {
    sim.ufile_stats()["requests"][op].as_u64().unwrap()
}

#[test]
fn a_signed_multipart_upload_end_to_end() {
    let (dir, sim) = start(&[]);
    let key = "dir/a b.raw";
    let data: Vec<u8> = [vec![0; MIB4], counting(MIB4, 1), counting(1000, 2)].concat();
    let (id, blk) = initiate(&sim, key);
    assert_eq!(blk, MIB4 as u64);

    let mut etags = Vec::new();
    for (n, chunk) in data.chunks(MIB4).enumerate() {
        let r = part(&sim, key, &id, n as u32, chunk);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["PartNumber"], n);
        etags.push(etag(&r));
        // Spooled to disk at its place in the upload's data file, not held.
        let spooled = dir.path().join(".multipart").join(&id).join("data");
        assert_eq!(
            std::fs::metadata(&spooled).unwrap().len(),
            (n * MIB4 + chunk.len()) as u64
        );
    }
    assert_eq!(etags[0], "K8y9LzjxXBPrfVqJ_Z2F9ZXiO8M=", "4 MiB of zeros");
    assert_eq!(etags[1], part_etag(&data[MIB4..2 * MIB4]));
    let uploads = sim.ufile_uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        (uploads[0]["id"].as_str(), uploads[0]["key"].as_str()),
        (Some(id.as_str()), Some(key))
    );
    assert_eq!(uploads[0]["parts"].as_array().unwrap().len(), 3);

    // Re-sending a part replaces it.
    let again = part(&sim, key, &id, 2, &data[2 * MIB4..]);
    assert_eq!(etag(&again), etags[2]);

    let done = finish(&sim, key, &id, &etags);
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(etag(&done), object_etag(&data));
    assert_eq!(
        done.json(),
        json!({"Bucket": BUCKET, "Key": key, "FileSize": data.len()})
    );
    assert_eq!(std::fs::read(dir.path().join(BUCKET).join(key)).unwrap(), data);
    assert!(sim.ufile_uploads().is_empty());
    assert!(!dir.path().join(".multipart").join(&id).exists());
    assert_eq!(list_parts(&sim, &id, "").status, 404, "the upload is gone");

    let head = call(&sim, "HEAD", key, "", b"");
    assert_eq!(head.status, 200);
    assert_eq!(etag(&head), object_etag(&data));
    assert_eq!(head.header("Content-Length"), Some(data.len().to_string().as_str()));
    assert_eq!(
        sim.ufile_objects(),
        vec![json!({"bucket": BUCKET, "key": key, "size": data.len()})]
    );
    // The journal holds no signature.
    let journal = serde_json::to_string(&sim.object_requests()).unwrap();
    assert!(
        !journal.contains("UCloud ") && !journal.contains("Signature"),
        "{journal}"
    );
    assert!(journal.contains("\"Op\":\"UploadPart\""));
}

#[test]
fn put_file_head_and_delete() {
    let (dir, sim) = start(&[]);
    let data = counting(5000, 7);
    let r = call(&sim, "PUT", "small.raw", "", &data);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(etag(&r), object_etag(&data));
    assert_eq!(std::fs::read(dir.path().join(BUCKET).join("small.raw")).unwrap(), data);
    let head = call(&sim, "HEAD", "small.raw", "", b"");
    assert_eq!(etag(&head), object_etag(&data));
    assert!(head.header("Last-Modified").is_some());

    // Unsigned, badly signed, unknown bucket.
    let r = sim.request_with("PUT", "/ufile/images/x.raw", &[], b"abc").unwrap();
    assert_eq!(r.status, 401);
    let bad = test_support::sim::ufile_authorization("PUT", "", BUCKET, "x.raw", "not-the-key");
    let r = sim
        .request_with("PUT", "/ufile/images/x.raw", &[("Authorization", &bad)], b"abc")
        .unwrap();
    assert_eq!((r.status, r.json()["RetCode"].as_i64()), (403, Some(-148658)));
    let r = sim
        .ufile_request("PUT", "nosuchbucket", "x.raw", "", "", b"abc")
        .unwrap();
    assert_eq!((r.status, r.json()["RetCode"].as_i64()), (404, Some(-30010)));

    let r = call(&sim, "DELETE", "small.raw", "", b"");
    assert_eq!(r.status, 204);
    assert!(!dir.path().join(BUCKET).join("small.raw").exists());
    let r = call(&sim, "DELETE", "small.raw", "", b"");
    assert_eq!((r.status, r.json()["RetCode"].as_i64()), (404, Some(-148654)));
    assert_eq!(call(&sim, "HEAD", "small.raw", "", b"").status, 404);
}

#[test]
fn head_sends_the_object_etag_of_one_and_of_three_blocks() {
    let (dir, sim) = start(&[]);
    let one = counting(1 << 20, 3);
    let three = counting(2 * MIB4 + 5, 4);
    std::fs::write(dir.path().join(BUCKET).join("one.raw"), &one).unwrap();
    std::fs::write(dir.path().join(BUCKET).join("three.raw"), &three).unwrap();
    std::fs::write(dir.path().join(BUCKET).join("empty.raw"), b"").unwrap();
    for (key, data) in [("one.raw", &one), ("three.raw", &three), ("empty.raw", &Vec::new())] {
        let head = call(&sim, "HEAD", key, "", b"");
        assert_eq!(etag(&head), object_etag(data), "{key}");
        // Cached, and the same on GET.
        let get = call(&sim, "GET", key, "", b"");
        assert_eq!(etag(&get), object_etag(data), "{key}");
    }
    assert!(object_etag(&three).starts_with("AwAAA"), "3 blocks, little-endian");
}

#[test]
fn finish_refuses_wrong_sizes_wrong_etags_and_missing_parts() {
    let (_dir, sim) = start(&["--ufile-blk-size", "1024"]);
    let key = "k.raw";
    let (id, blk) = initiate(&sim, key);
    assert_eq!(blk, 1024);
    let short = counting(1000, 0);
    let last = counting(10, 1);
    let e0 = etag(&part(&sim, key, &id, 0, &short));
    let e1 = etag(&part(&sim, key, &id, 1, &last));
    let refused = |etags: &[String], says: &str| {
        let r = finish(&sim, key, &id, etags);
        assert_eq!(r.status, 400, "{etags:?}");
        assert!(r.header("X-SessionId").is_some());
        let msg = error_message(&r);
        assert!(msg.starts_with(says), "{etags:?}: {msg}");
    };
    refused(&[e0.clone(), e1.clone()], "invalid size of part 0");
    refused(std::slice::from_ref(&e0), "invalid etag count");
    refused(&[e1.clone(), e0.clone()], "invalid etag of part 0");
    // A gap: parts 0 and 2.
    let full = counting(1024, 2);
    let e0 = etag(&part(&sim, key, &id, 0, &full));
    let e2 = etag(&part(&sim, key, &id, 2, &last));
    refused(&[e0.clone(), e2.clone()], "invalid etag count");
    // Contiguous again (part 1 is the old short one): its size is refused.
    refused(&[e0.clone(), e1.clone(), e2.clone()], "invalid size of part 1");
    // Fill the gap: accepted, and the upload is gone.
    let e1 = etag(&part(&sim, key, &id, 1, &full));
    let r = finish(&sim, key, &id, &[e0, e1, e2]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["FileSize"], 2 * 1024 + 10);
    // An unknown upload, and Abort.
    let r = part(&sim, key, "nope", 0, &full);
    assert_eq!(r.status, 404);
    let (id, _) = initiate(&sim, key);
    part(&sim, key, &id, 0, &full);
    assert_eq!(call(&sim, "DELETE", key, &format!("uploadId={id}"), b"").status, 200);
    assert!(sim.ufile_uploads().is_empty());
    assert_eq!(call(&sim, "DELETE", key, &format!("uploadId={id}"), b"").status, 404);
}

#[test]
fn both_listings_page_and_sign_the_bucket_resource() {
    let (_dir, sim) = start(&["--ufile-blk-size", "16"]);
    let (id, _) = initiate(&sim, "big.raw");
    let etags: Vec<String> = (0..5u8)
        .map(|n| etag(&part(&sim, "big.raw", &id, u32::from(n), &counting(16, n))))
        .collect();
    let mut seen = Vec::new();
    let mut marker = 0;
    loop {
        let r = list_parts(&sim, &id, &format!("&max-parts=2&part-number-marker={marker}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let page = r.json();
        for p in page["Parts"].as_array().unwrap() {
            assert_eq!(p["Size"], 16);
            assert!(p["LastModified"].as_u64().unwrap() > 0);
            seen.push((p["PartNum"].as_u64().unwrap(), p["Etag"].as_str().unwrap().to_string()));
        }
        if page["IsTruncated"] != true {
            break;
        }
        marker = page["NextPartNumberMarker"].as_u64().unwrap();
    }
    let expected: Vec<(u64, String)> = etags.iter().cloned().enumerate().map(|(n, e)| (n as u64, e)).collect();
    assert_eq!(seen, expected);
    // Signed for /BUCKET/KEY instead of /BUCKET/: refused.
    let wrong = test_support::sim::ufile_authorization("GET", "", BUCKET, "big.raw", Sim::KEY_PRIVATE);
    let r = sim
        .request_with(
            "GET",
            &format!("/ufile/images/?muploadpart&uploadId={id}"),
            &[("Authorization", &wrong)],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 403);

    for key in ["a/1.raw", "a/2.raw", "a/3.raw", "b.raw"] {
        initiate(&sim, key);
    }
    let mut listed = Vec::new();
    let mut marker = String::new();
    loop {
        let r = sim
            .ufile_request(
                "GET",
                BUCKET,
                "",
                &format!("muploadid&prefix=a%2F&limit=2&marker={marker}"),
                "",
                b"",
            )
            .unwrap();
        assert_eq!(r.status, 200);
        let page = r.json();
        for u in page["DataSet"].as_array().unwrap() {
            assert_eq!(u["StorageClass"], "STANDARD");
            assert!(u["StartTime"].as_u64().unwrap() > 0 && u["UploadId"].is_string());
            listed.push(u["FileName"].as_str().unwrap().to_string());
        }
        marker = page["NextMarker"].as_str().unwrap().to_string();
        if marker.is_empty() {
            break;
        }
    }
    assert_eq!(listed, ["a/1.raw", "a/2.raw", "a/3.raw"]);
    let r = sim.ufile_request("GET", BUCKET, "", "muploadid", "", b"").unwrap();
    assert_eq!(r.json()["DataSet"].as_array().unwrap().len(), 5);
    assert_eq!(requests(&sim, "ListUploads"), 3);
}

#[test]
fn upload_faults_each_do_what_they_say() {
    let (dir, sim) = start(&["--ufile-blk-size", "1024", "--seed", "3"]);
    let key = "f.raw";
    let data = counting(1024, 9);
    let (id, _) = initiate(&sim, key);

    sim.set_ufile_faults(json!({"part_error_rate": 1.0}));
    let r = part(&sim, key, &id, 0, &data);
    assert_eq!(r.status, 500);
    assert_eq!(sim.ufile_stats()["parts_stored"], 0);
    let faults = sim.set_ufile_faults(json!({"part_error_rate": 0.0, "reset_part_mid_body": 1}));
    assert_eq!(faults["reset_part_mid_body"], 1);

    let before = sim.ufile_stats()["bytes_received"].as_u64().unwrap();
    let cut = sim.ufile_request("PUT", BUCKET, key, &format!("uploadId={id}&partNumber=0"), "", &data);
    assert!(cut.is_err(), "the connection is cut: {cut:?}");
    assert!(sim.ufile_uploads()[0]["parts"].as_array().unwrap().is_empty());
    let taken = sim.ufile_stats()["bytes_received"].as_u64().unwrap() - before;
    assert!(taken <= 512, "half the body at most: {taken}");

    sim.set_ufile_faults(json!({"corrupt_part": 1}));
    let true_etag = etag(&part(&sim, key, &id, 0, &data));
    assert_eq!(true_etag, part_etag(&data));
    let mut flipped = data.clone();
    flipped[512] ^= 0xff;
    let listed = list_parts(&sim, &id, "").json();
    assert_eq!(listed["Parts"][0]["Etag"], part_etag(&flipped));
    let r = finish(&sim, key, &id, std::slice::from_ref(&true_etag));
    assert_eq!(r.status, 400);
    assert!(error_message(&r).starts_with("invalid etag"));

    sim.set_ufile_faults(json!({"corrupt_part_answer": 1}));
    let answered = etag(&part(&sim, key, &id, 0, &data));
    assert_eq!(answered, part_etag(&flipped));
    assert_eq!(list_parts(&sim, &id, "").json()["Parts"][0]["Etag"], answered);

    // A good part, then a Finish whose answer is lost: the object is made.
    let good = etag(&part(&sim, key, &id, 0, &data));
    sim.set_ufile_faults(json!({"lose_finish": 1}));
    let lost = sim.ufile_request("POST", BUCKET, key, &format!("uploadId={id}"), "", good.as_bytes());
    assert!(lost.is_err(), "no answer: {lost:?}");
    assert_eq!(std::fs::read(dir.path().join(BUCKET).join(key)).unwrap(), data);
    assert!(sim.ufile_uploads().is_empty());
    assert_eq!(sim.set_ufile_faults(json!({}))["lose_finish"], 0, "used up");

    // Bandwidth: 100 KB at 250 KB/s takes about 0.4 s.
    sim.set_ufile_faults(json!({"bandwidth_bytes_per_sec": 250_000}));
    let started = Instant::now();
    assert_eq!(call(&sim, "PUT", "slow.raw", "", &counting(100_000, 0)).status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );

    // Unknown settings are refused; a reset restores the start-up faults.
    let r = sim
        .request(
            "POST",
            "/_sim/ufile/faults",
            Some("application/json"),
            br#"{"lose_finnish": 1}"#,
        )
        .unwrap();
    assert_eq!(r.status, 400);
    sim.reset();
    let r = sim.request("GET", "/_sim/ufile/faults", None, b"").unwrap();
    assert_eq!(r.json()["bandwidth_bytes_per_sec"], 0);
    assert_eq!(sim.ufile_stats()["bytes_received"], 0);
    assert!(sim.object_requests().is_empty());
}

#[test]
fn a_part_error_rate_from_the_command_line_fails_some_parts_by_seed() {
    let (_dir, sim) = start(&[
        "--ufile-blk-size",
        "64",
        "--ufile-part-error-rate",
        "0.5",
        "--seed",
        "11",
    ]);
    let (id, _) = initiate(&sim, "r.raw");
    let statuses: Vec<u16> = (0..20)
        .map(|n| part(&sim, "r.raw", &id, n, &counting(64, 0)).status)
        .collect();
    let failed = statuses.iter().filter(|s| **s == 500).count();
    assert!((3..=17).contains(&failed), "{statuses:?}");
    assert_eq!(
        sim.ufile_stats()["parts_stored"].as_u64().unwrap() as usize,
        20 - failed
    );
}

#[test]
fn counters_count_every_operation_and_upload_byte() {
    let (_dir, sim) = start(&["--ufile-blk-size", "100"]);
    let (id, _) = initiate(&sim, "c.raw");
    let e0 = etag(&part(&sim, "c.raw", &id, 0, &counting(100, 0)));
    let e1 = etag(&part(&sim, "c.raw", &id, 1, &counting(50, 0)));
    list_parts(&sim, &id, "");
    assert_eq!(finish(&sim, "c.raw", &id, &[e0, e1]).status, 200);
    call(&sim, "PUT", "p.raw", "", &counting(30, 0));
    call(&sim, "HEAD", "p.raw", "", b"");
    call(&sim, "GET", "p.raw", "", b"");
    call(&sim, "DELETE", "p.raw", "", b"");
    let (id, _) = initiate(&sim, "d.raw");
    call(&sim, "DELETE", "d.raw", &format!("uploadId={id}"), b"");
    sim.ufile_request("GET", BUCKET, "", "muploadid", "", b"").unwrap();
    let stats = sim.ufile_stats();
    assert_eq!(
        stats["requests"],
        json!({"HEAD": 1, "GET": 1, "PutFile": 1, "InitiateMultipartUpload": 2, "UploadPart": 2,
               "FinishMultipartUpload": 1, "AbortMultipartUpload": 1, "ListParts": 1, "ListUploads": 1,
               "DeleteFile": 1})
    );
    let finish_body = stats["bytes_received"].as_u64().unwrap();
    assert_eq!(finish_body, 100 + 50 + 30, "upload bodies only");
    assert_eq!(stats["parts_stored"], 2);
}

#[test]
fn describe_bucket_names_the_buckets_under_the_ufile_dir() {
    let (_dir, sim) = start(&[]);
    let answer = sim.sign_and_post("DescribeBucket", &[("BucketName", BUCKET), ("ProjectId", "org-1")]);
    assert_eq!(answer["RetCode"], 0, "{answer}");
    let set = answer["DataSet"].as_array().unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set[0]["BucketName"], BUCKET);
    assert_eq!(set[0]["Domain"]["Src"], json!(["images.cn-bj.ufileos.com"]));
    assert_eq!(set[0]["Domain"]["Cdn"], json!([]));
    assert_eq!(
        (set[0]["Type"].as_str(), set[0]["Region"].as_str()),
        (Some("private"), Some("cn-bj2"))
    );
    assert!(set[0]["BucketId"].is_string() && set[0]["CreateTime"].as_u64().unwrap() > 0);

    let missing = sim.sign_and_post("DescribeBucket", &[("BucketName", "nosuchbucket")]);
    assert_eq!(missing["RetCode"], 15010, "{missing}");
    let all = sim.sign_and_post("DescribeBucket", &[]);
    let names: Vec<&str> = all["DataSet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["BucketName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["images", "other"], "the spool is no bucket");
    let page = sim.sign_and_post("DescribeBucket", &[("Offset", "1"), ("Limit", "1")]);
    assert_eq!(page["DataSet"][0]["BucketName"], "other");
    let unsigned = sim
        .post_form(&[("Action", "DescribeBucket"), ("PublicKey", Sim::KEY_PUBLIC)])
        .unwrap();
    assert_ne!(unsigned.ret_code(), 0);
}

#[test]
fn parts_sent_concurrently_assemble_in_part_order() {
    let (dir, sim) = start(&["--ufile-blk-size", "65536"]);
    let (id, _) = initiate(&sim, "c.raw");
    let parts: Vec<Vec<u8>> = (0..12u8).map(|n| counting(65536, n)).collect();
    let etags: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .enumerate()
            .map(|(n, data)| {
                let (sim, id) = (&sim, &id);
                scope.spawn(move || etag(&part(sim, "c.raw", id, n as u32, data)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let r = finish(&sim, "c.raw", &id, &etags);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        std::fs::read(dir.path().join(BUCKET).join("c.raw")).unwrap(),
        parts.concat()
    );
    assert_eq!(etag(&r), object_etag(&parts.concat()));
}
