//! The house's arrows point one way: each top-level module of `src/` may use
//! only the modules below it, so there is no import cycle. Read from the
//! sources (non-test code: everything before a file's `#[cfg(test)]`, and no
//! `tests.rs` files), so a new `use crate::...` that points upward fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module and the modules it may use. The crate-root macros (`model!`,
/// `attr_path!`, `attr_name!`) belong to `framework`.
const ALLOWED: &[(&str, &[&str])] = &[
    ("plugin", &["logging", "proto"]),
    ("logging", &[]),
    ("framework", &["logging", "proto"]),
    (
        "provider",
        &[
            "framework",
            "list_resources",
            "resources",
            "data_sources",
            "provider_data",
            "images",
            "ucloud",
        ],
    ),
    (
        "list_resources",
        &[
            "framework",
            "resources",
            "data_sources",
            "provider_data",
            "images",
            "ucloud",
        ],
    ),
    ("resources", &["framework", "provider_data", "images", "ucloud"]),
    ("data_sources", &["framework", "provider_data", "images", "ucloud"]),
    ("provider_data", &["framework", "images", "ucloud"]),
    ("images", &["ucloud"]),
    ("ucloud", &[]),
];

const MACROS: &[&str] = &["model", "attr_path", "attr_name"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/images/api.rs` -> `images`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" | "bin" => None,
        other => Some(other.trim_end_matches(".rs").to_string()),
    }
}

/// The `crate::` names a piece of code refers to, including grouped ones
/// (`use crate::{a, b::c}`).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    refs.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            refs.insert(name);
        }
    }
    refs
}

fn non_test_code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source");
        let Some(may_use) = allowed.get(module.as_str()) else {
            problems.push(format!(
                "{}: module {module} is not in ALLOWED; place it in a layer",
                file.display()
            ));
            continue;
        };
        for r in crate_refs(non_test_code(&text)) {
            let target = if MACROS.contains(&r.as_str()) {
                "framework".to_string()
            } else {
                r
            };
            if target == module {
                continue;
            }
            if !may_use.contains(&target.as_str()) {
                problems.push(format!(
                    "{}: {module} uses crate::{target}, which is not below it",
                    file.display()
                ));
            }
            graph.entry(module.clone()).or_default().insert(target);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        graph.contains_key("resources") && graph.contains_key("provider"),
        "the scan found the modules"
    );

    // No cycle, whatever the table says.
    fn visit(n: &str, g: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if done.contains(n) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == n) {
            panic!("import cycle: {} -> {n}", path[at..].join(" -> "));
        }
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, path, done);
        }
        path.pop();
        done.insert(n.to_string());
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn no_source_file_outside_tests_exceeds_about_700_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files.iter().filter(|f| !f.ends_with("tests.rs")) {
        let text = std::fs::read_to_string(file).expect("readable source");
        let lines = non_test_code(&text).lines().count();
        assert!(lines <= 720, "{}: {lines} lines of non-test code", file.display());
    }
}

#[test]
fn the_scanner_reads_grouped_and_plain_paths() {
    let refs = crate_refs("use crate::{attr_name, images::Waiter};\nlet x = crate::ucloud::Client::new();");
    assert_eq!(
        refs,
        BTreeSet::from(["attr_name".to_string(), "images".to_string(), "ucloud".to_string()])
    );
}
