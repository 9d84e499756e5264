//! DescribeBucket, the UCloud API action that says where a bucket is served:
//! object URLs of a bucket are `https://SRC/KEY` with SRC its first source
//! domain (as UCloud's Packer plugin finds it). It is an API action, not a
//! UFile request, so it goes through [`Client`](crate::ucloud::Client) with
//! its signing, retries and request-rate limiter.

use serde::Deserialize;

use crate::ucloud::action::{Action, Answer, Params, blank};

/// DescribeBucket for one bucket by name. Read-only, so idempotent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DescribeBucket {
    pub bucket_name: String,
    pub project_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeBucketResponse {
    /// Empty when no bucket has the name (in that project).
    #[serde(default, deserialize_with = "null_as_default")]
    pub data_set: Vec<BucketInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub bucket_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub domain: BucketDomains,
    /// `private` or `public`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub r#type: String,
    /// The UHost-style region (`cn-bj2`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub region: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketDomains {
    /// Source domains, e.g. `BUCKET.cn-bj.ufileos.com`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub src: Vec<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl DescribeBucketResponse {
    /// The bucket's first source domain: the entry named `bucket` (or the
    /// only entry, when the answer leaves names out).
    pub fn source_domain(&self, bucket: &str) -> Option<&str> {
        let unnamed = match self.data_set.as_slice() {
            [only] if only.bucket_name.is_empty() => Some(only),
            _ => None,
        };
        let entry = self.data_set.iter().find(|b| b.bucket_name == bucket).or(unnamed)?;
        entry.domain.src.iter().map(|s| s.trim()).find(|s| !s.is_empty())
    }
}

/// An empty DataSet is a definite answer (no such bucket), reported by the
/// caller by name; what callers rely on is a source domain for each entry.
impl Answer for DescribeBucketResponse {
    fn missing_field(&self) -> Option<String> {
        self.data_set
            .iter()
            .position(|b| b.domain.src.iter().all(|s| blank(s)))
            .map(|i| format!("DataSet[{i}].Domain.Src"))
    }
}

impl Action for DescribeBucket {
    const NAME: &'static str = "DescribeBucket";
    const IDEMPOTENT: bool = true;
    type Response = DescribeBucketResponse;

    /// Without a name it would list every bucket.
    fn missing_param(&self) -> Option<String> {
        blank(&self.bucket_name).then(|| "BucketName".to_owned())
    }

    fn params(&self) -> Vec<(String, String)> {
        Params::new()
            .str("BucketName", &self.bucket_name)
            .opt_str("ProjectId", self.project_id.as_deref())
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_answer() {
        let json = r#"{"RetCode":0,"DataSet":[{"Domain":{"Src":["blue.ufile.ucloud.cn"],"Cdn":["x"],
            "CustomSrc":[],"CustomCdn":null},"BucketName":"blue","Type":"private","Region":"cn-bj2"}]}"#;
        let r: DescribeBucketResponse = serde_json::from_str(json).unwrap();
        assert_eq!(r.source_domain("blue"), Some("blue.ufile.ucloud.cn"));
        assert_eq!(r.source_domain("red"), None);
        assert_eq!(r.missing_field(), None);
        assert_eq!(r.data_set[0].r#type, "private");

        let r: DescribeBucketResponse = serde_json::from_str(r#"{"DataSet":null}"#).unwrap();
        assert_eq!((r.source_domain("blue"), r.missing_field()), (None, None));
        let r: DescribeBucketResponse = serde_json::from_str(r#"{"DataSet":[{"Domain":{"Src":[" "]}}]}"#).unwrap();
        assert_eq!(r.missing_field().as_deref(), Some("DataSet[0].Domain.Src"));
    }

    #[test]
    fn needs_a_name() {
        assert_eq!(DescribeBucket::default().missing_param().as_deref(), Some("BucketName"));
        let d = DescribeBucket {
            bucket_name: "blue".into(),
            project_id: Some("org-1".into()),
        };
        assert_eq!(
            d.params(),
            [
                ("BucketName".to_owned(), "blue".to_owned()),
                ("ProjectId".to_owned(), "org-1".to_owned())
            ]
        );
    }
}
