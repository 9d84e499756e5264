//! The `ucloud-sim` binary itself: its `--help`, how it refuses bad flags,
//! the `listening on` line callers read, and a SIGTERM that saves the state
//! file and exits cleanly. (The simulator's behaviour is tested in-process,
//! in `sim.rs`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const SIM: &str = env!("CARGO_BIN_EXE_ucloud-sim");

#[test]
fn help_documents_the_flags_and_bad_flags_exit_2() {
    let help = Command::new(SIM).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for fact in [
        "--listen",
        "--key",
        "UCLOUD_SIM_KEYS",
        "--making-time",
        "--terminate-making",
        "--fault-rate",
        "--fault-kinds",
        "--lost-response-rate",
        "--latency",
        "--rate-limit",
        "--seed",
        "--state-file",
        "--quiet",
        "--ufile-dir",
        "/ufile/BUCKET/KEY",
        "/_sim/ufile/journal",
        "/_sim/ufile/faults",
        "--ufile-blk-size",
        "--ufile-part-error-rate",
        "--ufile-bandwidth",
        "corrupt",
        "uimage-base-centos79",
        "uimage-base-ubuntu2204",
        "/_sim/images",
        "listening on",
    ] {
        assert!(text.contains(fact), "--help lacks {fact}:\n{text}");
    }
    let bad = Command::new(SIM).arg("--fault-rate=2").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--fault-rate"));
}

#[test]
fn sigterm_saves_the_state_file_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut child = Command::new(SIM)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--making-time",
            "0s",
            "--quiet",
            "--state-file",
        ])
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("ucloud-sim listening on http://")
        .unwrap_or_else(|| panic!("first stdout line: {line:?}"))
        .to_string();

    // One signed import with the demo key pair, the binary's default.
    let mut params = vec![
        ("Action", "ImportCustomImage"),
        ("Region", "cn-bj2"),
        ("ImageName", "kept"),
        ("UFileUrl", "https://bucket.cn-bj.ufileos.com/disk.raw"),
        ("OsType", "CentOS"),
        ("OsName", "CentOS 7"),
        ("Format", "RAW"),
        ("Auth", "true"),
        ("PublicKey", ucloud_sim::cli::DEMO_PUBLIC_KEY),
    ];
    let signature = ucloud_sim::sign::signature(params.iter().copied(), ucloud_sim::cli::DEMO_PRIVATE_KEY);
    params.push(("Signature", &signature));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("\"RetCode\":0"), "{answer}");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains("\"ImageName\": \"kept\""), "{saved}");
}
