//! OPA's `uri.parse` and `uri.is_valid`: a URI read as Go's `net/url.Parse` reads it
//! ([`super::go_url`]), its parts named as OPA names them (`scheme`, `hostname`, `port`, `path`,
//! `raw_path`, `raw_query`, `fragment`; an empty part is left out).

use anyhow::{anyhow, bail, Result};
use regorus::Value;

use super::go_url;

/// `uri.parse(uri)`.
pub(crate) fn parse(args: &[Value]) -> Result<Value> {
    let uri = go_url::parse(text("uri.parse", args)?).map_err(|e| anyhow!("uri.parse: {e}"))?;
    let (hostname, port) = uri.hostname_and_port();
    let raw_path = match uri.raw_path.is_empty() {
        true => uri.path.as_str(),
        false => uri.raw_path.as_str(),
    };
    let mut parts = serde_json::Map::new();
    for (name, value) in [
        ("scheme", uri.scheme.as_str()),
        ("hostname", hostname),
        ("port", port),
        ("path", uri.path.as_str()),
        ("raw_path", raw_path),
        ("raw_query", uri.raw_query.as_str()),
        ("fragment", uri.fragment.as_str()),
    ] {
        if !value.is_empty() {
            parts.insert(name.into(), serde_json::Value::from(value));
        }
    }
    Ok(Value::from(serde_json::Value::Object(parts)))
}

/// `uri.is_valid(uri)`: whether `uri.parse` reads it (the empty string, or anything but a
/// string, is no URI).
pub(crate) fn is_valid(args: &[Value]) -> Result<Value> {
    Ok(Value::Bool(match args.first() {
        Some(Value::String(uri)) => !uri.is_empty() && go_url::parse(uri).is_ok(),
        _ => false,
    }))
}

fn text<'v>(name: &str, args: &'v [Value]) -> Result<&'v str> {
    match args.first() {
        Some(Value::String(text)) => Ok(text),
        _ => bail!("{name}: operand 1 must be a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(uri: &str) -> serde_json::Value {
        let value = parse(&[Value::from(uri)]).unwrap();
        serde_json::from_str(&value.to_json_str().unwrap()).unwrap()
    }

    // Every expected answer is OPA v1.20.2's (the oracle of `tests/opa`).
    #[test]
    fn parts_are_named_as_opa_names_them() {
        assert_eq!(
            parsed("https://u:p@example.com:8080/a%20b/c?x=1&y=%20#f%20g"),
            serde_json::json!({"fragment": "f g", "hostname": "example.com", "path": "/a b/c",
                "port": "8080", "raw_path": "/a b/c", "raw_query": "x=1&y=%20",
                "scheme": "https"})
        );
        assert_eq!(
            parsed("http://h/a%2Fb"),
            serde_json::json!({"hostname": "h", "path": "/a/b", "raw_path": "/a%2Fb",
                "scheme": "http"})
        );
        assert_eq!(
            parsed("http://[fe80::1%25en0]/"),
            serde_json::json!({"hostname": "fe80::1%en0", "path": "/", "raw_path": "/",
                "scheme": "http"})
        );
        assert_eq!(
            parsed("mailto:joe@example.com"),
            serde_json::json!({"scheme": "mailto"})
        );
        assert_eq!(
            parsed("HTTP://h?"),
            serde_json::json!({"hostname": "h", "scheme": "http"})
        );
        assert_eq!(parsed(""), serde_json::json!({}));
    }

    #[test]
    fn what_go_refuses_is_an_error_and_invalid() {
        for uri in [
            "1a:b",
            ":x",
            "http://h:x/",
            "http://h:80:90/",
            "http://[::1",
            "http://a b/",
            "http://%41/",
            "http://h/\u{7}",
            "http://[zz]/",
            "http://h/%",
            "http://h#%zz",
        ] {
            assert!(parse(&[Value::from(uri)]).is_err(), "{uri}");
            assert_eq!(is_valid(&[Value::from(uri)]).unwrap(), Value::Bool(false));
        }
        assert_eq!(is_valid(&[Value::from("")]).unwrap(), Value::Bool(false));
        assert_eq!(is_valid(&[Value::from("a b")]).unwrap(), Value::Bool(true));
    }
}
