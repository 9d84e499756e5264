//! UHost image actions: import a disk image from UFile, copy a custom image,
//! describe images, delete a custom image; the image object DescribeImage
//! returns; and [`ImageFormat`], the one list of import formats. Each answer
//! names the fields callers rely on ([`Answer`]), so an answer without them is
//! an error where it is decoded, never an empty id further on.

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::action::{Action, Answer, Params, blank};

/// A disk image format ImportCustomImage accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Raw,
    Vhd,
    Vmdk,
    Qcow2,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 4] = [
        ImageFormat::Raw,
        ImageFormat::Vhd,
        ImageFormat::Vmdk,
        ImageFormat::Qcow2,
    ];

    /// The format named `s`, in any letter case.
    pub fn parse(s: &str) -> Option<Self> {
        ImageFormat::ALL
            .into_iter()
            .find(|f| f.as_api_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The spelling the API requires (it is case-sensitive).
    pub fn as_api_str(&self) -> &'static str {
        match self {
            ImageFormat::Raw => "RAW",
            ImageFormat::Vhd => "VHD",
            ImageFormat::Vmdk => "VMDK",
            ImageFormat::Qcow2 => "qcow2",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_api_str())
    }
}

/// ImportCustomImage: start importing a UFile object as a custom image. Not
/// idempotent: every call creates an image, and there is no client token.
/// `Debug` hides a signature in the object URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportCustomImage {
    pub region: String,
    pub project_id: Option<String>,
    pub image_name: String,
    pub ufile_url: String,
    /// The platform as the console lists it (CentOS, Ubuntu, ..., Other).
    pub os_type: String,
    pub os_name: String,
    pub format: ImageFormat,
    /// Must be `true` for the import to be accepted.
    pub auth: bool,
    pub image_description: Option<String>,
    pub tag: Option<String>,
}

impl fmt::Debug for ImportCustomImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // UCloud's parameter names, like the request itself.
        f.debug_struct("ImportCustomImage")
            .field("Region", &self.region)
            .field("ProjectId", &self.project_id)
            .field("ImageName", &self.image_name)
            .field("UFileUrl", &super::redact_url(&self.ufile_url))
            .field("OsType", &self.os_type)
            .field("OsName", &self.os_name)
            .field("Format", &self.format)
            .field("Auth", &self.auth)
            .field("ImageDescription", &self.image_description)
            .field("Tag", &self.tag)
            .finish()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportCustomImageResponse {
    /// Never empty in an answer the client returns.
    #[serde(default, deserialize_with = "lenient::string")]
    pub image_id: String,
}

impl Answer for ImportCustomImageResponse {
    fn missing_field(&self) -> Option<String> {
        blank(&self.image_id).then(|| "ImageId".to_owned())
    }
}

impl Action for ImportCustomImage {
    const NAME: &'static str = "ImportCustomImage";
    const IDEMPOTENT: bool = false;
    type Response = ImportCustomImageResponse;

    fn params(&self) -> Vec<(String, String)> {
        Params::new()
            .str("Region", &self.region)
            .opt_str("ProjectId", self.project_id.as_deref())
            .str("ImageName", &self.image_name)
            .str("UFileUrl", &self.ufile_url)
            .str("OsType", &self.os_type)
            .str("OsName", &self.os_name)
            .str("Format", self.format.as_api_str())
            .bool("Auth", self.auth)
            .opt_str("ImageDescription", self.image_description.as_deref())
            .opt_str("Tag", self.tag.as_deref())
            .build()
    }
}

/// CopyCustomImage: copy a custom image into another project and/or region
/// (one target; the batch form `TargetRegionList.N` answers differently and
/// is not modelled). Not idempotent: every call creates a copy, and there is
/// no client token. The copy appears at once in the target, in state
/// `Copying`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyCustomImage {
    /// The source image's region.
    pub region: String,
    /// The source image's project.
    pub project_id: Option<String>,
    pub source_image_id: String,
    pub target_project_id: String,
    /// Empty: the source's region.
    pub target_region: Option<String>,
    pub target_image_name: Option<String>,
    pub target_image_description: Option<String>,
    pub target_image_tag: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CopyCustomImageResponse {
    /// The copy's id in the target. Never empty in an answer the client returns.
    #[serde(default, deserialize_with = "lenient::string")]
    pub target_image_id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub task_id: String,
}

impl Answer for CopyCustomImageResponse {
    fn missing_field(&self) -> Option<String> {
        blank(&self.target_image_id).then(|| "TargetImageId".to_owned())
    }
}

impl Action for CopyCustomImage {
    const NAME: &'static str = "CopyCustomImage";
    const IDEMPOTENT: bool = false;
    type Response = CopyCustomImageResponse;

    fn missing_param(&self) -> Option<String> {
        if blank(&self.source_image_id) {
            Some("SourceImageId".to_owned())
        } else if blank(&self.target_project_id) {
            Some("TargetProjectId".to_owned())
        } else {
            None
        }
    }

    fn params(&self) -> Vec<(String, String)> {
        Params::new()
            .str("Region", &self.region)
            .opt_str("ProjectId", self.project_id.as_deref())
            .str("SourceImageId", &self.source_image_id)
            .str("TargetProjectId", &self.target_project_id)
            .opt_str("TargetRegion", self.target_region.as_deref())
            .opt_str("TargetImageName", self.target_image_name.as_deref())
            .opt_str("TargetImageDescription", self.target_image_description.as_deref())
            .opt_str("TargetImageTag", self.target_image_tag.as_deref())
            .build()
    }
}

/// DescribeImage: list images, or look some up by id. An id that does not
/// exist yields an empty `image_set`, not an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DescribeImage {
    pub region: String,
    pub project_id: Option<String>,
    pub zone: Option<String>,
    /// `Base`, `Business` or `Custom`.
    pub image_type: Option<String>,
    /// `Linux` or `Windows`: not the vocabulary ImportCustomImage uses.
    pub os_type: Option<String>,
    pub image_id: Option<String>,
    pub image_ids: Vec<String>,
    pub tag: Option<String>,
    pub offset: Option<u32>,
    pub limit: Option<u32>,
}

impl DescribeImage {
    /// The request for one image by id.
    pub fn by_id(region: impl Into<String>, project_id: Option<String>, image_id: impl Into<String>) -> Self {
        DescribeImage {
            region: region.into(),
            project_id,
            image_id: Some(image_id.into()),
            ..Default::default()
        }
    }

    /// The request for several images by id (`ImageIds.N`): one answer
    /// holds every one of them that exists.
    pub fn by_ids(region: impl Into<String>, project_id: Option<String>, image_ids: Vec<String>) -> Self {
        DescribeImage {
            region: region.into(),
            project_id,
            image_ids,
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeImageResponse {
    #[serde(default, deserialize_with = "lenient::int")]
    pub total_count: i64,
    #[serde(default, deserialize_with = "lenient::list")]
    pub image_set: Vec<Image>,
}

impl DescribeImageResponse {
    /// The image with this id, if the answer holds it.
    pub fn find(&self, image_id: &str) -> Option<&Image> {
        self.image_set.iter().find(|i| i.image_id == image_id)
    }
}

impl Answer for DescribeImageResponse {
    /// Every entry needs its id (to be found) and its state (to be waited on).
    fn missing_field(&self) -> Option<String> {
        self.image_set.iter().enumerate().find_map(|(i, img)| {
            if blank(&img.image_id) {
                Some(format!("ImageSet[{i}].ImageId"))
            } else if blank(&img.state) {
                Some(format!("ImageSet[{i}].State"))
            } else {
                None
            }
        })
    }
}

impl Action for DescribeImage {
    const NAME: &'static str = "DescribeImage";
    const IDEMPOTENT: bool = true;
    type Response = DescribeImageResponse;

    /// An id given but empty would be dropped, turning a lookup into a list.
    fn missing_param(&self) -> Option<String> {
        if self.image_id.as_deref().is_some_and(blank) {
            return Some("ImageId".to_owned());
        }
        let empty = self.image_ids.iter().position(|id| blank(id));
        empty.map(|i| format!("ImageIds.{i}"))
    }

    fn params(&self) -> Vec<(String, String)> {
        Params::new()
            .str("Region", &self.region)
            .opt_str("ProjectId", self.project_id.as_deref())
            .opt_str("Zone", self.zone.as_deref())
            .opt_str("ImageType", self.image_type.as_deref())
            .opt_str("OsType", self.os_type.as_deref())
            .opt_str("ImageId", self.image_id.as_deref())
            .list("ImageIds", &self.image_ids)
            .opt_str("Tag", self.tag.as_deref())
            .opt_int("Offset", self.offset.map(i64::from))
            .opt_int("Limit", self.limit.map(i64::from))
            .build()
    }
}

/// TerminateCustomImage: delete a custom image. Idempotent; an image that is
/// already gone answers RetCode 8956 ([`Error::is_not_found`](super::Error::is_not_found)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TerminateCustomImage {
    pub region: String,
    pub project_id: Option<String>,
    pub image_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TerminateCustomImageResponse {
    /// The echo of the request's id; may be empty (see the [`Answer`] impl).
    #[serde(default, deserialize_with = "lenient::string")]
    pub image_id: String,
}

/// Nothing required: RetCode 0 is the answer, and the echoed ImageId is not
/// confirmed to be sent by every region, so demanding it could fail deletes
/// that worked.
impl Answer for TerminateCustomImageResponse {
    fn missing_field(&self) -> Option<String> {
        None
    }
}

impl Action for TerminateCustomImage {
    const NAME: &'static str = "TerminateCustomImage";
    const IDEMPOTENT: bool = true;
    type Response = TerminateCustomImageResponse;

    fn missing_param(&self) -> Option<String> {
        blank(&self.image_id).then(|| "ImageId".to_owned())
    }

    fn params(&self) -> Vec<(String, String)> {
        Params::new()
            .str("Region", &self.region)
            .opt_str("ProjectId", self.project_id.as_deref())
            .str("ImageId", &self.image_id)
            .build()
    }
}

/// An image as DescribeImage returns it. Every field defaults when absent
/// or null, numbers may arrive as strings, and unknown fields are ignored,
/// so a new API field never breaks reading.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    #[serde(default, deserialize_with = "lenient::string")]
    pub image_id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub image_name: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub image_description: String,
    /// `Base`, `Business` or `Custom`.
    #[serde(default, deserialize_with = "lenient::string")]
    pub image_type: String,
    /// `Linux` or `Windows` (not the platform name given at import).
    #[serde(default, deserialize_with = "lenient::string")]
    pub os_type: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub os_name: String,
    /// See [`Image::state_kind`].
    #[serde(default, deserialize_with = "lenient::string")]
    pub state: String,
    /// In GB.
    #[serde(default, deserialize_with = "lenient::int")]
    pub image_size: i64,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::int")]
    pub create_time: i64,
    #[serde(default, deserialize_with = "lenient::string")]
    pub zone: String,
    /// E.g. `NetEnhnced`, `HotPlug`, `CloudInit`, `IPv6`.
    #[serde(default, deserialize_with = "lenient::strings")]
    pub features: Vec<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub func_type: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub tag: String,
    #[serde(default, rename = "MinimalCPU", deserialize_with = "lenient::string")]
    pub minimal_cpu: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub vendor: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub links: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub integrated_software: String,
}

/// The `ImageType` of the images an account imports or copies: the only
/// images this provider creates, deletes or copies.
pub const CUSTOM_IMAGE_TYPE: &str = "Custom";

/// Every `ImageType` UCloud documents.
pub const IMAGE_TYPES: [&str; 3] = ["Base", "Business", CUSTOM_IMAGE_TYPE];

impl Image {
    /// Whether this is a custom image. An answer that leaves out the type
    /// says nothing against it; letter case is not trusted either way.
    pub fn is_custom(&self) -> bool {
        self.image_type.is_empty() || self.image_type.eq_ignore_ascii_case(CUSTOM_IMAGE_TYPE)
    }
}

/// The lifecycle state of an image. Only the four states UCloud documents
/// are named; anything else is kept by name as [`ImageState::Unknown`] so a
/// waiter can report it instead of taking it for progress or success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageState {
    Available,
    /// Being imported or built.
    Making,
    /// After an import: the import failed.
    Unavailable,
    /// Being copied (the target of a CopyCustomImage).
    Copying,
    /// A state UCloud does not document, as it was sent. Neither pending nor
    /// settled: a waiter should give it a bounded grace, then fail naming it.
    Unknown(String),
}

impl ImageState {
    /// The state UCloud named `s`. Exact spelling: the API sends these names
    /// as documented, and guessing at variants could mistake one for another.
    pub fn parse(s: &str) -> Self {
        match s {
            "Available" => ImageState::Available,
            "Making" => ImageState::Making,
            "Unavailable" => ImageState::Unavailable,
            "Copying" => ImageState::Copying,
            other => ImageState::Unknown(other.to_owned()),
        }
    }

    /// The name as UCloud sends it.
    pub fn as_str(&self) -> &str {
        match self {
            ImageState::Available => "Available",
            ImageState::Making => "Making",
            ImageState::Unavailable => "Unavailable",
            ImageState::Copying => "Copying",
            ImageState::Unknown(name) => name,
        }
    }

    /// A documented state that will change by itself (Making, Copying): worth
    /// waiting for until the operation's own timeout.
    pub fn is_pending(&self) -> bool {
        matches!(self, ImageState::Making | ImageState::Copying)
    }

    /// A state this client does not know: not to be waited on until the
    /// timeout, and never to be taken as success.
    pub fn is_unknown(&self) -> bool {
        matches!(self, ImageState::Unknown(_))
    }
}

impl fmt::Display for ImageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Image {
    pub fn state_kind(&self) -> ImageState {
        ImageState::parse(&self.state)
    }
}

/// Deserializers that accept what the API has been seen to send instead of
/// the documented type: null for anything, numbers as strings and back.
mod lenient {
    use serde::de::Error as _;
    use serde_json::Value;

    use super::{Deserialize, Deserializer};

    fn text(v: Value) -> Option<String> {
        match v {
            Value::Null => Some(String::new()),
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Array(_) | Value::Object(_) => None,
        }
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        text(Value::deserialize(d)?).ok_or_else(|| D::Error::custom("expected a string"))
    }

    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(0),
            // Whole numbers sent as floats are truncated on purpose.
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .ok_or_else(|| D::Error::custom("expected an integer")),
            Value::String(s) if s.trim().is_empty() => Ok(0),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| D::Error::custom(format!("expected an integer, got {s:?}"))),
            _ => Err(D::Error::custom("expected an integer")),
        }
    }

    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .into_iter()
                .map(|v| text(v).ok_or_else(|| D::Error::custom("expected a list of strings")))
                .collect(),
            Value::String(s) if s.is_empty() => Ok(Vec::new()),
            Value::String(s) => Ok(vec![s]),
            _ => Err(D::Error::custom("expected a list of strings")),
        }
    }

    pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_request_never_shows_a_signature() {
        let req = ImportCustomImage {
            region: "cn-bj2".into(),
            project_id: None,
            image_name: "n".into(),
            ufile_url: "https://bkt.cn-bj.ufileos.com/a.raw?UCloudPublicKey=p&Expires=1&Signature=s3cr3t".into(),
            os_type: "CentOS".into(),
            os_name: "CentOS 7".into(),
            format: ImageFormat::Raw,
            auth: true,
            image_description: None,
            tag: None,
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("s3cr3t") && shown.contains("a.raw?***"), "{shown}");
    }

    #[test]
    fn formats_parse_in_any_case_and_render_as_the_api_wants() {
        assert_eq!(ImageFormat::parse("QCOW2"), Some(ImageFormat::Qcow2));
        assert_eq!(ImageFormat::parse("raw"), Some(ImageFormat::Raw));
        assert_eq!(ImageFormat::parse("Vmdk"), Some(ImageFormat::Vmdk));
        assert_eq!(ImageFormat::parse("iso"), None);
        let rendered: Vec<&str> = ImageFormat::ALL.iter().map(ImageFormat::as_api_str).collect();
        assert_eq!(rendered, ["RAW", "VHD", "VMDK", "qcow2"]);
        for f in ImageFormat::ALL {
            assert_eq!(ImageFormat::parse(&f.to_string()), Some(f));
        }
    }

    #[test]
    fn image_reads_pascal_case_ignores_unknown_fields_and_tolerates_odd_types() {
        let json = r#"{
            "TotalCount": "1",
            "ImageSet": [{
                "ImageId": "uimage-abc", "ImageName": "web", "ImageDescription": null,
                "ImageType": "Custom", "OsType": "Linux", "OsName": "CentOS 7.6 64位",
                "State": "Making", "ImageSize": "20", "CreateTime": 1700000000,
                "Zone": "cn-bj2-02", "Features": ["HotPlug", "CloudInit"], "MinimalCPU": "Broadwell",
                "PriceSet": [{"Price": 1.5}], "SomethingNew": {"a": 1}
            }]
        }"#;
        let r: DescribeImageResponse = serde_json::from_str(json)
            .map_err(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(r.total_count, 1);
        let img = r.find("uimage-abc").cloned().unwrap_or_default();
        assert_eq!(img.image_name, "web");
        assert_eq!(img.image_description, "");
        assert_eq!(img.os_name, "CentOS 7.6 64位");
        assert_eq!(img.image_size, 20);
        assert_eq!(img.create_time, 1_700_000_000);
        assert_eq!(img.features, ["HotPlug", "CloudInit"]);
        assert_eq!(img.minimal_cpu, "Broadwell");
        assert_eq!(img.state_kind(), ImageState::Making);
        assert!(r.find("uimage-other").is_none());
    }

    #[test]
    fn undocumented_states_are_unknown_by_name() {
        for (name, pending) in [
            ("Making", true),
            ("Copying", true),
            ("Available", false),
            ("Unavailable", false),
        ] {
            let state = ImageState::parse(name);
            assert!(!state.is_unknown(), "{name}");
            assert_eq!(state.is_pending(), pending, "{name}");
            assert_eq!(state.to_string(), name);
        }
        for name in ["Frozen", "available", "", "Making "] {
            let state = ImageState::parse(name);
            assert_eq!(state, ImageState::Unknown(name.to_owned()));
            assert!(state.is_unknown() && !state.is_pending(), "{name:?}");
            assert_eq!(state.as_str(), name);
        }
    }

    #[test]
    fn empty_or_null_image_set_is_an_empty_list() {
        for json in [r#"{"TotalCount":0,"ImageSet":null}"#, r#"{"TotalCount":0}"#] {
            let r: Result<DescribeImageResponse, _> = serde_json::from_str(json);
            assert_eq!(r.map(|r| r.image_set.len()).map_err(|e| e.to_string()), Ok(0), "{json}");
        }
    }

    #[test]
    fn answers_name_the_first_required_field_that_is_missing_or_blank() {
        let import = |json: &str| serde_json::from_str::<ImportCustomImageResponse>(json).map(|r| r.missing_field());
        assert_eq!(import(r#"{"ImageId":"uimage-1"}"#).ok(), Some(None));
        for json in [
            r#"{}"#,
            r#"{"ImageId":null}"#,
            r#"{"ImageId":""}"#,
            r#"{"ImageId":"  "}"#,
        ] {
            assert_eq!(import(json).ok(), Some(Some("ImageId".to_owned())), "{json}");
        }
        let copy: Result<CopyCustomImageResponse, _> = serde_json::from_str(r#"{"TaskId":"t-1"}"#);
        assert_eq!(
            copy.map(|r| r.missing_field()).ok(),
            Some(Some("TargetImageId".to_owned()))
        );
        let describe = |json: &str| serde_json::from_str::<DescribeImageResponse>(json).map(|r| r.missing_field());
        assert_eq!(describe(r#"{"ImageSet":[]}"#).ok(), Some(None));
        assert_eq!(
            describe(r#"{"ImageSet":[{"ImageId":"a","State":"Available"},{"State":"Making"}]}"#).ok(),
            Some(Some("ImageSet[1].ImageId".to_owned()))
        );
        assert_eq!(
            describe(r#"{"ImageSet":[{"ImageId":"a","State":null}]}"#).ok(),
            Some(Some("ImageSet[0].State".to_owned()))
        );
        let terminate: Result<TerminateCustomImageResponse, _> = serde_json::from_str("{}");
        assert_eq!(terminate.map(|r| r.missing_field()).ok(), Some(None));
    }

    #[test]
    fn requests_refuse_an_empty_id_instead_of_dropping_it() {
        assert_eq!(
            DescribeImage::by_id("cn-bj2", None, "").missing_param().as_deref(),
            Some("ImageId")
        );
        assert_eq!(DescribeImage::by_id("cn-bj2", None, "uimage-1").missing_param(), None);
        let list = DescribeImage {
            image_ids: vec!["uimage-1".into(), " ".into()],
            ..Default::default()
        };
        assert_eq!(list.missing_param().as_deref(), Some("ImageIds.1"));
        assert_eq!(DescribeImage::default().missing_param(), None, "listing needs no id");
        let terminate = TerminateCustomImage::default();
        assert_eq!(terminate.missing_param().as_deref(), Some("ImageId"));
        let copy = CopyCustomImage {
            source_image_id: "uimage-1".into(),
            ..Default::default()
        };
        assert_eq!(copy.missing_param().as_deref(), Some("TargetProjectId"));
    }

    #[test]
    fn copy_params() {
        let c = CopyCustomImage {
            region: "cn-bj2".into(),
            project_id: Some("org-a".into()),
            source_image_id: "uimage-1".into(),
            target_project_id: "org-b".into(),
            target_region: Some("cn-sh2".into()),
            target_image_name: Some("web".into()),
            target_image_description: None,
            target_image_tag: Some(String::new()),
        };
        let keys: Vec<String> = c.params().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "Region",
                "ProjectId",
                "SourceImageId",
                "TargetProjectId",
                "TargetRegion",
                "TargetImageName"
            ]
        );
        const { assert!(!CopyCustomImage::IDEMPOTENT) };
    }

    #[test]
    fn terminate_and_describe_by_id_params() {
        let t = TerminateCustomImage {
            region: "cn-bj2".into(),
            project_id: None,
            image_id: "uimage-x".into(),
        };
        assert_eq!(
            t.params(),
            [
                ("Region".to_string(), "cn-bj2".to_string()),
                ("ImageId".to_string(), "uimage-x".to_string())
            ]
        );
        let d = DescribeImage::by_id("cn-bj2", Some("org-1".into()), "uimage-x");
        let keys: Vec<String> = d.params().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["Region", "ProjectId", "ImageId"]);
    }
}
