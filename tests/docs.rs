//! The registry docs under `docs/` are generated from the provider's own
//! schema and the templates under `templates/`. This test fails when the
//! committed docs differ from what the schema generates; regenerate them with
//! `UPDATE_DOCS=1 cargo test --test docs`.

use std::path::{Path, PathBuf};
use tpu::framework::Provider;
use tpu::framework::docs::{render_identity, render_page};
use tpu::provider::UcloudProvider;

const PROVIDER_NAME: &str = "ucloud";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every page: (template, generated file, schema, identity schema).
fn pages() -> Vec<(
    PathBuf,
    PathBuf,
    tpu::framework::Schema,
    Option<tpu::framework::IdentitySchema>,
)> {
    let provider = UcloudProvider;
    let mut pages = vec![(
        PathBuf::from("templates/index.md.tmpl"),
        PathBuf::from("docs/index.md"),
        provider.schema(),
        None,
    )];
    let short = |type_name: &str| {
        type_name
            .strip_prefix(&format!("{PROVIDER_NAME}_"))
            .unwrap_or(type_name)
            .to_string()
    };
    for resource in provider.resources() {
        let short = short(resource.type_name());
        pages.push((
            PathBuf::from(format!("templates/resources/{short}.md.tmpl")),
            PathBuf::from(format!("docs/resources/{short}.md")),
            resource.schema(),
            resource.identity_schema(),
        ));
    }
    for data_source in provider.data_sources() {
        let short = short(data_source.type_name());
        pages.push((
            PathBuf::from(format!("templates/data-sources/{short}.md.tmpl")),
            PathBuf::from(format!("docs/data-sources/{short}.md")),
            data_source.schema(),
            None,
        ));
    }
    for list in provider.list_resources() {
        let short = short(list.type_name());
        pages.push((
            PathBuf::from(format!("templates/list-resources/{short}.md.tmpl")),
            PathBuf::from(format!("docs/list-resources/{short}.md")),
            list.schema(),
            None,
        ));
    }
    pages
}

/// The page of `template`; `{{identity}}` there is the identity's reference.
fn generate(
    template: &Path,
    schema: &tpu::framework::Schema,
    identity: Option<&tpu::framework::IdentitySchema>,
) -> String {
    let mut text = std::fs::read_to_string(root().join(template)).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (every resource and data source needs a docs template)",
            template.display()
        )
    });
    if let Some(identity) = identity {
        text = text.replace("{{identity}}", &render_identity(identity));
    }
    let mut page = render_page(&text, schema, &root()).unwrap_or_else(|e| panic!("{}: {e}", template.display()));
    if !page.ends_with('\n') {
        page.push('\n');
    }
    page
}

#[test]
fn committed_docs_match_the_schema() {
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (template, output, schema, identity) in pages() {
        let generated = generate(&template, &schema, identity.as_ref());
        let path = root().join(&output);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &generated).unwrap();
            } else {
                stale.push(output.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs out of date: {stale:?}; regenerate with `UPDATE_DOCS=1 cargo test --test docs` and commit"
    );
}

#[test]
fn every_attribute_is_documented() {
    for (_, output, schema, _) in pages() {
        let mut missing = Vec::new();
        for a in &schema.block.attributes {
            if a.description.trim().is_empty() {
                missing.push(a.name.clone());
            }
        }
        for b in &schema.block.blocks {
            for a in &b.block.attributes {
                if a.description.trim().is_empty() {
                    missing.push(format!("{}.{}", b.type_name, a.name));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "{}: attributes without a description: {missing:?}",
            output.display()
        );
    }
}
