//! The house's rules, read from the sources as Rust (with `syn`), not as text.
//!
//! 1. The arrows point one way: each top-level module of `src/` may use only
//!    the modules below it, so there is no import cycle. Every path that
//!    starts with `crate::`, `super::` (any number of them) or `self::` is
//!    resolved against the module it is written in: `use` trees with nested
//!    groups, paths in expressions and types (`crate::ucloud::Client::new()`),
//!    and paths inside macro invocations.
//! 2. The client knows nothing of Terraform: no string literal in `src/ucloud/`
//!    names an attribute of the provider's schemas.
//!
//! Only non-test code counts: `tests.rs` files and `#[cfg(test)]` items are
//! skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};
use tpu::framework::{Block, Provider, Type};
use tpu::provider::UcloudProvider;

/// Each module and the modules it may use.
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

/// Macros reached as `crate::name`, and the module that defines them.
const MACROS: &[(&str, &str)] = &[
    ("model", "framework"),
    ("attr_path", "framework"),
    ("attr_name", "framework"),
    ("image_model", "resources"),
];

/// Literals that are allowed under `src/ucloud/` although they equal an
/// attribute name, per file. The UCloud CLI's profile files
/// (`~/.ucloud/credential.json`, `config.json`) are UCloud's format, and their
/// JSON keys happen to be the provider's argument names: reading them is a
/// fact about UCloud, not Terraform (the key pair's two names are constants
/// there, which the API errors also use). Only whole literals are allowed, so
/// a message naming a setting is still caught.
const UCLOUD_FORMATS: &[(&str, &[&str])] = &[(
    "credentials.rs",
    &[
        "profile",
        "public_key",
        "private_key",
        "region",
        "project_id",
        "base_url",
    ],
)];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

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

/// The module path of a file (`src/images/format/mod.rs` -> `images::format`);
/// `None` for the crate root (`lib.rs`, `main.rs`) and for `tests.rs` files.
fn module_of(src: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    match last.as_str() {
        "lib.rs" | "main.rs" | "tests.rs" => return None,
        "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    (!parts.is_empty()).then_some(parts)
}

/// What the non-test code of one file refers to and says.
#[derive(Debug, Default)]
struct Scan {
    /// The top-level modules (or crate-root macros) its paths lead to.
    refs: BTreeSet<String>,
    /// Its string literals, including those inside macro invocations and
    /// attributes other than doc comments.
    literals: Vec<String>,
}

/// Reads `code` as the file of module `module`.
fn scan(module: &[&str], code: &str) -> Scan {
    let file = syn::parse_file(code).unwrap_or_else(|e| panic!("{}: {e}", module.join("::")));
    let mut s = Scanner {
        module: module.iter().map(|m| (*m).to_owned()).collect(),
        scan: Scan::default(),
    };
    s.visit_file(&file);
    s.scan
}

struct Scanner {
    /// Where the code being read is (inline `mod x { .. }` pushes onto it).
    module: Vec<String>,
    scan: Scan,
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test"))
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item as I;
    match item {
        I::Const(i) => &i.attrs,
        I::Enum(i) => &i.attrs,
        I::ExternCrate(i) => &i.attrs,
        I::Fn(i) => &i.attrs,
        I::ForeignMod(i) => &i.attrs,
        I::Impl(i) => &i.attrs,
        I::Macro(i) => &i.attrs,
        I::Mod(i) => &i.attrs,
        I::Static(i) => &i.attrs,
        I::Struct(i) => &i.attrs,
        I::Trait(i) => &i.attrs,
        I::TraitAlias(i) => &i.attrs,
        I::Type(i) => &i.attrs,
        I::Union(i) => &i.attrs,
        I::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// Every path a `use` tree names, as segments (`*` for a glob).
fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let leaf = |prefix: &Vec<String>, last: String| {
        let mut p = prefix.clone();
        p.push(last);
        p
    };
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => out.push(leaf(prefix, n.ident.to_string())),
        syn::UseTree::Rename(r) => out.push(leaf(prefix, r.ident.to_string())),
        syn::UseTree::Glob(_) => out.push(leaf(prefix, "*".to_owned())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_paths(t, prefix, out);
            }
        }
    }
}

impl Scanner {
    /// Records the top-level module `segments` lead to, if it is a path
    /// within the crate.
    fn path(&mut self, segments: &[String]) {
        let Some((first, rest)) = segments.split_first() else {
            return;
        };
        let mut at = self.module.clone();
        let mut rest = match first.as_str() {
            "crate" => {
                at.clear();
                rest
            }
            "self" => rest,
            "super" => segments,
            _ => return,
        };
        while let Some((s, more)) = rest.split_first()
            && s == "super"
        {
            if at.pop().is_none() {
                return;
            }
            rest = more;
        }
        at.extend(rest.iter().cloned());
        if let Some(top) = at.first().filter(|t| *t != "*" && *t != "self") {
            self.scan.refs.insert(top.clone());
        }
    }

    /// A token stream (a macro's input, an attribute's arguments): its
    /// string literals, and the paths written in it (`crate::a::b`,
    /// `super::x`, `$crate::y`).
    fn tokens(&mut self, stream: TokenStream) {
        let trees: Vec<TokenTree> = stream.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Literal(l) => {
                    if let syn::Lit::Str(s) = syn::Lit::new(l.clone()) {
                        self.scan.literals.push(s.value());
                    }
                }
                TokenTree::Ident(id) if id == "crate" || id == "super" || id == "self" => {
                    let mut segments = vec![id.to_string()];
                    while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(next))) =
                        (trees.get(i + 1), trees.get(i + 2), trees.get(i + 3))
                        && a.as_char() == ':'
                        && b.as_char() == ':'
                    {
                        segments.push(next.to_string());
                        i += 3;
                    }
                    if segments.len() > 1 {
                        self.path(&segments);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Scanner {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_test(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => return visit::visit_impl_item(self, item),
        };
        if !is_test(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if let Some((_, items)) = &m.content {
            self.module.push(m.ident.to_string());
            for item in items {
                self.visit_item(item);
            }
            self.module.pop();
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        use_paths(&u.tree, &mut Vec::new(), &mut paths);
        for p in paths {
            self.path(&p);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() {
            let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
            self.path(&segments);
        }
        visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        visit::visit_macro(self, m);
        self.tokens(m.tokens.clone());
    }

    fn visit_attribute(&mut self, a: &'ast syn::Attribute) {
        match &a.meta {
            // Doc comments are prose for readers of the code.
            syn::Meta::NameValue(nv) if nv.path.is_ident("doc") => {}
            syn::Meta::NameValue(nv) => self.visit_expr(&nv.value),
            // `#[error("...")]` and the like: messages users read.
            syn::Meta::List(l) => self.tokens(l.tokens.clone()),
            syn::Meta::Path(_) => {}
        }
    }

    fn visit_lit_str(&mut self, s: &'ast syn::LitStr) {
        self.scan.literals.push(s.value());
    }
}

/// Every non-test file under `src/` with its module path and its scan.
fn scanned() -> Vec<(PathBuf, Vec<String>, Scan)> {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|file| {
            let module = module_of(&src, &file)?;
            let text = std::fs::read_to_string(&file).expect("readable source");
            let m: Vec<&str> = module.iter().map(String::as_str).collect();
            let s = scan(&m, &text);
            Some((file, module, s))
        })
        .collect()
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let macros: BTreeMap<&str, &str> = MACROS.iter().copied().collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (file, path, scan) in scanned() {
        let module = path[0].clone();
        let Some(may_use) = allowed.get(module.as_str()) else {
            problems.push(format!(
                "{}: module {module} is not in ALLOWED; place it in a layer",
                file.display()
            ));
            continue;
        };
        for r in scan.refs {
            let target = macros.get(r.as_str()).map_or(r, |m| (*m).to_owned());
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
        graph.contains_key("resources") && graph.contains_key("provider") && graph.contains_key("images"),
        "the scan found the modules: {graph:?}"
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

/// The names of a block's attributes and nested blocks, and of the fields
/// of object-typed attributes, at any depth.
fn block_names(block: &Block, out: &mut BTreeSet<String>) {
    fn type_names(ty: &Type, out: &mut BTreeSet<String>) {
        match ty {
            Type::List(t) | Type::Set(t) | Type::Map(t) => type_names(t, out),
            Type::Object(fields) => {
                for (name, t) in fields {
                    out.insert(name.clone());
                    type_names(t, out);
                }
            }
            Type::Tuple(ts) => ts.iter().for_each(|t| type_names(t, out)),
            Type::Bool | Type::Number | Type::String | Type::Dynamic => {}
        }
    }
    for a in &block.attributes {
        out.insert(a.name.clone());
        type_names(&a.ty, out);
    }
    for b in &block.blocks {
        out.insert(b.type_name.clone());
        block_names(&b.block, out);
    }
}

/// Every Terraform attribute name the provider declares: the provider
/// block, each resource (and its identity), data source and list resource.
fn attribute_names() -> BTreeSet<String> {
    let provider = UcloudProvider;
    let mut names = BTreeSet::new();
    block_names(&provider.schema().block, &mut names);
    for r in provider.resources() {
        block_names(&r.schema().block, &mut names);
        if let Some(identity) = r.identity_schema() {
            block_names(&identity.block, &mut names);
        }
    }
    for d in provider.data_sources() {
        block_names(&d.schema().block, &mut names);
    }
    for l in provider.list_resources() {
        block_names(&l.schema().block, &mut names);
    }
    names
}

/// The attribute names `literal` contains, by this rule: text inside `{..}`
/// is a format placeholder (a Rust name, not a word of the message) and is
/// dropped; the rest is cut into words of letters, digits and `_`. A name
/// with an `_` (`ufile_url`) is an identifier no prose uses, so it counts
/// wherever it stands as a whole word. A name without one (`format`,
/// `region`, `name`) is also an English word or a UCloud API term, so it
/// counts only as the whole literal.
fn named_attributes<'a>(literal: &str, names: &'a BTreeSet<String>) -> Vec<&'a str> {
    let mut text = String::new();
    let mut depth = 0usize;
    for c in literal.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 => text.push(c),
            _ => {}
        }
    }
    let words: BTreeSet<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    names
        .iter()
        .filter(|n| {
            if n.contains('_') {
                words.contains(n.as_str())
            } else {
                literal.trim() == n.as_str()
            }
        })
        .map(String::as_str)
        .collect()
}

#[test]
fn the_client_names_no_terraform_attribute() {
    let names = attribute_names();
    assert!(
        ["ufile_url", "format", "public_key", "ufile_base_url", "verify_source"]
            .iter()
            .all(|n| names.contains(*n)),
        "the schemas were read: {names:?}"
    );
    let allowed: BTreeMap<&str, &[&str]> = UCLOUD_FORMATS.iter().copied().collect();
    let mut problems = Vec::new();
    let mut literals = 0;
    for (file, module, scan) in scanned() {
        if module[0] != "ucloud" {
            continue;
        }
        let file_name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let exempt = allowed.get(file_name).copied().unwrap_or_default();
        for literal in &scan.literals {
            literals += 1;
            if exempt.contains(&literal.as_str()) {
                continue;
            }
            for name in named_attributes(literal, &names) {
                problems.push(format!("{}: {name:?} in {literal:?}", file.display()));
            }
        }
    }
    assert!(literals > 100, "the scan read the client's literals ({literals})");
    assert!(
        problems.is_empty(),
        "Terraform attribute names in the client (word them in the resource or provider layer):\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_source_file_outside_tests_exceeds_about_700_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files.iter().filter(|f| !f.ends_with("tests.rs")) {
        let text = std::fs::read_to_string(file).expect("readable source");
        let code = text.find("#[cfg(test)]").map_or(text.as_str(), |at| &text[..at]);
        let lines = code.lines().count();
        assert!(lines <= 720, "{}: {lines} lines of non-test code", file.display());
    }
}

fn refs(module: &[&str], code: &str) -> Vec<String> {
    scan(module, code).refs.into_iter().collect()
}

#[test]
fn the_scanner_resolves_groups_super_and_paths_in_code() {
    assert_eq!(
        refs(&["images"], "use crate::{a::{b, c}, d};"),
        ["a", "d"],
        "nested groups"
    );
    assert_eq!(
        refs(
            &["resources", "custom_image", "preflight"],
            "use super::super::super::ucloud::X;"
        ),
        ["ucloud"],
        "super::super:: up to the crate root"
    );
    assert_eq!(
        refs(
            &["resources", "custom_image", "model"],
            "use super::super::lifecycle::x;"
        ),
        ["resources"],
        "super:: within the module"
    );
    assert_eq!(
        refs(&["images"], "use super::{ucloud, framework::Diagnostic};"),
        ["framework", "ucloud"],
        "super:: from a top-level module is the crate root"
    );
    assert_eq!(
        refs(
            &["images"],
            "fn f() -> crate::provider::P { crate::ucloud::Client::new(); self::x::y() }"
        ),
        ["images", "provider", "ucloud"],
        "paths in types and expressions"
    );
    assert_eq!(
        refs(&["images"], "fn f() { let x = format!(\"{}\", crate::framework::X); }"),
        ["framework"],
        "paths inside macro invocations"
    );
    assert_eq!(
        refs(&["images"], "mod inner { use super::super::provider::P; }"),
        ["provider"],
        "inline modules move super::"
    );
    assert!(
        refs(
            &["images"],
            "#[cfg(test)]\nmod tests { use crate::provider::P; }\n#[cfg(test)]\nuse crate::framework;"
        )
        .is_empty(),
        "test code is skipped"
    );
}

#[test]
fn the_literal_check_flags_attribute_names_and_not_prose() {
    let names: BTreeSet<String> = ["ufile_url", "format", "ufile_base_url"].map(String::from).into();
    let code = r#"
        #[derive(Debug, thiserror::Error)]
        enum E {
            #[error("ufile_base_url `{url}` is not usable")]
            Base { url: String },
        }
        /// Mapping a `ufile_url` in a doc comment is prose.
        fn f(ufile_url: &str) -> String {
            let a = "ufile_url";
            let b = format!("the object URL {ufile_url}: the declared format is wrong");
            let c = "format";
            format!("{a}{b}{c}")
        }
        #[cfg(test)]
        fn t() -> &'static str { "ufile_url" }
    "#;
    let found: Vec<(String, Vec<&str>)> = scan(&["ucloud"], code)
        .literals
        .iter()
        .map(|l| (l.clone(), named_attributes(l, &names)))
        .filter(|(_, n)| !n.is_empty())
        .collect();
    assert_eq!(
        found,
        [
            (
                "ufile_base_url `{url}` is not usable".to_owned(),
                vec!["ufile_base_url"]
            ),
            ("ufile_url".to_owned(), vec!["ufile_url"]),
            ("format".to_owned(), vec!["format"]),
        ]
    );
    assert!(
        named_attributes("UCLOUD_UFILE_BASE_URL", &names).is_empty(),
        "env vars are not attributes"
    );
}
