//! Recursive rules, found when the policy is configured.
//!
//! Rego forbids recursion and OPA refuses a recursive policy when it compiles it; regorus does
//! not check, and evaluating one overflows the stack (inside the proxy: a trap that kills the
//! VM, at configure time for a function the trial evaluation calls). So the rules of each
//! module are read here, which rules each one refers to is noted, and a cycle makes the
//! configuration fail, naming the rules in it.
//!
//! The reading is lexical, like [`super::builtins`]: a rule starts at the beginning of a line
//! (as `opa fmt` writes it). Names a body declares (`some x`, `x := ...`, `every x`, function
//! parameters) are not references. References to other packages are followed, written out
//! (`data.other.rule`) or through an import (`import data.other as o` ... `o.rule`). A
//! reference it cannot see (a computed one, `data[x]`) is missed, never invented: the check
//! can let a recursive policy through, but does not refuse a valid one for a local variable
//! named like a rule.

use std::collections::{BTreeMap, BTreeSet};

use super::builtins::{code_only, is_ident_char};

const KEYWORDS: &[&str] = &[
    "if", "else", "some", "every", "in", "not", "with", "as", "contains", "default", "true",
    "false", "null", "input", "data", "import", "package", "future", "rego",
];

/// One module as the check reads it.
struct Module {
    package: String,
    /// Import aliases: the name a module uses for a `data` path (`o` -> `data.other`).
    aliases: BTreeMap<String, String>,
    /// Its rules: (name, the statement's text after the name).
    rules: Vec<(String, String)>,
}

impl Module {
    fn read(source: &str) -> Self {
        let code = code_only(source);
        let package = code
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .map(|p| p.trim().to_string())
            .unwrap_or_default();
        let aliases = code
            .lines()
            .filter_map(|l| l.trim().strip_prefix("import "))
            .filter_map(|import| {
                let mut words = import.split_whitespace();
                let path = words.next().filter(|p| p.starts_with("data."))?;
                let alias = match (words.next(), words.next()) {
                    (Some("as"), Some(alias)) => alias,
                    _ => path.rsplit('.').next()?,
                };
                Some((alias.to_string(), path.to_string()))
            })
            .collect();
        Module {
            package,
            aliases,
            rules: statements(&code),
        }
    }

    /// The `data` path a reference in this module stands for: written out, through an import,
    /// or a name of the module's own package.
    fn resolve(&self, reference: &str) -> String {
        if reference.starts_with("data.") {
            return reference.to_string();
        }
        let (first, rest) = reference.split_once('.').unwrap_or((reference, ""));
        let base = match self.aliases.get(first) {
            Some(path) => path.clone(),
            None => format!("data.{}.{first}", self.package),
        };
        match rest {
            "" => base,
            rest => format!("{base}.{rest}"),
        }
    }
}

/// The first cycle among the rules of `sources`, as `a -> b -> a` with the package, e.g.
/// `data.envoy.authz.loop_a -> data.envoy.authz.loop_b -> data.envoy.authz.loop_a`.
pub fn find_cycle(sources: &[&str]) -> Option<String> {
    let modules: Vec<Module> = sources.iter().map(|s| Module::read(s)).collect();
    let mut rules_by_package: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for module in &modules {
        rules_by_package
            .entry(module.package.as_str())
            .or_default()
            .extend(module.rules.iter().map(|(name, _)| name.as_str()));
    }
    // `data.a.b.c` is rule `c` of package `a.b`, or rule `b` of package `a` (its `.c` a field).
    let rule_at = |path: &str| -> Option<String> {
        let path = path.strip_prefix("data.")?;
        rules_by_package
            .iter()
            .filter_map(|(package, rules)| {
                let rest = path.strip_prefix(package)?.strip_prefix('.')?;
                let rule = rest.split('.').next()?;
                rules
                    .contains(rule)
                    .then(|| (package.len(), format!("data.{package}.{rule}")))
            })
            .max()
            .map(|(_, rule)| rule)
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for module in &modules {
        for (name, text) in &module.rules {
            let refs = references(text)
                .into_iter()
                .filter_map(|r| rule_at(&module.resolve(&r)));
            graph
                .entry(format!("data.{}.{name}", module.package))
                .or_default()
                .extend(refs);
        }
    }
    let mut done = BTreeSet::new();
    for start in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(start, &graph, &mut path, &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn visit<'a>(
    node: &'a str,
    graph: &'a BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
) -> Option<String> {
    if let Some(at) = path.iter().position(|n| *n == node) {
        let mut cycle: Vec<&str> = path.get(at..).unwrap_or_default().to_vec();
        cycle.push(node);
        return Some(cycle.join(" -> "));
    }
    if done.contains(node) {
        return None;
    }
    path.push(node);
    for next in graph.get(node).into_iter().flatten() {
        if let Some(cycle) = visit(next, graph, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node);
    None
}

/// Top-level rule statements: (rule name, the statement's text after the name).
fn statements(code: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in code.lines() {
        let starts_rule = line
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if starts_rule {
            let name: String = line.chars().take_while(|c| is_ident_char(*c)).collect();
            let skip = ["package", "import", "default"].contains(&name.as_str());
            let rest = line.get(name.len()..).unwrap_or_default().to_string();
            out.push((if skip { String::new() } else { name }, rest));
        } else if let Some((_, text)) = out.last_mut() {
            text.push('\n');
            text.push_str(line);
        }
    }
    out.retain(|(name, _)| !name.is_empty());
    out
}

/// Dotted names at `text`'s word boundaries (`a`, `o.rule`, `data.pkg.rule.field`), with
/// their byte offsets; not those after a `.` or a `]`, which continue another reference.
fn identifiers(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes.get(i).copied().unwrap_or_default() as char;
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while bytes
                .get(i)
                .is_some_and(|b| is_ident_char(*b as char) || *b == b'.')
            {
                i += 1;
            }
            let word = text.get(start..i).unwrap_or_default().trim_end_matches('.');
            let continues = start > 0 && matches!(bytes.get(start - 1), Some(b'.' | b']'));
            if !continues {
                out.push((start, word));
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The first name of a dotted reference (`o` of `o.rule`).
fn head(word: &str) -> &str {
    word.split('.').next().unwrap_or(word)
}

/// What a statement refers to: its dotted names less keywords, parameters and the locals it
/// declares (a reference whose first name is a local is a field of that local).
fn references(text: &str) -> BTreeSet<String> {
    let mut locals: BTreeSet<&str> = BTreeSet::new();
    // Parameters or a partial rule's key: the bracket right after the name.
    if let Some(open) = text.chars().next().filter(|c| *c == '(' || *c == '[') {
        let close = if open == '(' { ')' } else { ']' };
        if let Some(end) = text.find(close) {
            for (_, word) in identifiers(text.get(..end).unwrap_or_default()) {
                locals.insert(head(word));
            }
        }
    }
    let words = identifiers(text);
    for (index, (at, word)) in words.iter().enumerate() {
        let before = text.get(..*at).unwrap_or_default().trim_end();
        let after = text.get(at + word.len()..).unwrap_or_default().trim_start();
        let declared = before.ends_with("some")
            || before.ends_with("every")
            || (before.ends_with(',') && declared_list(&words, index, text))
            || (after.starts_with(":=") && !is_head(text, *at))
            || in_destructuring(text, *at);
        if declared || before.ends_with("contains") {
            locals.insert(head(word));
        }
    }
    words
        .into_iter()
        .filter(|(_, w)| !KEYWORDS.contains(&head(w)) || head(w) == "data")
        .filter(|(_, w)| !locals.contains(head(w)))
        .map(|(_, w)| w.to_string())
        .collect()
}

/// `some a, b in` / `every k, v in`: a word after a comma that follows a declared word.
fn declared_list(words: &[(usize, &str)], index: usize, text: &str) -> bool {
    let Some(previous) = index.checked_sub(1).and_then(|i| words.get(i)) else {
        return false;
    };
    let before = text.get(..previous.0).unwrap_or_default().trim_end();
    before.ends_with("some") || before.ends_with("every")
}

/// The head's `:=` (the rule's own value, `name := value`) is at the very start.
fn is_head(text: &str, at: usize) -> bool {
    text.get(..at).unwrap_or_default().trim().is_empty()
}

/// Inside `[ ... ] :=` or `{ ... } :=` (destructuring declares every name in it).
fn in_destructuring(text: &str, at: usize) -> bool {
    let line_start = text
        .get(..at)
        .and_then(|t| t.rfind(['\n', ';']))
        .map_or(0, |i| i + 1);
    let line = text.get(line_start..).unwrap_or_default();
    let line_end = line.find(['\n', ';']).unwrap_or(line.len());
    let statement = line.get(..line_end).unwrap_or_default().trim_start();
    let Some(assign) = statement.find(":=") else {
        return false;
    };
    let lhs = statement.get(..assign).unwrap_or_default().trim();
    let offset = at
        .saturating_sub(line_start)
        .saturating_sub(line.len() - line.trim_start().len());
    (lhs.starts_with('[') || lhs.starts_with('{')) && offset < assign
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(rules: &str) -> String {
        format!("package envoy.authz\nimport rego.v1\n{rules}\n")
    }

    #[test]
    fn finds_recursive_rules_and_functions() {
        let rules = module("default allow := false\nallow if { loop_a }\nloop_a if { loop_b }\nloop_b if { loop_a }");
        assert_eq!(
            find_cycle(&[&rules]).as_deref(),
            Some("data.envoy.authz.loop_a -> data.envoy.authz.loop_b -> data.envoy.authz.loop_a")
        );
        let function = module("allow if { f(1) }\nf(x) := y if {\n  y := f(x)\n}");
        assert_eq!(
            find_cycle(&[&function]).as_deref(),
            Some("data.envoy.authz.f -> data.envoy.authz.f")
        );
        let qualified = module("a if data.envoy.authz.b\nb := x if { x := a }");
        assert!(find_cycle(&[&qualified]).is_some());
    }

    #[test]
    fn follows_references_into_other_packages() {
        let other = |rules: &str| format!("package other\nimport rego.v1\n{rules}\n");
        let authz = module("import data.other as o\ndefault allow := false\nallow if o.flag");
        // Written out, through an import without alias, through an imported rule.
        for back in [
            "flag if data.envoy.authz.allow",
            "import data.envoy.authz\nflag if authz.allow",
            "import data.envoy.authz.allow\nflag if allow",
        ] {
            assert_eq!(
                find_cycle(&[&authz, &other(back)]).as_deref(),
                Some("data.envoy.authz.allow -> data.other.flag -> data.envoy.authz.allow"),
                "{back}"
            );
        }
        let functions = module("import data.other as o\nallow if o.f(1)\ng(x) if o.f(x)");
        let back = other("import data.envoy.authz as a\nf(x) if a.g(x)");
        assert_eq!(
            find_cycle(&[&functions, &back]).as_deref(),
            Some("data.other.f -> data.envoy.authz.g -> data.other.f")
        );
    }

    #[test]
    fn references_into_other_packages_without_a_cycle_pass() {
        let authz = module(
            "import data.other as o\n\
             allow if o.flag\n\
             deny if { some o in input.list; o.allow }\n\
             names := data.other.names",
        );
        let other =
            "package other\nimport rego.v1\nflag if input.x\nallow if data.envoy.authz.deny\nnames := {\"a\"}\n";
        assert_eq!(find_cycle(&[&authz, other]), None);
    }

    #[test]
    fn locals_named_like_rules_are_not_references() {
        let rules = module(
            "user := input.user\n\
             role := r if { some r in data.roles[user] }\n\
             admin if { some user in data.admins; user == \"x\" }\n\
             token := t if { [_, t] := split(input.h, \" \") }\n\
             payload := p if { [_, payload2, _] := io.jwt.decode(token); p := payload2 }\n\
             names contains name if { some name, _ in data.people }\n\
             f(role) := role\n\
             g(x) := y if { y := f(x) }\n\
             allow := {\"allowed\": true, \"headers\": {\"x-role\": role}} if { admin }",
        );
        assert_eq!(find_cycle(&[&rules]), None);
        for example in [
            include_str!("../../../examples/rego/rbac/policy.rego"),
            include_str!("../../../examples/rego/opa-envoy-primer/policy.rego"),
        ] {
            assert_eq!(find_cycle(&[example]), None);
        }
    }
}
