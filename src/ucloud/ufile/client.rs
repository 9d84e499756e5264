//! [`UfileClient`]: the [`Store`] an upload runs against, over UFile's HTTP
//! API (PutFile, the multipart requests, their listings, DeleteFile, HEAD).
//! Every request goes through the one UFile exchange ([`super::http`]):
//! header-signed, bounded, retried on 5xx, resets and timeouts, never on
//! 4xx. Part uploads do not pass the API request-rate limiter: UFile is
//! another service with limits of its own.
//!
//! Where a bucket is served: with a base URL, path-style
//! `{base}/BUCKET/KEY` (bucket-level requests `{base}/BUCKET/?...`);
//! otherwise at the bucket's source domain, which only the UCloud API knows
//! (DescribeBucket, asked once per bucket), as `https://HOST/KEY`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::bucket::DescribeBucket;
use super::http::{Body, Failure, Reply, Request, Signer, UfileHttp, answer_of, endpoint_of, header};
use super::reader::{DEFAULT_TIMEOUT, ObjectReader, ReaderConfigError};
use super::sign::{Credentials, CredentialsError};
use super::store::{Multipart, ObjectMeta, ObjectRef, PartInfo, Store, UfileError, Unfinished};
use super::url::{encode_path, parse_base_url};
use crate::ucloud::{Backoff, Client};

/// Per-attempt deadline of a request that carries data (a part, a Finish
/// that assembles the object): 4 MiB must move within it.
pub const PART_TIMEOUT: Duration = Duration::from_secs(60);
/// Per-attempt deadline of the small requests (HEAD, Initiate, listings,
/// Abort, DeleteFile).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts after the first for 5xx answers, resets and timeouts.
pub const DEFAULT_RETRIES: u32 = 4;
/// The most of a JSON answer that is read; a longer one is refused.
const JSON_LIMIT: usize = 64 * 1024;
/// A PutFile gets one [`UfileClientConfig::part_timeout`] per this many
/// bytes: the same least rate as a part.
const BYTES_PER_PART_TIMEOUT: u64 = 4 * 1024 * 1024;
/// Page sizes that keep a page far below [`JSON_LIMIT`] (a listed part is
/// about 100 bytes of JSON, an upload about 150).
const PARTS_PER_PAGE: u32 = 200;
const UPLOADS_PER_PAGE: u32 = 100;
const OCTET_STREAM: &str = "application/octet-stream";
const TEXT_PLAIN: &str = "text/plain";

/// What a [`UfileClient`] needs.
#[derive(Clone, Debug)]
pub struct UfileClientConfig {
    /// Send requests path-style to `{base}/BUCKET/KEY` (a simulator, a proxy).
    pub base_url: Option<String>,
    /// `Err` keeps why nothing can be signed; every request then fails with it.
    pub credentials: Result<Credentials, CredentialsError>,
    pub user_agent: String,
    /// Per attempt for parts, PutFile (per 4 MiB) and Finish; default [`PART_TIMEOUT`].
    pub part_timeout: Duration,
    /// Per attempt for the other requests; default [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub backoff: Backoff,
    /// The UCloud API client, to find a bucket's host when there is no base URL.
    pub api: Option<Arc<Client>>,
    /// The project DescribeBucket looks in (the key pair's default when `None`).
    pub project_id: Option<String>,
}

impl Default for UfileClientConfig {
    fn default() -> Self {
        UfileClientConfig {
            base_url: None,
            credentials: Err(CredentialsError::NoPublicKey),
            user_agent: String::new(),
            part_timeout: PART_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_retries: DEFAULT_RETRIES,
            backoff: Backoff::default(),
            api: None,
            project_id: None,
        }
    }
}

/// UFile over HTTP. Cheap to clone; clones share the bucket hosts found.
#[derive(Clone, Debug)]
pub struct UfileClient {
    http: UfileHttp,
    base_url: Option<Url>,
    credentials: Result<Credentials, CredentialsError>,
    part_timeout: Duration,
    request_timeout: Duration,
    max_retries: u32,
    api: Option<Arc<Client>>,
    project_id: Option<String>,
    /// Bucket -> `https://HOST/`, from DescribeBucket.
    hosts: Arc<Mutex<HashMap<String, Url>>>,
}

/// InitiateMultipartUpload's answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Initiated {
    #[serde(default)]
    upload_id: String,
    #[serde(default)]
    blk_size: u64,
}

/// A page of GetMultiUploadPart.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PartsPage {
    #[serde(default)]
    parts: Option<Vec<ListedPart>>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_part_number_marker: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedPart {
    part_num: u32,
    #[serde(default)]
    etag: String,
    #[serde(default)]
    size: u64,
}

/// A page of GetMultiUploadId.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadsPage {
    #[serde(default)]
    data_set: Option<Vec<ListedUpload>>,
    #[serde(default)]
    next_marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedUpload {
    #[serde(default)]
    upload_id: String,
    #[serde(default)]
    file_name: String,
    #[serde(default)]
    start_time: Option<u64>,
}

impl UfileClient {
    pub fn new(cfg: UfileClientConfig) -> Result<UfileClient, ReaderConfigError> {
        let base_url = match cfg.base_url.as_deref().map(str::trim) {
            Some(b) if !b.is_empty() => Some(parse_base_url(b).map_err(ReaderConfigError::BaseUrl)?),
            _ => None,
        };
        let or_default = |d: Duration, default| if d.is_zero() { default } else { d };
        let request_timeout = or_default(cfg.request_timeout, REQUEST_TIMEOUT);
        Ok(UfileClient {
            http: UfileHttp::new(&cfg.user_agent, request_timeout, cfg.backoff)?,
            base_url,
            credentials: cfg.credentials,
            part_timeout: or_default(cfg.part_timeout, PART_TIMEOUT),
            request_timeout,
            max_retries: cfg.max_retries,
            api: cfg.api,
            project_id: cfg.project_id,
            hosts: Arc::default(),
        })
    }

    /// A reader of object ends (the check before an import) with this
    /// client's connections, base URL and key pair, and the reader's own
    /// short deadline.
    pub fn reader(&self) -> ObjectReader {
        ObjectReader::on(
            self.http.clone(),
            self.base_url.clone(),
            self.credentials.clone(),
            DEFAULT_TIMEOUT,
        )
    }

    // UfileError is the Store's error type: boxing it is not this file's call.
    #[allow(clippy::result_large_err)]
    fn credentials(&self) -> Result<&Credentials, UfileError> {
        self.credentials.as_ref().map_err(|e| UfileError::CannotSign(e.clone()))
    }

    /// Where `bucket`'s requests go, ending in `/`: `{base}/BUCKET/` or
    /// `https://HOST/`.
    async fn origin(&self, bucket: &str, cancel: &CancellationToken) -> Result<Url, UfileError> {
        if let Some(base) = &self.base_url {
            let mut url = base.clone();
            let path = format!("{}/{}/", base.path().trim_end_matches('/'), encode_path(bucket));
            url.set_path(&path);
            return Ok(url);
        }
        if let Some(url) = self.hosts.lock().ok().and_then(|h| h.get(bucket).cloned()) {
            return Ok(url);
        }
        let fail = |detail: String| UfileError::Bucket {
            bucket: bucket.to_owned(),
            detail,
        };
        let Some(api) = &self.api else {
            return Err(fail(
                "no UFile base URL is set and no UCloud API client is available to ask".to_owned(),
            ));
        };
        let req = DescribeBucket {
            bucket_name: bucket.to_owned(),
            project_id: self.project_id.clone(),
        };
        let answer = api.call(&req, cancel).await.map_err(|e| {
            if e.is_cancelled() {
                UfileError::Cancelled
            } else {
                fail(e.to_string())
            }
        })?;
        let domain = answer
            .source_domain(bucket)
            .ok_or_else(|| fail("DescribeBucket knows no bucket of that name in the project".to_owned()))?;
        let url = origin_of_domain(domain).ok_or_else(|| fail(format!("DescribeBucket names the host {domain:?}")))?;
        if let Ok(mut hosts) = self.hosts.lock() {
            hosts.insert(bucket.to_owned(), url.clone());
        }
        Ok(url)
    }

    /// The URL of `object`, with `query` (already encoded) when given.
    async fn object_request_url(
        &self,
        object: &ObjectRef,
        query: Option<String>,
        cancel: &CancellationToken,
    ) -> Result<Url, UfileError> {
        let mut url = self.origin(&object.bucket, cancel).await?;
        let path = format!("{}{}", url.path(), encode_path(&object.key));
        url.set_path(&path);
        url.set_query(query.as_deref());
        Ok(url)
    }

    /// A request for `object` (or the bucket, when `key` is empty), signed.
    // UfileError is the Store's error type: boxing it is not this file's call.
    #[allow(clippy::result_large_err)]
    fn request<'a>(
        &'a self,
        op: &'static str,
        shown: &'a str,
        method: Method,
        url: &'a Url,
        bucket: &'a str,
        key: &'a str,
    ) -> Result<Request<'a>, UfileError> {
        let mut req = Request::new(op, shown, method, url);
        req.signer = Some(Signer {
            credentials: self.credentials()?,
            bucket,
            key,
        });
        req.timeout = self.request_timeout;
        req.retries = self.max_retries;
        Ok(req)
    }

    /// Sends `req`; a non-2xx answer is [`UfileError::Status`].
    async fn send(&self, req: &Request<'_>, cancel: &CancellationToken) -> Result<Reply, UfileError> {
        let (op, object) = (req.op, req.object.to_owned());
        let reply = self.http.send(req, cancel).await.map_err(|failure| match failure {
            Failure::Timeout { endpoint, after } => UfileError::Timeout {
                op,
                object,
                endpoint,
                after,
            },
            Failure::Connect { endpoint, detail } | Failure::Network { endpoint, detail } => UfileError::Network {
                op,
                object,
                endpoint,
                detail,
            },
            // The data to send could not be read: nothing reached UFile.
            Failure::Local { detail } => UfileError::Network {
                op,
                object,
                endpoint: endpoint_of(req.url),
                detail,
            },
            Failure::CannotSign(e) => UfileError::CannotSign(e),
            Failure::Cancelled => UfileError::Cancelled,
        })?;
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(UfileError::Status {
                op: req.op,
                object: req.object.to_owned(),
                answer: answer_of(&reply),
            })
        }
    }

    /// A request whose success answer is JSON.
    async fn send_json<T: DeserializeOwned>(
        &self,
        req: &mut Request<'_>,
        cancel: &CancellationToken,
    ) -> Result<(Reply, T), UfileError> {
        req.limit = JSON_LIMIT + 1;
        let reply = self.send(req, cancel).await?;
        let protocol = |detail: String| UfileError::Protocol {
            op: req.op,
            object: req.object.to_owned(),
            detail,
        };
        if reply.body.len() > JSON_LIMIT {
            return Err(protocol(format!("the answer is longer than {} KiB", JSON_LIMIT / 1024)));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&reply.body).map_err(|e| protocol(format!("the answer is not JSON: {e}")))?;
        // A 200 that still carries an error.
        if value
            .get("RetCode")
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|c| c != 0)
        {
            return Err(UfileError::Status {
                op: req.op,
                object: req.object.to_owned(),
                answer: answer_of(&reply),
            });
        }
        let typed = T::deserialize(value).map_err(|e| protocol(e.to_string()))?;
        Ok((reply, typed))
    }
}

/// `https://HOST/` for a source domain (a bare host, or a URL).
fn origin_of_domain(domain: &str) -> Option<Url> {
    let url = if domain.contains("://") {
        Url::parse(domain).ok()?
    } else {
        Url::parse(&format!("https://{domain}/")).ok()?
    };
    if url.host_str().is_none_or(str::is_empty) || !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let mut origin = url;
    origin.set_path("/");
    origin.set_query(None);
    origin.set_fragment(None);
    Some(origin)
}

/// A query string: a bare flag (`uploads`, `muploadpart`) first, then
/// `key=value` pairs, values encoded.
fn query(flag: Option<&str>, pairs: &[(&str, &str)]) -> String {
    let mut parts: Vec<String> = flag.map(str::to_owned).into_iter().collect();
    for (k, v) in pairs {
        let v: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
        parts.push(format!("{k}={v}"));
    }
    parts.join("&")
}

/// The `ETag` header without its quotes.
fn etag_of(reply: &Reply) -> Option<String> {
    header(&reply.headers, reqwest::header::ETAG.as_str())
        .map(|e| e.trim_matches('"').to_owned())
        .filter(|e| !e.is_empty())
}

// UfileError is the Store's error type: boxing it is not this file's call.
#[allow(clippy::result_large_err)]
fn required_etag(reply: &Reply, req: &Request<'_>) -> Result<String, UfileError> {
    etag_of(reply).ok_or_else(|| UfileError::Protocol {
        op: req.op,
        object: req.object.to_owned(),
        detail: "no ETag header".to_owned(),
    })
}

#[async_trait]
impl Store for UfileClient {
    async fn head(&self, object: &ObjectRef, cancel: &CancellationToken) -> Result<Option<ObjectMeta>, UfileError> {
        let shown = object.to_string();
        let url = self.object_request_url(object, None, cancel).await?;
        let req = self.request("HeadFile", &shown, Method::HEAD, &url, &object.bucket, &object.key)?;
        let reply = match self.send(&req, cancel).await {
            Ok(r) => r,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let size = header(&reply.headers, "content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| UfileError::Protocol {
                op: req.op,
                object: shown.clone(),
                detail: "no Content-Length header".to_owned(),
            })?;
        Ok(Some(ObjectMeta {
            size,
            etag: etag_of(&reply),
        }))
    }

    async fn put_file(
        &self,
        object: &ObjectRef,
        body: &Path,
        len: u64,
        cancel: &CancellationToken,
    ) -> Result<String, UfileError> {
        let shown = object.to_string();
        let url = self.object_request_url(object, None, cancel).await?;
        let mut req = self.request("PutFile", &shown, Method::PUT, &url, &object.bucket, &object.key)?;
        req.content_type = Some(OCTET_STREAM);
        req.body = Body::File {
            path: body.to_owned(),
            offset: 0,
            len,
        };
        let periods = len.div_ceil(BYTES_PER_PART_TIMEOUT).max(1);
        req.timeout = self
            .part_timeout
            .saturating_mul(u32::try_from(periods).unwrap_or(u32::MAX));
        let reply = self.send(&req, cancel).await?;
        required_etag(&reply, &req)
    }

    async fn initiate(&self, object: &ObjectRef, cancel: &CancellationToken) -> Result<Multipart, UfileError> {
        let shown = object.to_string();
        let url = self
            .object_request_url(object, Some(query(Some("uploads"), &[])), cancel)
            .await?;
        let mut req = self.request(
            "InitiateMultipartUpload",
            &shown,
            Method::POST,
            &url,
            &object.bucket,
            &object.key,
        )?;
        req.content_type = Some(OCTET_STREAM);
        req.body = Body::Bytes(Bytes::new());
        let (_, answer): (_, Initiated) = self.send_json(&mut req, cancel).await?;
        if answer.upload_id.trim().is_empty() || answer.blk_size == 0 {
            return Err(UfileError::Protocol {
                op: req.op,
                object: shown,
                detail: format!(
                    "UploadId {:?} and BlkSize {} are not a usable upload",
                    answer.upload_id, answer.blk_size
                ),
            });
        }
        Ok(Multipart {
            upload_id: answer.upload_id,
            blk_size: answer.blk_size,
        })
    }

    async fn upload_part(
        &self,
        object: &ObjectRef,
        upload_id: &str,
        number: u32,
        data: Bytes,
        cancel: &CancellationToken,
    ) -> Result<String, UfileError> {
        let shown = object.to_string();
        let number = number.to_string();
        let q = query(None, &[("uploadId", upload_id), ("partNumber", &number)]);
        let url = self.object_request_url(object, Some(q), cancel).await?;
        let mut req = self.request("UploadPart", &shown, Method::PUT, &url, &object.bucket, &object.key)?;
        req.content_type = Some(OCTET_STREAM);
        req.body = Body::Bytes(data);
        req.timeout = self.part_timeout;
        let reply = self.send(&req, cancel).await?;
        required_etag(&reply, &req)
    }

    async fn finish(
        &self,
        object: &ObjectRef,
        upload_id: &str,
        etags: &[String],
        cancel: &CancellationToken,
    ) -> Result<String, UfileError> {
        let shown = object.to_string();
        let q = query(None, &[("uploadId", upload_id)]);
        let url = self.object_request_url(object, Some(q), cancel).await?;
        let mut req = self.request(
            "FinishMultipartUpload",
            &shown,
            Method::POST,
            &url,
            &object.bucket,
            &object.key,
        )?;
        req.content_type = Some(TEXT_PLAIN);
        req.body = Body::Bytes(Bytes::from(etags.join(",")));
        // UFile assembles the object before it answers.
        req.timeout = self.part_timeout;
        let reply = self.send(&req, cancel).await?;
        required_etag(&reply, &req)
    }

    /// An upload already gone (aborted by an earlier attempt whose answer
    /// was lost) is not an error.
    async fn abort(&self, object: &ObjectRef, upload_id: &str, cancel: &CancellationToken) -> Result<(), UfileError> {
        let shown = object.to_string();
        let q = query(None, &[("uploadId", upload_id)]);
        let url = self.object_request_url(object, Some(q), cancel).await?;
        let req = self.request(
            "AbortMultipartUpload",
            &shown,
            Method::DELETE,
            &url,
            &object.bucket,
            &object.key,
        )?;
        match self.send(&req, cancel).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn list_parts(
        &self,
        object: &ObjectRef,
        upload_id: &str,
        cancel: &CancellationToken,
    ) -> Result<Vec<PartInfo>, UfileError> {
        let shown = object.to_string();
        let origin = self.origin(&object.bucket, cancel).await?;
        let mut parts = std::collections::BTreeMap::new();
        let mut marker: u32 = 0;
        let max = PARTS_PER_PAGE.to_string();
        loop {
            let m = marker.to_string();
            let mut url = origin.clone();
            let pairs = [("uploadId", upload_id), ("max-parts", &max), ("part-number-marker", &m)];
            url.set_query(Some(&query(Some("muploadpart"), &pairs)));
            // Bucket-level: signed for `/BUCKET/`, as UFile's SDKs sign it.
            let mut req = self.request("GetMultiUploadPart", &shown, Method::GET, &url, &object.bucket, "")?;
            let (_, page): (_, PartsPage) = self.send_json(&mut req, cancel).await?;
            for p in page.parts.unwrap_or_default() {
                parts.insert(
                    p.part_num,
                    PartInfo {
                        number: p.part_num,
                        etag: p.etag,
                        size: p.size,
                    },
                );
            }
            if !page.is_truncated {
                return Ok(parts.into_values().collect());
            }
            if page.next_part_number_marker <= marker {
                return Err(UfileError::Protocol {
                    op: req.op,
                    object: shown,
                    detail: format!(
                        "a truncated page whose next marker {} does not advance past {marker}",
                        page.next_part_number_marker
                    ),
                });
            }
            marker = page.next_part_number_marker;
        }
    }

    async fn list_unfinished(
        &self,
        bucket: &str,
        prefix: &str,
        cancel: &CancellationToken,
    ) -> Result<Vec<Unfinished>, UfileError> {
        let shown = format!("{bucket}/{prefix}*");
        let origin = self.origin(bucket, cancel).await?;
        let limit = UPLOADS_PER_PAGE.to_string();
        let mut found = Vec::new();
        let mut seen_markers = std::collections::HashSet::new();
        let mut marker = String::new();
        loop {
            let mut url = origin.clone();
            let pairs = [("prefix", prefix), ("marker", marker.as_str()), ("limit", &limit)];
            url.set_query(Some(&query(Some("muploadid"), &pairs)));
            let mut req = self.request("GetMultiUploadId", &shown, Method::GET, &url, bucket, "")?;
            let (_, page): (_, UploadsPage) = self.send_json(&mut req, cancel).await?;
            found.extend(
                page.data_set
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|u| !u.upload_id.is_empty() && u.file_name.starts_with(prefix))
                    .map(|u| Unfinished {
                        upload_id: u.upload_id,
                        key: u.file_name,
                        started: u.start_time,
                    }),
            );
            match page.next_marker.filter(|m| !m.is_empty()) {
                None => return Ok(found),
                Some(next) if next == marker || !seen_markers.insert(next.clone()) => {
                    return Err(UfileError::Protocol {
                        op: req.op,
                        object: shown,
                        detail: format!("the listing's NextMarker {next:?} repeats an earlier page"),
                    });
                }
                Some(next) => marker = next,
            }
        }
    }

    async fn delete(&self, object: &ObjectRef, cancel: &CancellationToken) -> Result<(), UfileError> {
        let shown = object.to_string();
        let url = self.object_request_url(object, None, cancel).await?;
        let req = self.request("DeleteFile", &shown, Method::DELETE, &url, &object.bucket, &object.key)?;
        match self.send(&req, cancel).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn object_url(&self, object: &ObjectRef, cancel: &CancellationToken) -> Result<url::Url, UfileError> {
        self.object_request_url(object, None, cancel).await
    }
}

#[cfg(test)]
mod tests;
