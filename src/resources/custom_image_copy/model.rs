//! `ucloud_custom_image_copy`'s model: every attribute declared once (with
//! the values it accepts), the plan-time checks between attributes, where
//! the source and the copy live, and how an image UCloud describes fills
//! the model.

use super::super::custom_image::model::MAX_NAME_CHARS;
use super::super::import_id::is_image_id;
use super::super::non_empty;
use super::WORDS;
use crate::framework::plan::unless_imported;
use crate::framework::timeouts::{Op, TimeoutsBlock};
use crate::framework::{Diagnostic, Diagnostics, Maybe, attr, v};
use crate::images::Location;
use crate::resources::lifecycle::{Refresh, TIMEOUTS, declare};
use crate::ucloud::Image;
use crate::{attr_name, attr_path, model};
use std::time::Duration;

/// Said of the source arguments, which DescribeImage cannot tell for a copy.
const SOURCE_NOTE: &str = "UCloud does not say which image a copy came from: after `terraform import`, taken from \
                           the configuration without replacing the copy.";

model! {
    /// The resource's values. Every field may be unknown at plan time.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct CustomImageCopyModel {
        pub id: Maybe<String> = attr::computed(
            "The copy's image id (`uimage-...`) in its own region and project.",
        )
        .use_state_for_unknown(),
        pub source_image_id: Maybe<String> = attr::required(format!(
            "The custom image to copy (`uimage-...`), e.g. `ucloud_custom_image.centos.id`. It must be \
             `Available` when the copy starts. {SOURCE_NOTE}"
        ))
        .validate(v::is(is_image_id, "a UCloud image id (uimage-...)").help(
            "Give the id of the custom image to copy, e.g. ucloud_custom_image.centos.id.",
        ))
        .requires_replace_if(unless_imported),
        pub source_region: Maybe<String> = attr::optional_computed(format!(
            "The region of the source image. Default: this resource's `region`. {SOURCE_NOTE}"
        ))
        .validate(v::non_empty())
        .requires_replace_if(unless_imported)
        .use_state_for_unknown(),
        pub source_project_id: Maybe<String> = attr::optional_computed(format!(
            "The project of the source image (`org-...`). Default: this resource's `project_id`. {SOURCE_NOTE}"
        ))
        .validate(v::non_empty())
        .requires_replace_if(unless_imported)
        .use_state_for_unknown(),
        pub region: Maybe<String> = attr::optional_computed(
            "The region the copy is made in (`TargetRegion`), e.g. `cn-sh2`. Default: the provider's `region`.",
        )
        .validate(v::non_empty())
        .requires_replace()
        .use_state_for_unknown(),
        pub project_id: Maybe<String> = attr::optional_computed(
            "The project the copy is made in (`TargetProjectId`, `org-...`). Default: the provider's \
             `project_id`. UCloud requires a project id for a copy, so one of the two must be set.",
        )
        .validate(v::non_empty())
        .requires_replace()
        .use_state_for_unknown(),
        pub name: Maybe<String> = attr::optional_computed(
            "The copy's name (`TargetImageName`). Default: the source image's name.",
        )
        .validate(v::length(1, MAX_NAME_CHARS))
        .requires_replace()
        .use_state_for_unknown(),
        pub description: Maybe<String> = attr::optional_computed(
            "The copy's description (`TargetImageDescription`). Default: the source image's description.",
        )
        .requires_replace()
        .use_state_for_unknown(),
        pub tag: Maybe<String> = attr::optional_computed(
            "The copy's business group (`TargetImageTag`). Default: UCloud's default group (`Default`).",
        )
        .validate(v::non_empty())
        .requires_replace()
        .use_state_for_unknown(),
        pub os_name: Maybe<String> = attr::computed("The operating system version, e.g. `CentOS 7.6 64位`.")
            .use_state_for_unknown(),
        pub status: Maybe<String> = declare::status(WORDS),
        pub size: Maybe<i64> = declare::size(WORDS),
        pub create_time: Maybe<String> = declare::create_time(WORDS),
        pub features: Maybe<Vec<String>> = declare::features(WORDS),
        pub timeouts: TimeoutsBlock = TIMEOUTS.block(),
    }
}

/// Whether a source argument names the copy's own region or project:
/// unset means "the same"; `None` while either side is not known.
fn same_as_own(source: &Maybe<String>, own: &Maybe<String>, provider: &Maybe<String>) -> Option<bool> {
    let own = match own {
        Maybe::Known(v) => Some(v),
        Maybe::Null => match provider {
            Maybe::Known(v) => Some(v),
            Maybe::Null => None,
            Maybe::Unknown => return matches!(source, Maybe::Null).then_some(true),
        },
        Maybe::Unknown => return matches!(source, Maybe::Null).then_some(true),
    };
    match source {
        Maybe::Null => Some(true),
        Maybe::Known(s) => Some(own == Some(s)),
        Maybe::Unknown => None,
    }
}

impl CustomImageCopyModel {
    /// The configured timeout of `op`, or its default.
    pub fn timeout(&self, op: Op) -> Duration {
        self.timeouts.get(&TIMEOUTS, op)
    }

    /// Whether the copy would land on its source: same region, same project
    /// and no new name. `None` while that is not decided yet. `self` is a
    /// configuration or a plan; unset source values stand for this
    /// resource's own, unset own ones for `provider_*`.
    pub fn copies_onto_itself(
        &self,
        provider_region: &Maybe<String>,
        provider_project: &Maybe<String>,
    ) -> Option<bool> {
        if self.name.known().is_some() {
            return Some(false);
        }
        if self.name.is_unknown() {
            return None;
        }
        let region = same_as_own(&self.source_region, &self.region, provider_region);
        let project = same_as_own(&self.source_project_id, &self.project_id, provider_project);
        match (region, project) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }
    }

    /// Where the source image lives, given where the copy lives: the
    /// source arguments where known, otherwise the copy's own location.
    pub fn source_location(&self, target: &Location) -> Location {
        let region = self
            .source_region
            .known()
            .cloned()
            .unwrap_or_else(|| target.region.clone());
        let project = match &self.source_project_id {
            Maybe::Known(p) => Some(p.clone()),
            _ => target.project_id.clone(),
        };
        Location::new(region, project)
    }

    /// Records where the copy and its source live, as the state keeps them.
    pub fn locate(&mut self, target: &Location, source: &Location) {
        self.region = Maybe::Known(target.region.clone());
        self.project_id = target.project_id.clone().map_or(Maybe::Null, Maybe::Known);
        self.source_region = Maybe::Known(source.region.clone());
        self.source_project_id = source.project_id.clone().map_or(Maybe::Null, Maybe::Known);
    }

    /// What a refresh takes from `img` (the copy) beyond the attributes
    /// every image resource has; it depends on who asks (see [`Refresh`]).
    pub fn refresh_more(&mut self, img: &Image, how: Refresh) {
        self.os_name = non_empty(&img.os_name);
        let keep_planned = how == Refresh::AfterCreate;
        let take = |field: &mut Maybe<String>, remote: &str| {
            if !(keep_planned && field.known().is_some()) {
                *field = non_empty(remote);
            }
        };
        take(&mut self.name, &img.image_name);
        take(&mut self.tag, &img.tag);
        // UCloud cannot store an empty description: keep the user's "" when it is empty.
        let empty_in_state = self.description.known().is_some_and(|d| d.is_empty());
        if !(img.image_description.is_empty() && empty_in_state) {
            take(&mut self.description, &img.image_description);
        }
    }
}

/// Plan-time checks between attributes, after the declared ones (see the
/// model): no API call, unknown values skipped until known.
pub fn validate_config(config: &CustomImageCopyModel) -> Diagnostics {
    let mut diags = Diagnostics::new();
    // Decidable from the configuration alone when the source arguments are
    // unset (they default to the copy's own); the plan checks the rest.
    if config.copies_onto_itself(&Maybe::Unknown, &Maybe::Unknown) == Some(true) {
        diags.push(onto_itself());
    }
    diags
}

/// The error for a copy whose target is its source.
pub fn onto_itself() -> Diagnostic {
    type M = CustomImageCopyModel;
    Diagnostic::error(
        "Copy onto itself",
        format!(
            "The copy would be made in the region and project of the source image under the same name, which \
             only duplicates it. Set {region} or {project} to copy elsewhere (the source stays at {source_region} \
             / {source_project}), or give the copy a new {name}.",
            region = attr_name!(M, region),
            project = attr_name!(M, project_id),
            source_region = attr_name!(M, source_region),
            source_project = attr_name!(M, source_project_id),
            name = attr_name!(M, name),
        ),
    )
    .at(attr_path!(M, source_image_id))
}
