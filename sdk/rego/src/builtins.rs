//! Which functions a policy calls, and whether Palisade can run them.
//!
//! regorus reports an unknown function only when evaluation reaches the call, which would
//! turn a missing builtin into a per-request failure. Instead, every function a policy calls is
//! found when it is configured, and one that is neither defined by the policy, nor a regorus
//! builtin, nor one of Palisade's extensions makes the configuration fail with its name.
//! Builtins that reach the network or the host (`http.send`, `opa.runtime`, ...) are not
//! compiled into the filter, so they are reported the same way. `rego.metadata.*` is answered
//! before compiling, by a rewrite (the `rego-metadata` feature).

use std::collections::BTreeSet;

/// Calls in `sources` that nothing can answer, sorted, without duplicates.
pub fn unsupported_calls(sources: &[&str], extensions: &[&str]) -> Vec<String> {
    let defined: BTreeSet<String> = sources.iter().flat_map(|s| defined_functions(s)).collect();
    let aliases: BTreeSet<String> = sources
        .iter()
        .flat_map(|s| data_import_aliases(s))
        .collect();
    let called: BTreeSet<String> = sources.iter().flat_map(|s| called_functions(s)).collect();
    let mut probe = regorus::Engine::new();
    called
        .into_iter()
        .filter(|name| {
            let first = name.split('.').next().unwrap_or_default();
            !defined.contains(name)
                && first != "data"
                && !aliases.contains(first)
                && !extensions.contains(&name.as_str())
                && !KEYWORDS.contains(&name.as_str())
                && !rewritten(name)
        })
        .filter(|name| is_unknown_function(&mut probe, name))
        .collect()
}

/// Why the filter cannot answer a call of `name`, for the configure error: the builtin needs
/// what a synchronous evaluation inside the proxy cannot have, or a build feature.
pub fn why_unsupported(name: &str) -> &'static str {
    let family = name.split('.').next().unwrap_or_default();
    match (family, name) {
        (_, "http.send") => {
            "no network calls from inside the proxy's evaluation: fetch the data with the \
             request (a header) or in the plugin configuration's data"
        }
        (_, "opa.runtime") => "no OPA runtime inside the proxy",
        ("yaml", _) if cfg!(not(feature = "yaml")) => "in rego-authz built with `--features yaml`",
        (_, "json.patch") if cfg!(not(feature = "jsonpatch")) => {
            "in rego-authz built with `--features jsonpatch`"
        }
        (_, "json.match_schema" | "json.verify_schema") if cfg!(not(feature = "jsonschema")) => {
            "in rego-authz built with `--features jsonschema`"
        }
        _ if X509.contains(&name) && cfg!(not(feature = "x509")) => {
            "in rego-authz built with `--features x509`"
        }
        ("uri", _) if cfg!(not(feature = "uri")) => "in rego-authz built with `--features uri`",
        (_, "regex.globs_match") if cfg!(not(feature = "globs")) => {
            "in rego-authz built with `--features globs`"
        }
        (_, "rego.metadata.rule" | "rego.metadata.chain")
            if cfg!(not(feature = "rego-metadata")) =>
        {
            "in rego-authz built with `--features rego-metadata` (METADATA annotations are YAML)"
        }
        (_, "io.jwt.verify_es512") if cfg!(not(feature = "jwt-es512")) => {
            "in rego-authz built with `--features jwt-es512`"
        }
        (_, "io.jwt.verify_eddsa") if cfg!(not(feature = "jwt-eddsa")) => {
            "in rego-authz built with `--features jwt-eddsa`"
        }
        (_, "net.lookup_ip_addr") => "no network access inside the proxy's evaluation",
        (_, "providers.aws.sign_req") => {
            "it signs a request for http.send, which the proxy's evaluation cannot make (Envoy's \
             aws_request_signing filter signs upstream requests)"
        }
        _ if DEPRECATED.contains(&name) => {
            "deprecated in OPA (rego.v1 refuses it): see docs/COMPATIBILITY.md for its replacement"
        }
        _ if OPA_BUILTINS_NOT_YET.contains(&name) => {
            "an OPA builtin Palisade does not implement yet (docs/COMPATIBILITY.md)"
        }
        _ => "neither an OPA builtin the filter provides nor a function the policy defines",
    }
}

/// Whether a rewrite answers calls of `name` before compiling (`super::metadata`).
fn rewritten(name: &str) -> bool {
    cfg!(feature = "rego-metadata") && matches!(name, "rego.metadata.chain" | "rego.metadata.rule")
}

/// The builtins of the `x509` feature.
const X509: &[&str] = &[
    "crypto.parse_private_keys",
    "crypto.x509.parse_and_verify_certificates",
    "crypto.x509.parse_and_verify_certificates_with_options",
    "crypto.x509.parse_certificate_request",
    "crypto.x509.parse_certificates",
    "crypto.x509.parse_keypair",
    "crypto.x509.parse_rsa_private_key",
];

/// OPA builtins deprecated before 1.0, which rego.v1 refuses and the filter does not provide.
const DEPRECATED: &[&str] = &[
    "all",
    "any",
    "cast_array",
    "cast_boolean",
    "cast_null",
    "cast_object",
    "cast_set",
    "cast_string",
    "net.cidr_overlap",
    "re_match",
    "set_diff",
];

/// OPA v1.20 builtins the filter does not have yet, with no reason beyond the work.
const OPA_BUILTINS_NOT_YET: &[&str] = &[
    "graphql.is_valid",
    "graphql.parse",
    "graphql.parse_and_verify",
    "graphql.parse_query",
    "graphql.parse_schema",
    "graphql.schema_is_valid",
    "rego.parse_module",
    "strings.render_template",
];

const KEYWORDS: &[&str] = &[
    "not", "some", "every", "in", "if", "contains", "with", "as", "default", "else", "import",
    "package",
];

/// Asks regorus whether it has a function of that name: calling it without arguments fails
/// with an arity error when it exists, and "could not find function" when it does not.
fn is_unknown_function(probe: &mut regorus::Engine, name: &str) -> bool {
    match probe.eval_query(format!("{name}()"), false) {
        Ok(_) => false,
        Err(err) => err.to_string().contains("could not find function"),
    }
}

/// Source text with comments and string literals blanked out: the same length in bytes (a
/// character of a comment or string becomes as many blanks as it has bytes), so byte offsets
/// into it are offsets into the source.
pub(crate) fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, c: char| {
        for _ in 0..c.len_utf8() {
            out.push(' ');
        }
    };
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                out.push(' ');
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                    blank(&mut out, c);
                }
            }
            '"' | '`' => {
                out.push('"');
                let mut escaped = false;
                for inner in chars.by_ref() {
                    if inner == c && !escaped {
                        out.push('"');
                        break;
                    }
                    escaped = c == '"' && inner == '\\' && !escaped;
                    match inner {
                        '\n' => out.push('\n'),
                        inner => blank(&mut out, inner),
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Dotted names directly followed by `(`: `startswith(`, `io.jwt.decode (`.
fn called_functions(source: &str) -> Vec<String> {
    let code = code_only(source);
    let mut names = Vec::new();
    let mut current = String::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if is_ident_char(c) || (c == '.' && !current.is_empty()) {
            current.push(c);
            continue;
        }
        let mut next = Some(c);
        while next.is_some_and(|n| n == ' ' || n == '\t') {
            next = chars.next();
        }
        let name = std::mem::take(&mut current);
        let starts_like_ident = name
            .chars()
            .next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_');
        if next == Some('(') && starts_like_ident && !name.ends_with('.') {
            names.push(name);
        }
        if next.is_some_and(is_ident_char) {
            current.push(next.unwrap_or_default());
        }
    }
    names
}

/// Names of functions the policy defines: a line that starts with `name(` (or
/// `default name(`) and goes on to define it (`:=`, `=`, `if` or `{` after the parameters).
pub(crate) fn defined_functions(source: &str) -> Vec<String> {
    code_only(source)
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("default ").map_or(line, str::trim_start);
            let open = line.find('(')?;
            let name = line.get(..open)?.trim_end();
            let rest = line.get(open..)?;
            let after_params = rest.get(rest.find(')')? + 1..)?.trim_start();
            let defines = after_params.starts_with(":=")
                || after_params.starts_with('=')
                || after_params.starts_with("if")
                || after_params.starts_with('{');
            let is_name = !name.is_empty() && name.chars().all(|c| is_ident_char(c) || c == '.');
            (defines && is_name).then(|| name.to_string())
        })
        .collect()
}

/// What `import data.x.y` / `import data.x.y as z` make available as a prefix (`y`, `z`).
fn data_import_aliases(source: &str) -> Vec<String> {
    code_only(source)
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("import ")?.trim();
            if !rest.starts_with("data.") {
                return None;
            }
            match rest.split_once(" as ") {
                Some((_, alias)) => Some(alias.trim().to_string()),
                None => rest.rsplit('.').next().map(|s| s.trim().to_string()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"package envoy.authz
import rego.v1
import data.lib.tokens
import data.lib.roles as r

# io.jwt.in_a_comment(x) is not a call
default allow := false

bearer(header) := t if {
    t := substring(header, count("Bearer "), -1)
}

allow if {
    startswith(input.path, "/api(")
    tokens.valid(bearer(input.headers.authorization))
    r.admin(input.user)
    data.lib.extra.check(1)
    x := io.jwt.decode (input.token)
    not deny
    some y in [1]
}
"#;

    #[test]
    fn finds_calls_skipping_strings_and_comments() {
        let calls = called_functions(POLICY);
        for expected in [
            "substring",
            "count",
            "startswith",
            "tokens.valid",
            "bearer",
            "r.admin",
            "data.lib.extra.check",
            "io.jwt.decode",
        ] {
            assert!(
                calls.contains(&expected.to_string()),
                "{expected} in {calls:?}"
            );
        }
        assert!(
            !calls.iter().any(|c| c.contains("in_a_comment")),
            "{calls:?}"
        );
        assert!(!calls.contains(&"api".to_string()));
    }

    #[test]
    fn blanked_text_keeps_byte_offsets() {
        let source = "s := \"héllo ✓\" # ünïcode\nt := `ß` + count(x)\n";
        let code = code_only(source);
        assert_eq!(code.len(), source.len());
        let at = source.find("count").unwrap();
        assert_eq!(code.get(at..at + 5), Some("count"));
        assert!(!code.contains('h') && !code.contains('ü'), "{code}");
    }

    #[test]
    fn defined_functions_and_imports() {
        assert_eq!(defined_functions(POLICY), vec!["bearer".to_string()]);
        assert_eq!(
            data_import_aliases(POLICY),
            vec!["tokens".to_string(), "r".to_string()]
        );
    }

    #[test]
    fn a_function_defined_only_by_its_default_is_defined() {
        let policy = "package p\ndefault limit(_) := 10\nallow if limit(input.user) > 5\n";
        assert_eq!(defined_functions(policy), vec!["limit".to_string()]);
        assert!(unsupported_calls(&[policy], &[]).is_empty());
    }

    #[test]
    fn reports_only_what_nothing_answers() {
        assert_eq!(
            unsupported_calls(&[POLICY], &[]),
            vec!["io.jwt.decode".to_string()]
        );
        assert!(unsupported_calls(&[POLICY], &["io.jwt.decode"]).is_empty());
    }

    #[test]
    fn network_and_runtime_builtins_are_not_available() {
        let policy = "package p\nallow if {\n  http.send({\"url\": \"http://x\"})\n  opa.runtime()\n  net.cidr_contains(\"10.0.0.0/8\", \"10.0.0.1\")\n}\n";
        assert_eq!(
            unsupported_calls(&[policy], &[]),
            vec!["http.send".to_string(), "opa.runtime".to_string()]
        );
    }
}
