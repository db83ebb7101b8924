//! METADATA blocks: found among a module's comments as OPA's parser finds them, and read into
//! the object OPA's `rego.metadata.*` return for them.
//!
//! A block starts at a comment `# METADATA` in the first column; the comments on the lines
//! right after it, in the first column too, are its YAML (one space after `#` dropped). Its
//! fields are OPA's: `scope`, `title`, `description`, `entrypoint`, `organizations`,
//! `related_resources`, `authors`, `schemas`, `custom` and `labels` (others are ignored); the
//! object leaves empty ones out, as OPA's JSON does.

use serde::Deserialize;
use serde_json::{Map, Value};

/// One METADATA block: the line of its `# METADATA` comment (1-based) and its YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) line: usize,
    pub(crate) yaml: String,
}

/// The METADATA blocks of `source`, in order.
pub(crate) fn blocks(source: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut open = false;
    let mut previous_line = 0;
    for (line, column, text) in comments(source) {
        if column == 1 && text.trim().starts_with("METADATA") {
            blocks.push(Block {
                line,
                yaml: String::new(),
            });
            open = true;
        } else if let (true, true, Some(block)) = (
            open,
            column == 1 && line == previous_line + 1,
            blocks.last_mut(),
        ) {
            block.yaml.push_str(text.strip_prefix(' ').unwrap_or(text));
            block.yaml.push('\n');
        } else {
            open = false;
        }
        previous_line = line;
    }
    blocks
}

/// Every comment of `source`: its line and column (1-based, in bytes) and its text after `#`.
fn comments(source: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let (mut line, mut line_start) = (1, 0);
    let mut chars = source.char_indices();
    while let Some((at, c)) = chars.next() {
        match (quote, c) {
            (_, '\n') => {
                line += 1;
                line_start = at + 1;
                // A double-quoted string cannot span lines: the parser refuses it anyway.
                if quote == Some('"') {
                    quote = None;
                }
            }
            (Some(q), c) => {
                if c == q && !escaped {
                    quote = None;
                }
                escaped = q == '"' && c == '\\' && !escaped;
            }
            (None, '"' | '`') => quote = Some(c),
            (None, '#') => {
                let end = source
                    .get(at..)
                    .and_then(|rest| rest.find('\n'))
                    .map_or(source.len(), |n| at + n);
                let text = source.get(at + 1..end).unwrap_or_default();
                found.push((line, at - line_start + 1, text.trim_end_matches('\r')));
                // Skip to the newline, which the loop counts.
                while chars.clone().next().is_some_and(|(next, _)| next < end) {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    found
}

/// The fields OPA reads from a block (Go's yaml.v3 into its `rawAnnotation`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Raw {
    scope: String,
    title: String,
    description: String,
    entrypoint: bool,
    organizations: Vec<String>,
    related_resources: Vec<Value>,
    authors: Vec<Value>,
    schemas: Vec<Map<String, Value>>,
    custom: Map<String, Value>,
    labels: Map<String, Value>,
}

/// A block read: its scope as written (empty when none), and the annotation object without
/// `scope` (the scope may still be defaulted from what the block is attached to).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Annotation {
    pub(crate) scope: String,
    pub(crate) entrypoint: bool,
    pub(crate) fields: Map<String, Value>,
}

impl Annotation {
    /// The object `rego.metadata.*` give, with its scope.
    pub(crate) fn value(&self, scope: &str) -> Value {
        let mut fields = self.fields.clone();
        fields.insert("scope".into(), scope.into());
        Value::Object(fields)
    }
}

/// Reads a block's YAML as OPA does; the error says what is wrong.
pub(crate) fn read(yaml: &str) -> Result<Annotation, String> {
    if yaml.trim().is_empty() {
        return Err("expected METADATA block, found whitespace".into());
    }
    let raw: Raw = yaml_serde::from_str(yaml).map_err(|err| err.to_string())?;
    let mut fields = Map::new();
    let mut put = |name: &str, value: Value| {
        let empty = match &value {
            Value::String(s) => s.is_empty(),
            Value::Array(items) => items.is_empty(),
            Value::Object(map) => map.is_empty(),
            Value::Bool(b) => !b,
            _ => false,
        };
        if !empty {
            fields.insert(name.into(), value);
        }
    };
    put("title", raw.title.into());
    put("description", raw.description.into());
    put("entrypoint", raw.entrypoint.into());
    put("organizations", raw.organizations.into());
    let resources = raw.related_resources.iter().map(related_resource);
    put("related_resources", resources.collect::<Result<_, _>>()?);
    put(
        "authors",
        raw.authors.iter().map(author).collect::<Result<_, _>>()?,
    );
    put(
        "schemas",
        raw.schemas.iter().map(schema).collect::<Result<_, _>>()?,
    );
    put("custom", Value::Object(raw.custom));
    put("labels", Value::Object(raw.labels));
    Ok(Annotation {
        scope: raw.scope,
        entrypoint: raw.entrypoint,
        fields,
    })
}

/// A related resource: a URL, or `{ref, description}`.
fn related_resource(resource: &Value) -> Result<Value, String> {
    let (reference, description) = match resource {
        Value::String(url) if !url.is_empty() => (url.as_str(), ""),
        Value::String(_) => return Err("related resource: ref URL may not be empty string".into()),
        Value::Object(fields) => {
            let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::trim);
            match text("ref") {
                Some(reference) if !reference.is_empty() => {
                    (reference, text("description").unwrap_or_default())
                }
                _ => return Err("related resource: 'ref' value required in object".into()),
            }
        }
        _ => return Err("related resource: invalid value type, must be string or map".into()),
    };
    let mut out = Map::new();
    out.insert("ref".into(), reference.into());
    if !description.is_empty() {
        out.insert("description".into(), description.into());
    }
    Ok(Value::Object(out))
}

/// An author: `Name <email>` (either part alone), or `{name, email}`.
fn author(author: &Value) -> Result<Value, String> {
    let (name, email) = match author {
        Value::String(text) => {
            let mut words: Vec<&str> = text.split_whitespace().collect();
            let email = match words.last() {
                Some(last) if last.len() >= 2 && last.starts_with('<') && last.ends_with('>') => {
                    let email = last.get(1..last.len() - 1).unwrap_or_default().to_string();
                    words.pop();
                    email
                }
                Some(_) => String::new(),
                None => return Err("author is an empty string".into()),
            };
            (words.join(" "), email)
        }
        Value::Object(fields) => {
            let text = |name: &str| {
                let value = fields.get(name).and_then(Value::as_str);
                value.unwrap_or_default().trim().to_string()
            };
            let (name, email) = (text("name"), text("email"));
            if name.is_empty() && email.is_empty() {
                return Err("author: 'name' and/or 'email' values required in object".into());
            }
            (name, email)
        }
        _ => return Err("author: invalid value type, must be string or map".into()),
    };
    let mut out = Map::new();
    if !name.is_empty() {
        out.insert("name".into(), name.into());
    }
    if !email.is_empty() {
        out.insert("email".into(), email.into());
    }
    Ok(Value::Object(out))
}

/// A schema: `{<path>: <schema ref>}` or `{<path>: <definition>}`, the path a dotted name
/// (`input`, `data.servers`) and the reference one under `schema`.
fn schema(pair: &Map<String, Value>) -> Result<Value, String> {
    let Some((path, value)) = pair.iter().next() else {
        return Err("schemas: an empty entry".into());
    };
    let mut out = Map::new();
    out.insert("path".into(), dotted(path)?);
    match value {
        Value::String(reference) if reference == "schema" || reference.starts_with("schema.") => {
            out.insert("schema".into(), dotted(reference)?);
        }
        Value::String(_) => return Err("invalid schema reference".into()),
        Value::Object(_) => {
            out.insert("definition".into(), value.clone());
        }
        _ => return Err(format!("invalid schema declaration for path \"{path}\"")),
    }
    Ok(Value::Object(out))
}

/// A dotted name as the array of its parts; anything else Palisade does not read.
fn dotted(reference: &str) -> Result<Value, String> {
    let parts: Vec<&str> = reference.split('.').collect();
    let name = |part: &&str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match parts.iter().all(name) {
        true => Ok(parts.into()),
        false => Err(format!(
            "schemas: `{reference}` is not a dotted name, which is all Palisade reads there"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_start_at_a_metadata_comment_and_run_over_the_comments_below_it() {
        let source = "# METADATA\n# title: p\npackage t\n\n# METADATA\n#  a: 1\n#b: \"# x\"\n\
                      # METADATA\n# c: 2\nx := \"# METADATA\"\n  # METADATA\n# d: 3\n";
        let found = blocks(source);
        let lines: Vec<(usize, &str)> = found.iter().map(|b| (b.line, b.yaml.as_str())).collect();
        assert_eq!(
            lines,
            vec![(1, "title: p\n"), (5, " a: 1\nb: \"# x\"\n"), (8, "c: 2\n")]
        );
    }

    #[test]
    fn annotations_read_as_opa_writes_them() {
        let yaml = "title: 5\ndescription: |\n  two\n  lines\norganizations: [1, true]\n\
                    authors:\n- John Doe <j@example.com>\n- name: Jane\n- <only@example.com>\n\
                    related_resources:\n- https://example.com\n- {ref: ' https://x ', description: d}\n\
                    schemas:\n- input: schema.input\n- data.x: {type: string}\n\
                    custom: {}\nunknown: 1\n";
        let annotation = read(yaml).unwrap();
        assert_eq!(annotation.scope, "");
        assert_eq!(
            annotation.value("rule"),
            json!({
                "scope": "rule",
                "title": "5",
                "description": "two\nlines\n",
                "organizations": ["1", "true"],
                "authors": [{"name": "John Doe", "email": "j@example.com"}, {"name": "Jane"},
                            {"email": "only@example.com"}],
                "related_resources": [{"ref": "https://example.com"},
                                      {"ref": "https://x", "description": "d"}],
                "schemas": [{"path": ["input"], "schema": ["schema", "input"]},
                            {"path": ["data", "x"], "definition": {"type": "string"}}],
            })
        );
    }

    #[test]
    fn bad_annotations_are_errors() {
        for yaml in [
            "  \n",
            "title: [\n",
            "authors: [{}]\n",
            "related_resources: ['']\n",
            "schemas: [{input: other}]\n",
            "schemas: [{'input[0]': schema.x}]\n",
        ] {
            assert!(read(yaml).is_err(), "{yaml}");
        }
    }
}
