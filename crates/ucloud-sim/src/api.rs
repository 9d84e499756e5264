//! The UCloud actions the provider uses, as pure functions of the request
//! parameters and the store: ImportCustomImage, CopyCustomImage,
//! DescribeImage, TerminateCustomImage, and UFile's DescribeBucket (which
//! finds where a bucket is served). Validation and RetCodes follow
//! UCloud's behaviour (see `ucloud-api.md` in the project notes).

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::cli::{Keys, TerminateMaking};
use crate::image_file;
use crate::params::Params;
use crate::store::{self, CopyTarget, DEFAULT_PROJECT, Image, State, Store};
use crate::ufile::{self, Fetched, Objects};

/// The image file formats ImportCustomImage accepts, in this exact casing.
pub const FORMATS: [&str; 4] = ["RAW", "VHD", "VMDK", "qcow2"];

/// An error answer: a RetCode other than 0 and its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub ret_code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(ret_code: u32, message: impl Into<String>) -> Self {
        ApiError {
            ret_code,
            message: message.into(),
        }
    }

    /// RetCode 230, naming the parameter the way UCloud does.
    fn param(name: &str, why: &str) -> Self {
        let mut message = format!("Params [{name}] not available");
        if !why.is_empty() {
            message.push_str(": ");
            message.push_str(why);
        }
        ApiError::new(230, message)
    }
}

/// The actions the simulator knows, named exactly as UCloud names them.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ImportCustomImage,
    CopyCustomImage,
    DescribeImage,
    TerminateCustomImage,
    DescribeBucket,
}

impl Action {
    /// The action named `name`, or RetCode 161.
    pub fn parse(name: &str) -> Result<Self, ApiError> {
        match name {
            "ImportCustomImage" => Ok(Action::ImportCustomImage),
            "CopyCustomImage" => Ok(Action::CopyCustomImage),
            "DescribeImage" => Ok(Action::DescribeImage),
            "TerminateCustomImage" => Ok(Action::TerminateCustomImage),
            "DescribeBucket" => Ok(Action::DescribeBucket),
            _ => Err(ApiError::new(161, format!("Action [{name}] not found"))),
        }
    }

    /// Whether a success changes the store (and so the state file).
    pub fn mutates(self) -> bool {
        !matches!(self, Action::DescribeImage | Action::DescribeBucket)
    }
}

/// What an action may use besides its parameters and the store.
pub struct Env<'a> {
    pub now_ms: u64,
    pub making_time: Duration,
    /// How long a copy stays `Copying`.
    pub copy_time: Duration,
    pub terminate_making: TerminateMaking,
    pub rng: &'a mut fastrand::Rng,
    /// `--ufile-dir`: imports of these objects are judged by their bytes.
    pub objects: Option<&'a Objects>,
    /// The accepted key pairs, which also sign UFile URLs.
    pub keys: &'a Keys,
}

/// Performs `action`; on success, the answer's fields besides Action and RetCode.
pub fn perform(
    action: Action,
    params: &Params,
    store: &mut Store,
    env: Env<'_>,
) -> Result<Map<String, Value>, ApiError> {
    match action {
        Action::ImportCustomImage => import(params, store, env),
        Action::CopyCustomImage => copy(params, store, env),
        Action::DescribeImage => describe(params, store, env.now_ms),
        Action::TerminateCustomImage => terminate(params, store, env),
        Action::DescribeBucket => describe_bucket(params, env.objects),
    }
}

/// The region every simulated bucket is in, and its host's region label
/// (UFile hosts `cn-bj2` buckets at `cn-bj.ufileos.com`).
pub const BUCKET_REGION: (&str, &str) = ("cn-bj2", "cn-bj");

/// DescribeBucket: the bucket directories under `--ufile-dir`, all private,
/// served at `BUCKET.cn-bj.ufileos.com`. With BucketName, that bucket or
/// RetCode 15010 (Offset and Limit are then ignored, as UFile documents).
fn describe_bucket(params: &Params, objects: Option<&Objects>) -> Result<Map<String, Value>, ApiError> {
    let buckets = objects.map(Objects::buckets).unwrap_or_default();
    let (region, host) = BUCKET_REGION;
    let view = |(name, made): &(String, u64)| {
        json!({
            "BucketName": name,
            // Stable and unique, shaped like UFile's `ufile-xxx`.
            "BucketId": format!("ufile-{name}"),
            "Domain": {"Src": [format!("{name}.{host}.ufileos.com")], "Cdn": [], "CustomSrc": [], "CustomCdn": []},
            "Region": region,
            "Type": "private",
            "Biz": "general",
            "StorageClass": "STANDARD",
            "CreateTime": made,
            "ModifyTime": made,
            "Tag": "Default",
            "HasUserDomain": 0,
        })
    };
    let set: Vec<Value> = match params.get("BucketName") {
        Some(name) => match buckets.iter().find(|(b, _)| b == name) {
            Some(found) => vec![view(found)],
            None => return Err(ApiError::new(15010, format!("bucket {name} does not exist"))),
        },
        None => {
            let offset = number(params, "Offset", 0)?;
            let limit = number(params, "Limit", 20)?;
            let in_region = params.get("Region").is_none_or(|r| r == region);
            buckets
                .iter()
                .filter(|_| in_region)
                .skip(offset)
                .take(limit)
                .map(view)
                .collect()
        }
    };
    Ok(fields(json!({ "DataSet": set })))
}

fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, ApiError> {
    params.get(name).ok_or_else(|| ApiError::param(name, ""))
}

fn project(params: &Params) -> &str {
    params.get("ProjectId").unwrap_or(DEFAULT_PROJECT)
}

fn import(params: &Params, store: &mut Store, env: Env<'_>) -> Result<Map<String, Value>, ApiError> {
    let region = required(params, "Region")?;
    let image_name = required(params, "ImageName")?;
    let ufile_url = required(params, "UFileUrl")?;
    let os_type = required(params, "OsType")?;
    let os_name = required(params, "OsName")?;
    let format = required(params, "Format")?;
    let auth = required(params, "Auth")?;

    if !FORMATS.contains(&format) {
        return Err(ApiError::param(
            "Format",
            "must be one of RAW, VHD, VMDK, qcow2 (exactly this casing)",
        ));
    }
    if auth != "true" {
        return Err(ApiError::param("Auth", "must be true"));
    }
    check_ufile_url(ufile_url)?;
    if os_type == "Other" && os_name != "Other" {
        return Err(ApiError::param("OsName", "must be Other when OsType is Other"));
    }

    let image_id = new_image_id(store, env.rng);
    let making_ms = u64::try_from(env.making_time.as_millis()).unwrap_or(u64::MAX);
    let ready_at_ms = env.now_ms.saturating_add(making_ms);
    let (outcome, import_error) = outcome_of(ufile_url, format, ready_at_ms / 1000, &env);
    store.insert(Image {
        image_id: image_id.clone(),
        image_name: image_name.to_string(),
        image_description: params.get("ImageDescription").unwrap_or_default().to_string(),
        region: region.to_string(),
        project_id: project(params).to_string(),
        import_os_type: os_type.to_string(),
        os_name: os_name.to_string(),
        format: format.to_string(),
        ufile_url: ufile_url.to_string(),
        tag: params.get("Tag").unwrap_or("Default").to_string(),
        create_time: env.now_ms / 1000,
        ready_at_ms,
        outcome,
        import_error,
        deleted: false,
        copied_from: None,
    });
    Ok(fields(json!({ "ImageId": image_id })))
}

/// The state an import reaches, and why it fails. An object under
/// `--ufile-dir` is read as UHost reads it, through the URL's own signature,
/// which must hold until the import ends (`done_at`, unix seconds), and its
/// bytes decide; any other URL follows the `corrupt` convention.
fn outcome_of(ufile_url: &str, format: &str, done_at: u64, env: &Env<'_>) -> (State, Option<String>) {
    if let Some(objects) = env.objects {
        match ufile::fetch_for_import(objects, env.keys, ufile_url, done_at) {
            Fetched::Elsewhere => {}
            Fetched::Refused(why) => return (State::Unavailable, Some(why)),
            Fetched::Read { size, head, tail } => {
                return match image_file::judge(format, size, &head, &tail) {
                    Ok(()) => (State::Available, None),
                    Err(why) => (State::Unavailable, Some(why)),
                };
            }
        }
    }
    match Image::outcome_for(ufile_url) {
        State::Unavailable => (
            State::Unavailable,
            Some("the UFileUrl path contains `corrupt`".to_owned()),
        ),
        other => (other, None),
    }
}

/// A fresh image id, as UCloud's look: `uimage-` and 8 lowercase characters.
fn new_image_id(store: &Store, rng: &mut fastrand::Rng) -> String {
    loop {
        let id = format!("uimage-{}", (0..8).map(|_| alnum(rng)).collect::<String>());
        if !store.contains(&id) {
            break id;
        }
    }
}

/// CopyCustomImage, one target: the source must be an Available custom
/// image in Region/ProjectId; the copy appears at once in TargetRegion /
/// TargetProjectId, `Copying`. Not idempotent: every call makes a copy.
fn copy(params: &Params, store: &mut Store, env: Env<'_>) -> Result<Map<String, Value>, ApiError> {
    let region = required(params, "Region")?;
    let project = project(params);
    let source_id = required(params, "SourceImageId")?;
    let target_project = required(params, "TargetProjectId")?;
    let target_region = params.get("TargetRegion").unwrap_or(region);
    if store::base_images().any(|(id, _)| id == source_id) {
        return Err(ApiError::param(
            "SourceImageId",
            &format!("{source_id} is a platform image; only custom images can be copied"),
        ));
    }
    let source = store
        .images()
        .iter()
        .find(|i| !i.deleted && i.image_id == source_id && i.region == region && i.project_id == project)
        .ok_or_else(|| {
            ApiError::param(
                "SourceImageId",
                &format!("no custom image {source_id} in region {region}, project {project}"),
            )
        })?;
    let state = source.state(env.now_ms);
    if state != State::Available {
        return Err(ApiError::param(
            "SourceImageId",
            &format!(
                "image {source_id} is {}; only an Available image can be copied",
                state.as_str()
            ),
        ));
    }
    let target = CopyTarget {
        image_id: new_image_id(store, env.rng),
        region: target_region.to_string(),
        project_id: target_project.to_string(),
        image_name: params.get("TargetImageName").unwrap_or(&source.image_name).to_string(),
        image_description: params.get("TargetImageDescription").unwrap_or_default().to_string(),
        tag: params.get("TargetImageTag").unwrap_or("Default").to_string(),
    };
    let copy_ms = u64::try_from(env.copy_time.as_millis()).unwrap_or(u64::MAX);
    let copy = source.copy(target, env.now_ms, copy_ms);
    let task_id = format!("task-{}", (0..8).map(|_| alnum(env.rng)).collect::<String>());
    let image_id = copy.image_id.clone();
    store.insert(copy);
    Ok(fields(json!({ "TargetImageId": image_id, "TaskId": task_id })))
}

fn alnum(rng: &mut fastrand::Rng) -> char {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    CHARS[rng.usize(..CHARS.len())] as char
}

/// Scheme http(s), a host and a non-empty path, as UFile URLs have.
fn check_ufile_url(raw: &str) -> Result<(), ApiError> {
    let url = url::Url::parse(raw).map_err(|_| ApiError::param("UFileUrl", "not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::param("UFileUrl", "the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::param("UFileUrl", "the URL has no host"));
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err(ApiError::param("UFileUrl", "the URL has no file path"));
    }
    Ok(())
}

fn describe(params: &Params, store: &Store, now_ms: u64) -> Result<Map<String, Value>, ApiError> {
    let region = required(params, "Region")?;
    let project = project(params);
    let offset = number(params, "Offset", 0)?;
    let limit = number(params, "Limit", 20)?;
    let mut wanted_ids = params.list("ImageIds");
    wanted_ids.extend(params.get("ImageId"));
    let image_type = params.get("ImageType");
    let os_type = params.get("OsType");
    let tag = params.get("Tag");

    let wanted = |id: &str| wanted_ids.is_empty() || wanted_ids.contains(&id);
    let custom = store
        .images()
        .iter()
        .filter(|i| !i.deleted && i.region == region && i.project_id == project)
        .filter(|i| wanted(&i.image_id))
        .filter(|_| image_type.is_none_or(|t| t == "Custom"))
        .filter(|i| os_type.is_none_or(|t| t == i.describe_os_type()))
        .filter(|i| tag.is_none_or(|t| t == i.tag))
        .map(|i| i.describe_view(now_ms));
    let base = store::base_images()
        .filter(|(id, _)| wanted(id))
        .filter(|_| image_type.is_none_or(|t| t == "Base"))
        .filter(|_| os_type.is_none_or(|t| t == "Linux") && tag.is_none())
        .map(|(_, view)| view);
    let matching: Vec<Value> = custom.chain(base).collect();
    let total = matching.len();
    let page: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    Ok(fields(json!({ "TotalCount": total, "ImageSet": page })))
}

fn number(params: &Params, name: &str, default: usize) -> Result<usize, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::param(name, "must be a non-negative integer")),
    }
}

fn terminate(params: &Params, store: &mut Store, env: Env<'_>) -> Result<Map<String, Value>, ApiError> {
    let region = required(params, "Region")?;
    let image_id = required(params, "ImageId")?;
    let image = store
        .find_live_mut(region, project(params), image_id)
        .ok_or_else(|| ApiError::new(8956, "resource does not exist or is not a custom image"))?;
    let state = image.state(env.now_ms);
    if env.terminate_making == TerminateMaking::Reject && state.is_pending() {
        let doing = if state == State::Copying { "copied" } else { "made" };
        return Err(ApiError::new(8957, format!("image is being {doing}")));
    }
    image.deleted = true;
    Ok(fields(json!({ "ImageId": image_id })))
}

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://bucket.cn-bj.ufileos.com/disk.raw";

    struct World {
        store: Store,
        rng: fastrand::Rng,
        now_ms: u64,
        making: Duration,
        copying: Duration,
        terminate_making: TerminateMaking,
        objects: Option<Objects>,
        keys: Keys,
    }

    impl World {
        fn new() -> Self {
            World {
                store: Store::default(),
                rng: fastrand::Rng::with_seed(3),
                now_ms: 1_700_000_000_000,
                making: Duration::from_secs(3),
                copying: Duration::from_secs(5),
                terminate_making: TerminateMaking::Allow,
                objects: None,
                keys: Keys::from([("pub".to_owned(), crate::cli::PrivateKey::new("priv"))]),
            }
        }

        fn call(&mut self, action: Action, pairs: &[(&str, &str)]) -> Result<Map<String, Value>, ApiError> {
            let env = Env {
                now_ms: self.now_ms,
                making_time: self.making,
                copy_time: self.copying,
                terminate_making: self.terminate_making,
                rng: &mut self.rng,
                objects: self.objects.as_ref(),
                keys: &self.keys,
            };
            perform(action, &Params::from_pairs(pairs), &mut self.store, env)
        }

        fn import(&mut self, extra: &[(&'static str, &'static str)]) -> Result<String, ApiError> {
            let mut pairs = vec![
                ("Region", "cn-bj2"),
                ("ImageName", "img"),
                ("UFileUrl", URL),
                ("OsType", "CentOS"),
                ("OsName", "CentOS 7.6 64位"),
                ("Format", "RAW"),
                ("Auth", "true"),
            ];
            for (k, v) in extra {
                pairs.retain(|(key, _)| key != k);
                pairs.push((k, v));
            }
            let out = self.call(Action::ImportCustomImage, &pairs)?;
            Ok(out["ImageId"].as_str().unwrap().to_string())
        }

        fn describe(&mut self, pairs: &[(&str, &str)]) -> Map<String, Value> {
            self.call(Action::DescribeImage, pairs).unwrap()
        }
    }

    #[test]
    fn import_returns_a_fresh_lowercase_id_and_the_image_is_making() {
        let mut w = World::new();
        let a = w.import(&[]).unwrap();
        let b = w.import(&[]).unwrap();
        assert_ne!(a, b, "ImportCustomImage is not idempotent: two calls, two images");
        let suffix = a.strip_prefix("uimage-").unwrap();
        assert_eq!(suffix.len(), 8);
        assert!(suffix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        let set = &w.describe(&[("Region", "cn-bj2"), ("ImageId", &a)])["ImageSet"];
        assert_eq!(set[0]["State"], "Making");
        assert_eq!(set[0]["ImageType"], "Custom");
        assert_eq!(set[0]["OsType"], "Linux");
        assert_eq!(set[0]["OsName"], "CentOS 7.6 64位");
        assert_eq!(set[0]["Tag"], "Default");
        assert_eq!(set[0]["ImageSize"], 20);
        assert_eq!(set[0]["Zone"], "");
        w.now_ms += 3000;
        let set = &w.describe(&[("Region", "cn-bj2"), ("ImageId", &a)])["ImageSet"];
        assert_eq!(set[0]["State"], "Available");
    }

    #[test]
    fn a_missing_parameter_is_named_in_import_order() {
        let mut w = World::new();
        for name in ["Region", "ImageName", "UFileUrl", "OsType", "OsName", "Format", "Auth"] {
            let mut pairs = vec![
                ("Region", "cn-bj2"),
                ("ImageName", "img"),
                ("UFileUrl", URL),
                ("OsType", "CentOS"),
                ("OsName", "CentOS 7"),
                ("Format", "RAW"),
                ("Auth", "true"),
            ];
            pairs.retain(|(k, _)| *k != name);
            let err = w.call(Action::ImportCustomImage, &pairs).unwrap_err();
            assert_eq!(err.ret_code, 230);
            assert_eq!(err.message, format!("Params [{name}] not available"));
        }
        assert!(w.store.images().is_empty());
    }

    #[test]
    fn import_validates_format_casing_auth_url_and_other() {
        let mut w = World::new();
        for format in FORMATS {
            w.import(&[("Format", format)]).unwrap();
        }
        for (extra, param) in [
            (("Format", "raw"), "Format"),
            (("Format", "QCOW2"), "Format"),
            (("Format", "ISO"), "Format"),
            (("Auth", "false"), "Auth"),
            (("UFileUrl", "ftp://h/disk.raw"), "UFileUrl"),
            (("UFileUrl", "https://h.example.com/"), "UFileUrl"),
            (("UFileUrl", "disk.raw"), "UFileUrl"),
            (("OsType", "Other"), "OsName"),
        ] {
            let err = w.import(&[extra]).unwrap_err();
            assert_eq!(err.ret_code, 230, "{extra:?}");
            assert!(
                err.message.starts_with(&format!("Params [{param}] not available")),
                "{extra:?}: {err:?}"
            );
        }
        w.import(&[("OsType", "Other"), ("OsName", "Other")]).unwrap();
        assert_eq!(w.store.images().len(), FORMATS.len() + 1);
    }

    #[test]
    fn describe_is_scoped_by_region_and_project() {
        let mut w = World::new();
        let default = w.import(&[]).unwrap();
        let in_x = w.import(&[("ProjectId", "org-x")]).unwrap();
        let in_sh = w.import(&[("Region", "cn-sh2")]).unwrap();
        // Custom images only: the platform images are in every scope.
        let ids = |out: &Map<String, Value>| -> Vec<String> {
            out["ImageSet"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["ImageType"] == "Custom")
                .map(|i| i["ImageId"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            ids(&w.describe(&[("Region", "cn-bj2")])),
            std::slice::from_ref(&default)
        );
        assert_eq!(
            ids(&w.describe(&[("Region", "cn-bj2"), ("ProjectId", "org-default")])),
            std::slice::from_ref(&default)
        );
        assert_eq!(
            ids(&w.describe(&[("Region", "cn-bj2"), ("ProjectId", "org-x")])),
            std::slice::from_ref(&in_x)
        );
        assert_eq!(ids(&w.describe(&[("Region", "cn-sh2")])), std::slice::from_ref(&in_sh));
        let unseen = w.describe(&[("Region", "cn-bj2"), ("ImageId", &in_x)]);
        assert_eq!(unseen["TotalCount"], 0);
        assert_eq!(unseen["ImageSet"], json!([]));
        let err = w
            .call(
                Action::TerminateCustomImage,
                &[("Region", "cn-bj2"), ("ImageId", &in_x)],
            )
            .unwrap_err();
        assert_eq!(err.ret_code, 8956);
    }

    #[test]
    fn describe_filters_and_paginates() {
        let mut w = World::new();
        let mut ids = Vec::new();
        for _ in 0..25 {
            ids.push(w.import(&[]).unwrap());
        }
        let win = w.import(&[("OsType", "Windows"), ("Tag", "web")]).unwrap();
        let first = w.describe(&[("Region", "cn-bj2")]);
        assert_eq!(first["TotalCount"], 28, "26 custom images and 2 platform images");
        assert_eq!(first["ImageSet"].as_array().unwrap().len(), 20);
        let rest = w.describe(&[("Region", "cn-bj2"), ("Offset", "20"), ("Limit", "10")]);
        assert_eq!(rest["ImageSet"].as_array().unwrap().len(), 8);
        assert_eq!(rest["ImageSet"][7]["ImageType"], "Base");
        assert_eq!(rest["ImageSet"][0]["ImageId"], ids[20].as_str());
        let windows = w.describe(&[("Region", "cn-bj2"), ("OsType", "Windows")]);
        assert_eq!(windows["TotalCount"], 1);
        assert_eq!(windows["ImageSet"][0]["ImageId"], win.as_str());
        assert_eq!(w.describe(&[("Region", "cn-bj2"), ("Tag", "web")])["TotalCount"], 1);
        let base = w.describe(&[("Region", "cn-bj2"), ("ImageType", "Base")]);
        assert_eq!(base["TotalCount"], 2);
        let base_id = base["ImageSet"][0]["ImageId"].as_str().unwrap().to_string();
        let err = w
            .call(
                Action::TerminateCustomImage,
                &[("Region", "cn-bj2"), ("ImageId", &base_id)],
            )
            .unwrap_err();
        assert_eq!(err.ret_code, 8956, "platform images are not custom images");
        assert_eq!(
            w.describe(&[("Region", "cn-bj2"), ("ImageType", "Custom")])["TotalCount"],
            26
        );
        let two = w.describe(&[("Region", "cn-bj2"), ("ImageIds.0", &ids[3]), ("ImageIds.1", &win)]);
        assert_eq!(two["TotalCount"], 2);
        let err = w
            .call(Action::DescribeImage, &[("Region", "cn-bj2"), ("Limit", "-1")])
            .unwrap_err();
        assert_eq!((err.ret_code, err.message.starts_with("Params [Limit]")), (230, true));
    }

    #[test]
    fn terminate_deletes_once_then_answers_8956() {
        let mut w = World::new();
        let id = w.import(&[]).unwrap();
        let out = w
            .call(Action::TerminateCustomImage, &[("Region", "cn-bj2"), ("ImageId", &id)])
            .unwrap();
        assert_eq!(out["ImageId"], id.as_str());
        assert_eq!(
            w.describe(&[("Region", "cn-bj2"), ("ImageType", "Custom")])["TotalCount"],
            0
        );
        let err = w
            .call(Action::TerminateCustomImage, &[("Region", "cn-bj2"), ("ImageId", &id)])
            .unwrap_err();
        assert_eq!(
            err,
            ApiError::new(8956, "resource does not exist or is not a custom image")
        );
        assert!(
            w.store.images()[0].deleted,
            "a deleted image stays in the store, marked"
        );
    }

    #[test]
    fn terminate_while_making_follows_the_configured_mode() {
        let mut w = World::new();
        w.terminate_making = TerminateMaking::Reject;
        let id = w.import(&[]).unwrap();
        let err = w
            .call(Action::TerminateCustomImage, &[("Region", "cn-bj2"), ("ImageId", &id)])
            .unwrap_err();
        assert_eq!(err.ret_code, 8957);
        w.now_ms += 3000;
        w.call(Action::TerminateCustomImage, &[("Region", "cn-bj2"), ("ImageId", &id)])
            .unwrap();
    }

    /// Copies `source` from cn-bj2 / the default project with `extra` params
    /// (an empty value removes the parameter).
    fn copy(w: &mut World, source: &str, extra: &[(&str, &str)]) -> Result<Map<String, Value>, ApiError> {
        let mut pairs = vec![
            ("Region", "cn-bj2"),
            ("SourceImageId", source),
            ("TargetProjectId", "org-b"),
            ("TargetRegion", "cn-sh2"),
        ];
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        w.call(Action::CopyCustomImage, &pairs)
    }

    fn copied_id(out: Result<Map<String, Value>, ApiError>) -> String {
        out.unwrap()["TargetImageId"].as_str().unwrap().to_string()
    }

    #[test]
    fn a_copy_appears_copying_in_the_target_then_available() {
        let mut w = World::new();
        let src = w.import(&[("ImageDescription", "golden"), ("Tag", "prod")]).unwrap();
        w.now_ms += 3000;
        let out = copy(&mut w, &src, &[]).unwrap();
        let id = out["TargetImageId"].as_str().unwrap().to_string();
        assert!(out["TaskId"].as_str().unwrap().starts_with("task-"));
        assert_ne!(id, src);
        let again = copied_id(copy(&mut w, &src, &[]));
        assert_ne!(again, id, "not idempotent: two calls, two copies");
        let target = [("Region", "cn-sh2"), ("ProjectId", "org-b"), ("ImageId", id.as_str())];
        let set = &w.describe(&target)["ImageSet"];
        assert_eq!(set[0]["State"], "Copying");
        assert_eq!(set[0]["ImageName"], "img", "the source's name by default");
        assert_eq!(set[0]["ImageDescription"], "");
        assert_eq!(set[0]["Tag"], "Default");
        assert_eq!(set[0]["OsName"], "CentOS 7.6 64位");
        let in_source = w.describe(&[("Region", "cn-bj2"), ("ImageId", &id)]);
        assert_eq!(in_source["TotalCount"], 0, "the copy lives in its target only");
        w.now_ms += 5000;
        assert_eq!(w.describe(&target)["ImageSet"][0]["State"], "Available");

        let named = copied_id(copy(
            &mut w,
            &src,
            &[
                ("TargetRegion", ""),
                ("TargetImageName", "c2"),
                ("TargetImageDescription", "d"),
                ("TargetImageTag", "t"),
            ],
        ));
        let set = &w.describe(&[("Region", "cn-bj2"), ("ProjectId", "org-b"), ("ImageId", &named)])["ImageSet"];
        assert_eq!(
            (&set[0]["ImageName"], &set[0]["ImageDescription"], &set[0]["Tag"]),
            (&json!("c2"), &json!("d"), &json!("t")),
            "no TargetRegion: the source's region"
        );
    }

    #[test]
    fn a_copy_of_a_corrupt_copy_source_ends_unavailable() {
        let mut w = World::new();
        let src = w
            .import(&[("UFileUrl", "https://b.cn-bj.ufileos.com/corrupt-copy/disk.raw")])
            .unwrap();
        w.now_ms += 3000;
        let id = copied_id(copy(&mut w, &src, &[]));
        w.now_ms += 5000;
        let set = &w.describe(&[("Region", "cn-sh2"), ("ProjectId", "org-b"), ("ImageId", &id)])["ImageSet"];
        assert_eq!(set[0]["State"], "Unavailable");
    }

    #[test]
    fn copy_errors_name_the_parameter_and_copy_nothing() {
        let mut w = World::new();
        let making = w.import(&[]).unwrap();
        let err = copy(&mut w, &making, &[]).unwrap_err();
        assert_eq!(err.ret_code, 230);
        assert!(
            err.message.starts_with("Params [SourceImageId] not available"),
            "{err:?}"
        );
        assert!(err.message.contains("is Making"), "{err:?}");
        w.now_ms += 3000;
        for (extra, param, says) in [
            (("SourceImageId", ""), "SourceImageId", ""),
            (("TargetProjectId", ""), "TargetProjectId", ""),
            (("Region", ""), "Region", ""),
            (("Region", "hk"), "SourceImageId", "no custom image"),
            (("ProjectId", "org-x"), "SourceImageId", "no custom image"),
            (
                ("SourceImageId", "uimage-base-centos79"),
                "SourceImageId",
                "platform image",
            ),
            (("SourceImageId", "uimage-nope"), "SourceImageId", "no custom image"),
        ] {
            let err = copy(&mut w, &making, &[extra]).unwrap_err();
            assert_eq!(err.ret_code, 230, "{extra:?}");
            assert!(
                err.message.starts_with(&format!("Params [{param}] not available")),
                "{extra:?}: {err:?}"
            );
            assert!(err.message.contains(says), "{extra:?}: {err:?}");
        }
        assert_eq!(w.store.images().len(), 1, "no copy was made");
    }

    #[test]
    fn terminating_a_copy_while_copying_follows_the_configured_mode() {
        let mut w = World::new();
        w.terminate_making = TerminateMaking::Reject;
        let src = w.import(&[]).unwrap();
        w.now_ms += 3000;
        let id = copied_id(copy(&mut w, &src, &[]));
        let at = [("Region", "cn-sh2"), ("ProjectId", "org-b"), ("ImageId", id.as_str())];
        let err = w.call(Action::TerminateCustomImage, &at).unwrap_err();
        assert_eq!((err.ret_code, err.message.as_str()), (8957, "image is being copied"));
        w.now_ms += 5000;
        w.call(Action::TerminateCustomImage, &at).unwrap();
    }

    #[test]
    fn an_object_under_the_ufile_dir_is_imported_by_its_bytes_through_its_signature() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("images")).unwrap();
        let mut qcow2 = b"QFI\xfb\0\0\0\x03".to_vec();
        qcow2.resize(196_616, 0);
        std::fs::write(dir.path().join("images/c7.qcow2"), &qcow2).unwrap();
        std::fs::write(dir.path().join("images/c7.qcow2.gz"), [0x1f, 0x8b, 8, 0]).unwrap();
        let mut w = World::new();
        w.objects = Some(Objects::open(dir.path()).unwrap());
        let now = w.now_ms / 1000;
        let signed = |key: &str, private: &str, expires: u64| {
            let sts = format!("GET\n\n\n{expires}\n/images/{key}");
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("UCloudPublicKey", "pub")
                .append_pair("Expires", &expires.to_string())
                .append_pair("Signature", &ufile::signature(private, &sts))
                .finish();
            format!("https://images.cn-bj.ufileos.com/{key}?{query}")
        };
        let cases = [
            (signed("c7.qcow2", "priv", now + 3600), "qcow2", None),
            (
                signed("c7.qcow2", "priv", now + 3600),
                "RAW",
                Some("Format is RAW but the file is qcow2"),
            ),
            (signed("c7.qcow2.gz", "priv", now + 3600), "qcow2", Some("gzip")),
            (signed("nope.raw", "priv", now + 3600), "RAW", Some("does not exist")),
            (
                signed("c7.qcow2", "wrong", now + 3600),
                "qcow2",
                Some("signature is wrong"),
            ),
            (signed("c7.qcow2", "priv", now + 1), "qcow2", Some("expired")),
            (
                "https://images.cn-bj.ufileos.com/c7.qcow2".to_owned(),
                "qcow2",
                Some("no signature"),
            ),
        ];
        for (url, format, error) in cases {
            let url: &'static str = Box::leak(url.into_boxed_str());
            let format: &'static str = format;
            let id = w.import(&[("UFileUrl", url), ("Format", format)]).unwrap();
            let image = w.store.images().iter().find(|i| i.image_id == id).unwrap().clone();
            match error {
                None => assert_eq!((image.outcome, image.import_error), (State::Available, None), "{url}"),
                Some(says) => {
                    assert_eq!(image.outcome, State::Unavailable, "{url}");
                    let why = image.import_error.unwrap_or_default();
                    assert!(why.contains(says), "{url}: {why}");
                }
            }
        }
        // A bucket that is not under the directory keeps the `corrupt` convention.
        let id = w
            .import(&[("UFileUrl", "https://other.cn-bj.ufileos.com/corrupt/x.raw")])
            .unwrap();
        let image = w.store.images().iter().find(|i| i.image_id == id).unwrap().clone();
        assert_eq!(image.outcome, State::Unavailable);
    }

    #[test]
    fn unknown_actions_are_161() {
        assert_eq!(Action::parse("CopyCustomImages").unwrap_err().ret_code, 161);
        assert_eq!(Action::parse("CopyCustomImage"), Ok(Action::CopyCustomImage));
        assert_eq!(Action::parse("DescribeImage"), Ok(Action::DescribeImage));
    }
}
