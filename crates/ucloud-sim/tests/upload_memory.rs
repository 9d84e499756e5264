//! A 64 MiB multipart upload through the simulator does not grow the
//! process's memory by its size: parts are streamed to disk as they arrive
//! and Finish concatenates them from disk. Alone in its test binary, so no
//! other test's allocations blur the measure.

use test_support::sim::Sim;

const PART: usize = 4 << 20;
const PARTS: usize = 16;

/// A line of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`); `None` off Linux.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_64_mib_upload_goes_to_disk_not_to_memory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    let sim = Sim::start(&["--quiet", "--ufile-dir", &dir.path().to_string_lossy()]);
    let mut buf = vec![0u8; PART];
    let init = sim
        .ufile_request("POST", "images", "big.raw", "uploads", "", b"")
        .unwrap();
    let id = init.json()["UploadId"].as_str().unwrap().to_string();
    // Warm up the allocator and the connection code with one part first.
    let first = sim
        .ufile_request(
            "PUT",
            "images",
            "big.raw",
            &format!("uploadId={id}&partNumber=0"),
            "application/octet-stream",
            &buf,
        )
        .unwrap();
    let mut etags = vec![first.header("ETag").unwrap().trim_matches('"').to_string()];
    let baseline = status_kib("VmRSS:");
    for n in 1..PARTS {
        buf.iter_mut().for_each(|b| *b = n as u8);
        let r = sim
            .ufile_request(
                "PUT",
                "images",
                "big.raw",
                &format!("uploadId={id}&partNumber={n}"),
                "application/octet-stream",
                &buf,
            )
            .unwrap();
        assert_eq!(r.status, 200);
        etags.push(r.header("ETag").unwrap().trim_matches('"').to_string());
        let spooled = dir.path().join(".multipart").join(&id).join("data");
        assert_eq!(std::fs::metadata(spooled).unwrap().len(), ((n + 1) * PART) as u64);
    }
    let done = sim
        .ufile_request(
            "POST",
            "images",
            "big.raw",
            &format!("uploadId={id}"),
            "text/plain",
            etags.join(",").as_bytes(),
        )
        .unwrap();
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(done.json()["FileSize"], (PART * PARTS) as u64);
    assert_eq!(
        std::fs::metadata(dir.path().join("images/big.raw")).unwrap().len(),
        (PART * PARTS) as u64
    );
    let head = sim.ufile_request("HEAD", "images", "big.raw", "", "", b"").unwrap();
    assert_eq!(head.header("ETag"), done.header("ETag"));
    if let (Some(baseline), Some(peak)) = (baseline, status_kib("VmHWM:")) {
        let grown_mib = peak.saturating_sub(baseline) / 1024;
        eprintln!("peak memory grew by {grown_mib} MiB");
        assert!(grown_mib < 32, "memory grew by {grown_mib} MiB for a 64 MiB upload");
    }
}
