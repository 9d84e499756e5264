//! The UFile client against a scripted server: what each operation sends
//! (request line, signature, body), how it reads answers (pages, ETags,
//! errors), and what it does when the server fails, stalls or the caller
//! cancels.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use test_support::scripted::{Reply, ScriptedServer, Seen};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::ucloud::ufile::sign::{StringToSign, verify};
use crate::ucloud::{ClientConfig, Secret};

const PUB: &str = "ucloud-test-public@example.com";
const PRIV: &str = "private-key-never-shown";

fn config(base: Option<String>) -> UfileClientConfig {
    UfileClientConfig {
        base_url: base,
        credentials: Credentials::new(PUB, Secret::new(PRIV)),
        user_agent: "tpu-test".into(),
        part_timeout: Duration::from_millis(400),
        request_timeout: Duration::from_millis(300),
        max_retries: 2,
        backoff: Backoff::none(),
        ..Default::default()
    }
}

/// A client sending path-style under `{server}/ufile`.
fn client(server: &ScriptedServer) -> UfileClient {
    UfileClient::new(config(Some(format!("{}/ufile", server.base_url)))).unwrap()
}

fn object() -> ObjectRef {
    ObjectRef::new("bkt", "dir/disk image.raw")
}

const OBJECT_PATH: &str = "/ufile/bkt/dir/disk%20image.raw";

/// The Authorization header is UFile's signature of what was sent.
fn assert_signed(seen: &Seen, bucket: &str, key: &str) {
    let auth = seen.header("Authorization").expect("Authorization header");
    let (public, signature) = auth
        .strip_prefix("UCloud ")
        .and_then(|a| a.rsplit_once(':'))
        .expect("UCloud PUB:SIG");
    assert_eq!(public, PUB);
    let date = seen.header("Date").expect("a signed Date");
    let sts = StringToSign {
        content_type: seen.header("Content-Type").unwrap_or_default(),
        ..StringToSign::dated(seen.method(), bucket, key, date)
    };
    assert!(
        verify(&Secret::new(PRIV), &sts.to_string(), signature),
        "{} not signed for {sts:?}",
        seen.request_line
    );
}

fn etag(status: u16, etag: &str) -> Reply {
    Reply::json(status, "").header("ETag", &format!("\"{etag}\""))
}

async fn start(script: Vec<Reply>) -> ScriptedServer {
    ScriptedServer::start(script).await.unwrap()
}

#[tokio::test]
async fn every_object_operation_sends_its_signed_request() {
    let server = ScriptedServer::respond_with(|_, seen| {
        let target = seen.target();
        let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
        Some(match (seen.method(), query) {
            ("HEAD", _) => Reply::json(200, vec![0u8; 1234])
                .header("ETag", "\"object-etag\"")
                .head_only(),
            ("PUT", "") => etag(200, "put-etag"),
            ("POST", "uploads") => Reply::json(
                200,
                r#"{"UploadId":"up-1","BlkSize":4194304,"Bucket":"bkt","Key":"dir/disk image.raw"}"#,
            ),
            ("PUT", q) if q.starts_with("uploadId=") => etag(200, "part-etag"),
            ("POST", q) if q.starts_with("uploadId=") => {
                Reply::json(200, r#"{"Bucket":"bkt","Key":"dir/disk image.raw","FileSize":5}"#)
                    .header("ETag", "\"final-etag\"")
            }
            ("DELETE", q) if q.starts_with("uploadId=") => Reply::json(200, ""),
            ("DELETE", _) => Reply::json(404, r#"{"RetCode":-148654,"ErrMsg":"file not exist"}"#),
            _ => Reply::json(400, "{}"),
        })
    })
    .await
    .unwrap();
    let c = client(&server);
    let cancel = CancellationToken::new();
    let o = object();

    let meta = c.head(&o, &cancel).await.unwrap();
    assert_eq!(
        meta,
        Some(ObjectMeta {
            size: 1234,
            etag: Some("object-etag".into())
        })
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"hello").unwrap();
    assert_eq!(c.put_file(&o, file.path(), 5, &cancel).await.unwrap(), "put-etag");
    let m = c.initiate(&o, &cancel).await.unwrap();
    assert_eq!(
        m,
        Multipart {
            upload_id: "up-1".into(),
            blk_size: 4194304
        }
    );
    let part = c
        .upload_part(&o, "up-1", 0, Bytes::from_static(b"part-0"), &cancel)
        .await
        .unwrap();
    assert_eq!(part, "part-etag");
    let etags = vec!["e0".to_owned(), "e1".to_owned()];
    assert_eq!(c.finish(&o, "up-1", &etags, &cancel).await.unwrap(), "final-etag");
    c.abort(&o, "up-1", &cancel).await.unwrap();
    c.delete(&o, &cancel).await.unwrap();

    let seen = server.seen();
    let lines: Vec<&str> = seen.iter().map(|s| s.request_line.as_str()).collect();
    assert_eq!(
        lines,
        [
            format!("HEAD {OBJECT_PATH} HTTP/1.1"),
            format!("PUT {OBJECT_PATH} HTTP/1.1"),
            format!("POST {OBJECT_PATH}?uploads HTTP/1.1"),
            format!("PUT {OBJECT_PATH}?uploadId=up-1&partNumber=0 HTTP/1.1"),
            format!("POST {OBJECT_PATH}?uploadId=up-1 HTTP/1.1"),
            format!("DELETE {OBJECT_PATH}?uploadId=up-1 HTTP/1.1"),
            format!("DELETE {OBJECT_PATH} HTTP/1.1"),
        ]
    );
    for s in &seen {
        assert_signed(s, "bkt", "dir/disk image.raw");
        assert_eq!(s.header("User-Agent"), Some("tpu-test"));
    }
    assert_eq!(seen[1].body, b"hello");
    assert_eq!(seen[1].header("Content-Length"), Some("5"));
    assert_eq!(seen[1].header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(seen[3].body, b"part-0");
    assert_eq!(seen[3].header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(seen[4].body_text(), "e0,e1");
    assert_eq!(seen[4].header("Content-Type"), Some("text/plain"));
}

#[tokio::test]
async fn head_of_a_missing_object_is_none_and_answers_are_checked() {
    let server = start(vec![
        Reply::json(404, "").head_only(),
        // No Content-Length to tell the size.
        Reply::json(200, "").length(test_support::scripted::Length::CloseDelimited),
        Reply::json(200, r#"{"UploadId":"","BlkSize":0}"#),
        Reply::huge(200, r#"{"UploadId":"u","BlkSize":4,"Pad":""#, 70_000),
        Reply::json(200, ""),
    ])
    .await;
    let c = client(&server);
    let cancel = CancellationToken::new();
    assert_eq!(c.head(&object(), &cancel).await.unwrap(), None);
    let e = c.head(&object(), &cancel).await.unwrap_err();
    assert!(matches!(e, UfileError::Protocol { .. }), "{e}");
    let e = c.initiate(&object(), &cancel).await.unwrap_err();
    assert!(matches!(e, UfileError::Protocol { .. }), "{e}");
    let e = c.initiate(&object(), &cancel).await.unwrap_err();
    assert!(e.to_string().contains("longer than 64 KiB"), "{e}");
    let e = c
        .upload_part(&object(), "u", 1, Bytes::from_static(b"x"), &cancel)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no ETag"), "{e}");
    assert_eq!(server.requests(), 5, "none of these is retried");
}

#[tokio::test]
async fn list_parts_reads_every_page_signed_for_the_bucket() {
    let server = start(vec![
        Reply::json(
            200,
            r#"{"Parts":[{"PartNum":1,"Etag":"e1","Size":4,"LastModified":1},{"PartNum":0,"Etag":"e0","Size":4}],
                "IsTruncated":true,"NextPartNumberMarker":2}"#,
        ),
        Reply::json(
            200,
            r#"{"Parts":[{"PartNum":2,"Etag":"e2","Size":3}],"IsTruncated":false,"NextPartNumberMarker":0}"#,
        ),
    ])
    .await;
    let c = client(&server);
    let parts = c
        .list_parts(&object(), "up 1", &CancellationToken::new())
        .await
        .unwrap();
    let got: Vec<(u32, &str, u64)> = parts.iter().map(|p| (p.number, p.etag.as_str(), p.size)).collect();
    assert_eq!(got, [(0, "e0", 4), (1, "e1", 4), (2, "e2", 3)]);
    let seen = server.seen();
    assert_eq!(
        seen.iter().map(Seen::target).collect::<Vec<_>>(),
        [
            "/ufile/bkt/?muploadpart&uploadId=up+1&max-parts=200&part-number-marker=0",
            "/ufile/bkt/?muploadpart&uploadId=up+1&max-parts=200&part-number-marker=2",
        ]
    );
    for s in &seen {
        assert_signed(s, "bkt", "");
    }

    // A truncated page that does not advance is refused, not looped on.
    let server = start(vec![Reply::json(
        200,
        r#"{"Parts":[],"IsTruncated":true,"NextPartNumberMarker":0}"#,
    )])
    .await;
    let e = client(&server)
        .list_parts(&object(), "u", &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, UfileError::Protocol { .. }), "{e}");
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn list_unfinished_reads_every_page() {
    let server = start(vec![
        Reply::json(
            200,
            r#"{"RetCode":0,"NextMarker":"m 1","DataSet":[
                {"UploadId":"u1","FileName":"dir/a","StartTime":1484116878,"StorageClass":"STANDARD"},
                {"UploadId":"u2","FileName":"dir/b"}]}"#,
        ),
        Reply::json(
            200,
            r#"{"RetCode":0,"ErrMsg":"","NextMarker":"","DataSet":[{"UploadId":"u3","FileName":"dir/c","StartTime":5}]}"#,
        ),
    ])
    .await;
    let c = client(&server);
    let found = c
        .list_unfinished("bkt", "dir/", &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        found,
        [
            Unfinished {
                upload_id: "u1".into(),
                key: "dir/a".into(),
                started: Some(1484116878)
            },
            Unfinished {
                upload_id: "u2".into(),
                key: "dir/b".into(),
                started: None
            },
            Unfinished {
                upload_id: "u3".into(),
                key: "dir/c".into(),
                started: Some(5)
            },
        ]
    );
    let seen = server.seen();
    assert_eq!(
        seen.iter().map(Seen::target).collect::<Vec<_>>(),
        [
            "/ufile/bkt/?muploadid&prefix=dir%2F&marker=&limit=100",
            "/ufile/bkt/?muploadid&prefix=dir%2F&marker=m+1&limit=100",
        ]
    );
    for s in &seen {
        assert_signed(s, "bkt", "");
    }
}

#[tokio::test]
async fn server_errors_are_retried_and_each_attempt_resends_the_part() {
    let server = start(vec![
        Reply::json(500, r#"{"RetCode":-1,"ErrMsg":"internal"}"#),
        Reply::html(503, "<html>busy</html>"),
        etag(200, "part-etag"),
    ])
    .await;
    let c = client(&server);
    let part = c
        .upload_part(
            &object(),
            "u",
            3,
            Bytes::from(vec![7u8; 10_000]),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(part, "part-etag");
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.body, vec![7u8; 10_000]);
        assert_signed(s, "bkt", "dir/disk image.raw");
    }

    // Retries run out: the last 5xx is the error.
    let server = start(vec![Reply::json(502, r#"{"RetCode":-2,"ErrMsg":"bad gateway"}"#)]).await;
    let e = client(&server)
        .delete(&object(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(502));
    assert_eq!(server.requests(), 3, "1 + max_retries");
}

#[tokio::test]
async fn put_file_streams_the_file_again_for_each_attempt() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    let server = start(vec![Reply::json(500, "{}"), etag(200, "whole")]).await;
    let c = client(&server);
    let got = c
        .put_file(&object(), file.path(), data.len() as u64, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(got, "whole");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.header("Content-Length"), Some("200000"));
        assert!(s.body == data, "the whole file, every attempt");
        assert_signed(s, "bkt", "dir/disk image.raw");
    }

    // A file that cannot be read is not sent, and not retried.
    let missing = file.path().with_extension("gone");
    let server = start(vec![etag(200, "x")]).await;
    let e = client(&server)
        .put_file(&object(), &missing, 5, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn client_errors_are_final_and_quote_ufile_without_the_signature() {
    let server = start(vec![
        Reply::json(403, r#"{"RetCode":-148658,"ErrMsg":"invalid signature"}"#).header("X-SessionId", "sess-9f"),
    ])
    .await;
    let c = client(&server);
    let e = c.initiate(&object(), &CancellationToken::new()).await.unwrap_err();
    assert_eq!(server.requests(), 1, "a 4xx is not retried");
    assert_eq!(e.status(), Some(403));
    assert_eq!(e.session_id(), Some("sess-9f"));
    let shown = e.to_string();
    for want in [
        "InitiateMultipartUpload",
        "bkt/dir/disk image.raw",
        "-148658",
        "invalid signature",
        "sess-9f",
    ] {
        assert!(shown.contains(want), "{want} missing from {shown}");
    }
    let auth = server.seen()[0].header("Authorization").unwrap().to_owned();
    let signature = auth.rsplit_once(':').unwrap().1;
    let shown = format!("{e} {e:?} {c:?}");
    for secret in [signature, PRIV, "Authorization", "UCloud "] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
}

#[tokio::test]
async fn a_reset_in_the_middle_of_an_answer_is_retried() {
    let page = r#"{"Parts":[{"PartNum":0,"Etag":"e0","Size":4}],"IsTruncated":false}"#;
    let server = start(vec![
        Reply::json(200, page).reset_after(10),
        Reply::drop_connection(),
        Reply::json(200, page),
    ])
    .await;
    let parts = client(&server)
        .list_parts(&object(), "u", &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_after_each_attempt() {
    let server = start(vec![Reply::hang()]).await;
    let c = UfileClient::new(UfileClientConfig {
        max_retries: 1,
        ..config(Some(server.base_url.clone()))
    })
    .unwrap();
    let started = Instant::now();
    let e = c.head(&object(), &CancellationToken::new()).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(e, UfileError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    assert_eq!(server.requests(), 2);
    assert!(e.to_string().contains(&server.base_url), "{e}");
}

#[tokio::test]
async fn cancellation_ends_a_request_in_flight_at_once() {
    let server = start(vec![Reply::hang()]).await;
    let c = client(&server);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let requested = async {
        server.wait_for_requests(1).await;
        trigger.cancel();
        Instant::now()
    };
    let o = object();
    let (result, cancelled_at) = tokio::join!(
        c.upload_part(&o, "u", 0, Bytes::from_static(b"abc"), &cancel),
        requested
    );
    assert_eq!(result.unwrap_err(), UfileError::Cancelled);
    assert!(cancelled_at.elapsed() < Duration::from_millis(100));

    // Cancelled before anything is sent: nothing is.
    let server = start(vec![etag(200, "x")]).await;
    let e = client(&server).delete(&object(), &cancel).await.unwrap_err();
    assert_eq!(e, UfileError::Cancelled);
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn without_credentials_nothing_is_sent() {
    let server = start(vec![etag(200, "x")]).await;
    let c = UfileClient::new(UfileClientConfig {
        credentials: Err(CredentialsError::NoPrivateKey),
        ..config(Some(server.base_url.clone()))
    })
    .unwrap();
    let e = c.head(&object(), &CancellationToken::new()).await.unwrap_err();
    assert_eq!(e, UfileError::CannotSign(CredentialsError::NoPrivateKey));
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn object_urls_follow_the_base_url_path_style() {
    let c = UfileClient::new(config(Some("http://127.0.0.1:9/prefix/".into()))).unwrap();
    let url = c
        .object_url(&ObjectRef::new("bkt", "a/b c+d.raw"), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(url.as_str(), "http://127.0.0.1:9/prefix/bkt/a/b%20c%2Bd.raw");
    assert!(UfileClient::new(config(Some("ftp://x".into()))).is_err());
}

fn api_client(server: &ScriptedServer) -> Arc<Client> {
    let cfg = ClientConfig {
        base_url: server.base_url.clone(),
        public_key: PUB.into(),
        private_key: Secret::new(PRIV),
        max_retries: 0,
        ..Default::default()
    };
    Arc::new(
        Client::new(cfg)
            .unwrap()
            .with_own_limiter()
            .with_backoff(Backoff::none()),
    )
}

#[tokio::test]
async fn without_a_base_url_describe_bucket_names_the_host_once() {
    let api = start(vec![Reply::json(
        200,
        r#"{"RetCode":0,"Action":"DescribeBucketResponse","DataSet":[{"BucketName":"bkt","Type":"private",
            "Domain":{"Src":["bkt.cn-bj.ufileos.com"],"Cdn":[],"CustomSrc":[],"CustomCdn":[]}}]}"#,
    )])
    .await;
    let c = UfileClient::new(UfileClientConfig {
        api: Some(api_client(&api)),
        project_id: Some("org-7".into()),
        ..config(None)
    })
    .unwrap();
    let cancel = CancellationToken::new();
    for key in ["dir/disk image.raw", "other"] {
        let url = c.object_url(&ObjectRef::new("bkt", key), &cancel).await.unwrap();
        let want = format!("https://bkt.cn-bj.ufileos.com/{}", encode_path(key));
        assert_eq!(url.as_str(), want);
    }
    let seen = api.seen();
    assert_eq!(seen.len(), 1, "the host is asked once per bucket");
    assert_eq!(seen[0].action.as_deref(), Some("DescribeBucket"));
    let form = seen[0].body_text();
    assert!(
        form.contains("BucketName=bkt") && form.contains("ProjectId=org-7"),
        "{form}"
    );

    // A bucket UCloud does not know, and no way to ask.
    let api = start(vec![Reply::json(200, r#"{"RetCode":0,"DataSet":[]}"#)]).await;
    let c = UfileClient::new(UfileClientConfig {
        api: Some(api_client(&api)),
        ..config(None)
    })
    .unwrap();
    let e = c.head(&object(), &cancel).await.unwrap_err();
    assert!(
        matches!(&e, UfileError::Bucket { bucket, .. } if bucket == "bkt"),
        "{e}"
    );
    let e = UfileClient::new(config(None))
        .unwrap()
        .object_url(&object(), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, UfileError::Bucket { .. }), "{e}");
}

/// Every event's fields, rendered `name=value`.
#[derive(Clone, Default)]
struct Lines(Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut fields = Fields(format!("{} ", event.metadata().target()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

#[tokio::test]
async fn each_attempt_is_logged_without_the_signature() {
    use tracing_subscriber::layer::SubscriberExt;
    let lines = Lines::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(lines.clone()));
    let server = start(vec![
        Reply::json(503, "{}"),
        Reply::json(403, r#"{"RetCode":-148658,"ErrMsg":"invalid signature"}"#).header("X-SessionId", "sess-1"),
    ])
    .await;
    let c = client(&server);
    c.head(&object(), &CancellationToken::new()).await.unwrap_err();
    let auth = server.seen()[1].header("Authorization").unwrap().to_owned();
    let signature = auth.rsplit_once(':').unwrap().1.to_owned();
    let lines = lines.0.lock().unwrap().clone();
    let ours: Vec<&String> = lines.iter().filter(|l| l.starts_with("tpu::ufile ")).collect();
    assert_eq!(ours.len(), 2, "{lines:#?}");
    for (line, (status, attempt)) in ours.iter().zip([(503, 1), (403, 2)]) {
        for want in [
            "op=\"HeadFile\"".to_owned(),
            "object=\"bkt/dir/disk image.raw\"".to_owned(),
            format!("status={status}"),
            format!("attempt={attempt}"),
            "duration_ms=".to_owned(),
        ] {
            assert!(line.contains(&want), "{want} missing from {line}");
        }
    }
    for line in &lines {
        assert!(!line.contains(&signature) && !line.contains(PRIV), "{line}");
    }
}
