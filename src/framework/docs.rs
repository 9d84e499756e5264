//! Registry documentation generated from schemas, so the argument and
//! attribute reference can never drift from what the provider serves.
//!
//! A page template is markdown with two kinds of placeholders:
//! `{{schema}}` (the rendered reference of the page's schema) and
//! `{{file "relative/path"}}` (a file's contents, e.g. an example, read from
//! the repository root).

use super::resource::IdentitySchema;
use super::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use super::value::Type;
use std::fmt::Write as _;
use std::path::Path;

/// Renders the argument and attribute reference of `schema` as markdown.
pub fn render_schema(schema: &Schema) -> String {
    let mut out = String::new();
    render_block(&mut out, &schema.block, None);
    out.trim_end().to_string()
}

fn render_block(out: &mut String, block: &Block, nested_in: Option<&str>) {
    let required: Vec<&Attribute> = block.attributes.iter().filter(|a| a.required).collect();
    let optional: Vec<&Attribute> = block.attributes.iter().filter(|a| a.optional).collect();
    let read_only: Vec<&Attribute> = block.attributes.iter().filter(|a| a.computed && !a.optional).collect();
    let heading = if nested_in.is_some() { "###" } else { "##" };
    let sections: [(&str, Vec<&Attribute>); 3] =
        [("Required", required), ("Optional", optional), ("Read-Only", read_only)];
    let blocks_by_section = |section: &str| -> Vec<&NestedBlock> {
        block
            .blocks
            .iter()
            .filter(|b| match section {
                "Required" => b.min_items > 0,
                "Optional" => b.min_items == 0,
                _ => false,
            })
            .collect()
    };
    for (title, attrs) in sections {
        let nested = blocks_by_section(title);
        if attrs.is_empty() && nested.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{heading} {title}\n");
        for a in attrs {
            let _ = writeln!(out, "- {}", attribute_line(a));
        }
        for b in nested {
            let _ = writeln!(
                out,
                "- `{}` (Block{}) {} (see [below for nested schema](#nestedblock--{}))",
                b.type_name,
                nesting_suffix(b),
                one_line(&b.block.description),
                anchor(nested_in, &b.type_name),
            );
        }
        out.push('\n');
    }
    for b in &block.blocks {
        let id = anchor(nested_in, &b.type_name);
        let _ = writeln!(out, "<a id=\"nestedblock--{id}\"></a>");
        let _ = writeln!(out, "### Nested Schema for `{}`\n", id.replace("--", "."));
        render_block(out, &b.block, Some(&id));
    }
}

fn anchor(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(p) => format!("{p}--{name}"),
        None => name.to_string(),
    }
}

fn nesting_suffix(b: &NestedBlock) -> String {
    match b.nesting {
        Nesting::Single | Nesting::Group => String::new(),
        Nesting::List => format!(", List{}", max_items(b)),
        Nesting::Set => format!(", Set{}", max_items(b)),
        Nesting::Map => ", Map".to_string(),
    }
}

fn max_items(b: &NestedBlock) -> String {
    if b.max_items > 0 {
        format!(", Max: {}", b.max_items)
    } else {
        String::new()
    }
}

fn attribute_line(a: &Attribute) -> String {
    let mut flags = vec![type_name(&a.ty)];
    if a.sensitive {
        flags.push("Sensitive".to_string());
    }
    if a.deprecated {
        flags.push("Deprecated".to_string());
    }
    let mut line = format!("`{}` ({})", a.name, flags.join(", "));
    let description = one_line(&a.description);
    if !description.is_empty() {
        line.push(' ');
        line.push_str(&description);
    }
    for rule in a.validators.iter().filter_map(|v| v.doc()) {
        line.push(' ');
        line.push_str(&rule);
    }
    if let Some(env) = a.env.filter(|env| !description.contains(env)) {
        let _ = write!(line, " Environment variable: `{env}`.");
    }
    // Descriptions sent to Terraform often state the default already.
    if let Some(default) = a
        .documented_default()
        .filter(|_| !description.to_lowercase().contains("default"))
    {
        let _ = write!(line, " Default: `{default}`.");
    }
    if !a.replace.is_never() && (a.optional || a.required) {
        line.push_str(" Changing it forces a new resource.");
    }
    line
}

/// Joins a multi-line description into one markdown list item.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn type_name(t: &Type) -> String {
    match t {
        Type::Bool => "Boolean".into(),
        Type::Number => "Number".into(),
        Type::String => "String".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

/// Renders a resource identity (Terraform >= 1.12) as markdown: what
/// `import { identity = {...} }` takes.
pub fn render_identity(identity: &IdentitySchema) -> String {
    let mut out = String::from("### Identity Schema\n\n");
    for (title, required) in [("Required", true), ("Optional", false)] {
        let attrs: Vec<&Attribute> = identity
            .block
            .attributes
            .iter()
            .filter(|a| a.required == required)
            .collect();
        if attrs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "#### {title}\n");
        for a in attrs {
            let _ = writeln!(
                out,
                "- `{}` ({}) {}",
                a.name,
                type_name(&a.ty),
                one_line(&a.description)
            );
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// Expands a page template: `{{schema}}` and `{{file "path"}}` (relative to `root`).
pub fn render_page(template: &str, schema: &Schema, root: &Path) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "unclosed `{{` in template".to_string())?;
        let directive = after[..end].trim();
        if directive == "schema" {
            out.push_str(&render_schema(schema));
        } else if let Some(arg) = directive.strip_prefix("file ") {
            let rel = arg.trim().trim_matches('"');
            let path = root.join(rel);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            out.push_str(text.trim_end());
        } else {
            return Err(format!("unknown template directive `{{{{{directive}}}}}`"));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, Block, NestedBlock, Nesting};
    use crate::framework::validate::v;

    fn schema() -> Schema {
        Schema::new(
            0,
            Block::new("A thing.")
                .attribute(
                    Attribute::required("name", Type::String)
                        .description("The name.")
                        .validate(v::length(1, 63))
                        .requires_replace(),
                )
                .attribute(
                    Attribute::optional("secret", Type::String)
                        .description("Key.")
                        .sensitive()
                        .env("THING_SECRET")
                        .shown_default("none"),
                )
                .attribute(Attribute::computed("id", Type::String).description("The id."))
                .attribute(Attribute::computed("features", Type::List(Box::new(Type::String))))
                .block(NestedBlock {
                    type_name: "timeouts".into(),
                    block: Block::new("Operation timeouts.").attribute(Attribute::optional("create", Type::String)),
                    nesting: Nesting::Single,
                    min_items: 0,
                    max_items: 0,
                }),
        )
    }

    #[test]
    fn sections_flags_and_nested_blocks() {
        let md = render_schema(&schema());
        assert!(md.contains(
            "## Required\n\n- `name` (String) The name. 1 to 63 characters. Changing it forces a new resource."
        ));
        assert!(
            md.contains("- `secret` (String, Sensitive) Key. Environment variable: `THING_SECRET`. Default: `none`.")
        );
        assert!(md.contains("## Read-Only\n\n- `id` (String) The id.\n- `features` (List of String)"));
        assert!(md.contains(
            "- `timeouts` (Block) Operation timeouts. (see [below for nested schema](#nestedblock--timeouts))"
        ));
        assert!(md.contains("### Nested Schema for `timeouts`\n\n### Optional\n\n- `create` (String)"));
    }

    #[test]
    fn page_template_expands_schema_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ex.tf"), "resource \"x\" \"y\" {}\n").unwrap();
        let page = render_page("# T\n\n{{ file \"ex.tf\" }}\n\n{{schema}}\n", &schema(), dir.path()).unwrap();
        assert!(page.starts_with("# T\n\nresource \"x\" \"y\" {}\n\n## Required"));
        assert!(render_page("{{nope}}", &schema(), dir.path()).is_err());
        assert!(render_page("{{ file \"missing.tf\" }}", &schema(), dir.path()).is_err());
    }
}
