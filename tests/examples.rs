//! Every example under `examples/` is what users copy: each must be formatted
//! (`terraform fmt -check`) and valid against the provider's real schema
//! (`terraform validate`, run through the dev override).

use std::path::{Path, PathBuf};

use test_support::terraform::Terraform;
use test_support::ucloud::{self, ProviderSettings};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

fn examples_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Directories under `examples/` that hold `.tf` files and are roots (not a
/// module called by another example).
fn example_roots() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut has_tf = false;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "modules") {
                    continue;
                }
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "tf") {
                has_tf = true;
            }
        }
        if has_tf {
            out.push(dir.to_path_buf());
        }
    }
    let mut out = Vec::new();
    walk(&examples_root(), &mut out);
    out.sort();
    out
}

#[test]
fn examples_are_formatted() {
    let tf = Terraform::new(PROVIDER);
    let root = examples_root();
    tf.run(&["fmt", "-check", "-recursive", "-diff", root.to_str().unwrap()])
        .expect_success();
}

#[test]
fn every_example_validates_against_the_provider_schema() {
    let roots = example_roots();
    let names: Vec<String> = roots
        .iter()
        .map(|p| p.strip_prefix(examples_root()).unwrap().display().to_string())
        .collect();
    for expected in [
        "provider",
        "resources/ucloud_custom_image",
        "resources/ucloud_custom_image_copy",
        "data-sources/ucloud_custom_image",
        "data-sources/ucloud_custom_images",
        "quickstart",
        "image-pipeline",
        "next-to-official-provider",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "example {expected} missing; found {names:?}"
        );
    }
    for (root, name) in roots.iter().zip(&names) {
        let tf = Terraform::new(PROVIDER);
        tf.copy_in(root);
        if name.starts_with("resources/") || name.starts_with("data-sources/") {
            // A registry example is a fragment: give it its provider (which
            // `validate` never configures, so it talks to nothing).
            let settings = ProviderSettings::with_sim_keys();
            tf.write("provider.tf", &settings.blocks(&ucloud::closed_endpoint()));
        }
        if root.join("modules").is_dir() {
            // Local modules need `get`; providers come from the dev override.
            tf.run(&["get"]).expect_success();
        }
        let out = tf.run(&["validate"]);
        assert_eq!(out.code, 0, "example {name} does not validate:\n{out}");
        assert!(out.stdout.contains("Success!"), "example {name}:\n{out}");
    }
}
