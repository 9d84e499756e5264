//! `terraform import` ids of image resources: `uimage-xxxx`,
//! `REGION/uimage-xxxx` or `PROJECT_ID/REGION/uimage-xxxx`, and where the
//! image they name lives.

use crate::framework::{AttrPath, Diagnostic, Maybe};
use crate::images::Location;
use crate::provider_data::ProviderData;

/// The accepted forms, for error messages.
pub const IMPORT_ID_FORMS: &str = "`uimage-xxxx`, `REGION/uimage-xxxx` or `PROJECT_ID/REGION/uimage-xxxx`";

/// An image id as `terraform import` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportId {
    pub project_id: Option<String>,
    pub region: Option<String>,
    pub image_id: String,
}

/// Image ids are a fact of the image layer, which data sources share.
pub use crate::images::is_image_id;

/// Parses `uimage-xxxx`, `REGION/uimage-xxxx` or `PROJECT_ID/REGION/uimage-xxxx`.
pub fn parse_import_id(raw: &str) -> Result<ImportId, String> {
    let bad = |why: &str| format!("{why} in import id {raw:?}. Use one of {IMPORT_ID_FORMS}.");
    let parts: Vec<&str> = raw.trim().split('/').collect();
    if parts.iter().any(|p| p.is_empty() || p.chars().any(char::is_whitespace)) {
        return Err(bad("Empty part or whitespace"));
    }
    let (project_id, region, image_id) = match parts.as_slice() {
        [id] => (None, None, *id),
        [region, id] => (None, Some(*region), *id),
        [project, region, id] => (Some(*project), Some(*region), *id),
        _ => return Err(bad("Too many parts")),
    };
    if !is_image_id(image_id) {
        return Err(bad(&format!("{image_id:?} is not an image id (uimage-...)")));
    }
    Ok(ImportId {
        project_id: project_id.map(str::to_string),
        region: region.map(str::to_string),
        image_id: image_id.to_string(),
    })
}

impl ImportId {
    /// Where the image lives: the id's region and project, or the
    /// provider's, by the rule every location follows; the advice when no
    /// region is known speaks of the import id.
    pub fn location(&self, raw: &str, data: &ProviderData) -> Result<Location, Diagnostic> {
        let given = |v: &Option<String>| v.clone().map_or(Maybe::Null, Maybe::Known);
        data.locate(&given(&self.region), &given(&self.project_id), AttrPath::attr("region"))
            .map_err(|no_region| Diagnostic {
                detail: format!(
                    "The import {raw:?} names no region and the provider has none. Use `REGION/{}` or set the \
                     provider's `region` (or UCLOUD_REGION).",
                    self.image_id
                ),
                attribute: None,
                ..no_region
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_in_three_forms() {
        assert_eq!(
            parse_import_id("uimage-abc"),
            Ok(ImportId {
                project_id: None,
                region: None,
                image_id: "uimage-abc".into()
            })
        );
        assert_eq!(
            parse_import_id("cn-bj2/uimage-abc"),
            Ok(ImportId {
                project_id: None,
                region: Some("cn-bj2".into()),
                image_id: "uimage-abc".into()
            })
        );
        assert_eq!(
            parse_import_id("org-1/cn-bj2/uimage-abc"),
            Ok(ImportId {
                project_id: Some("org-1".into()),
                region: Some("cn-bj2".into()),
                image_id: "uimage-abc".into()
            })
        );
        for bad in [
            "",
            "uimage-",
            "image-abc",
            "cn-bj2/",
            "/uimage-a",
            "a/b/c/uimage-a",
            "cn bj2/uimage-a",
            "uimage-a?b",
        ] {
            let err = parse_import_id(bad).expect_err(bad);
            assert!(err.contains("PROJECT_ID/REGION/uimage-xxxx"), "{bad}: {err}");
        }
    }

    #[test]
    fn image_ids_are_checked_before_use() {
        assert!(is_image_id("uimage-k3v9q2x1"));
        for bad in ["", "uimage-", "uhost-1", " uimage-1", "uimage-1/2"] {
            assert!(!is_image_id(bad), "{bad:?}");
        }
    }
}
