//! OPA's `uri.parse` and `uri.is_valid`: a URI read as Go's `net/url.Parse` (Go 1.26, what OPA
//! v1.20.2 is built with) reads it, its parts named as OPA names them (`scheme`, `hostname`,
//! `port`, `path`, `raw_path`, `raw_query`, `fragment`; an empty part is left out).

use anyhow::{anyhow, bail, Result};
use regorus::Value;

use super::go_bytes::lossy_text;

/// Which part of a URI a text is, for escaping: Go's `encoding` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// The parts of a URI OPA reports, as Go's `url.URL` holds them.
#[derive(Debug, Default, PartialEq)]
struct Uri {
    scheme: String,
    host: String,
    path: String,
    /// The path as written, when it is not the default escaping of `path`.
    raw_path: String,
    raw_query: String,
    fragment: String,
}

/// `uri.parse(uri)`.
pub(crate) fn parse(args: &[Value]) -> Result<Value> {
    let uri = read(text("uri.parse", args)?).map_err(|e| anyhow!("uri.parse: {e}"))?;
    let (hostname, port) = split_host_port(&uri.host);
    let raw_path = match uri.raw_path.is_empty() {
        true => uri.path.clone(),
        false => uri.raw_path,
    };
    let mut parts = serde_json::Map::new();
    for (name, value) in [
        ("scheme", uri.scheme),
        ("hostname", hostname.to_string()),
        ("port", port.to_string()),
        ("path", uri.path),
        ("raw_path", raw_path),
        ("raw_query", uri.raw_query),
        ("fragment", uri.fragment),
    ] {
        if !value.is_empty() {
            parts.insert(name.into(), serde_json::Value::String(value));
        }
    }
    Ok(Value::from(serde_json::Value::Object(parts)))
}

/// `uri.is_valid(uri)`: whether `uri.parse` reads it (the empty string, or anything but a
/// string, is no URI).
pub(crate) fn is_valid(args: &[Value]) -> Result<Value> {
    Ok(Value::Bool(match args.first() {
        Some(Value::String(uri)) => !uri.is_empty() && read(uri).is_ok(),
        _ => false,
    }))
}

fn text<'v>(name: &str, args: &'v [Value]) -> Result<&'v str> {
    match args.first() {
        Some(Value::String(text)) => Ok(text),
        _ => bail!("{name}: operand 1 must be a string"),
    }
}

/// Go's `url.Parse`.
fn read(raw: &str) -> Result<Uri, String> {
    let (before, fragment) = raw.split_once('#').unwrap_or((raw, ""));
    let mut uri = read_before_fragment(before)?;
    uri.fragment = unescape(fragment, Part::Fragment)?;
    Ok(uri)
}

fn read_before_fragment(raw: &str) -> Result<Uri, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut uri = Uri::default();
    if raw == "*" {
        uri.path = "*".into();
        return Ok(uri);
    }
    let (scheme, rest) = scheme(raw)?;
    uri.scheme = scheme.to_ascii_lowercase();
    let mut rest = match rest.strip_suffix('?') {
        Some(before) if !before.contains('?') => before,
        _ => {
            let (before, query) = rest.split_once('?').unwrap_or((rest, ""));
            uri.raw_query = query.into();
            before
        }
    };
    if !rest.starts_with('/') {
        if !uri.scheme.is_empty() {
            // A rootless path after a scheme is opaque: OPA reports none of it.
            return Ok(uri);
        }
        if rest.split('/').next().unwrap_or_default().contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!uri.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority = rest.get(2..).unwrap_or_default();
        let (authority, path) = match authority.find('/') {
            Some(at) => authority.split_at(at),
            None => (authority, ""),
        };
        uri.host = read_authority(authority)?;
        rest = path;
    }
    uri.path = unescape(rest, Part::Path)?;
    if escape(&uri.path, Part::Path) != rest {
        uri.raw_path = rest.into();
    }
    Ok(uri)
}

/// Go's `getScheme`: the scheme before the first `:`, if the text starts with one.
fn scheme(raw: &str) -> Result<(&str, &str), String> {
    for (at, byte) in raw.bytes().enumerate() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if at > 0 => {}
            b':' if at == 0 => return Err("missing protocol scheme".into()),
            b':' => {
                return Ok((
                    raw.get(..at).unwrap_or_default(),
                    raw.get(at + 1..).unwrap_or_default(),
                ))
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseAuthority`: the host (the user information is checked, not kept).
fn read_authority(authority: &str) -> Result<String, String> {
    let (user, host) = match authority.rfind('@') {
        Some(at) => (
            Some(authority.get(..at).unwrap_or_default()),
            authority.get(at + 1..).unwrap_or_default(),
        ),
        None => (None, authority),
    };
    let host = read_host(host)?;
    if let Some(user) = user {
        let valid = user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
        if !valid {
            return Err("net/url: invalid userinfo".into());
        }
        let (name, password) = user.split_once(':').unwrap_or((user, ""));
        unescape(name, Part::UserPassword)?;
        unescape(password, Part::UserPassword)?;
    }
    Ok(host)
}

/// Go's `parseHost`: an IP literal in brackets (checked, RFC 6874's zone unescaped), or a name
/// with an optional port.
fn read_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(close) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        let (literal, port) = host.split_at(close + 1);
        if !valid_optional_port(port) {
            return Err(format!("invalid port {port:?} after host"));
        }
        let inside = literal.get(1..close).unwrap_or_default();
        let address = match inside.find("%25") {
            Some(zone) => {
                let (address, zone) = inside.split_at(zone);
                unescape(address, Part::Host)? + &unescape(zone, Part::Zone)?
            }
            None => unescape(inside, Part::Host)?,
        };
        check_ip_literal(&address)?;
        return Ok(format!("[{address}]{}", unescape(port, Part::Host)?));
    }
    if let Some(colon) = host.find(':') {
        let port = host.get(colon..).unwrap_or_default();
        if !valid_optional_port(port) {
            return Err(format!("invalid port {port:?} after host"));
        }
    }
    unescape(host, Part::Host)
}

/// Go 1.26 checks an IP literal with `netip.ParseAddr`, which takes IPv6 (with a zone) and
/// IPv4; an IPv4 literal in brackets is refused.
fn check_ip_literal(address: &str) -> Result<(), String> {
    let (ip, zone) = match address.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (address, None),
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) if zone != Some("") => Ok(()),
        Ok(std::net::IpAddr::V4(_)) if zone.is_none() => {
            Err(format!("invalid IP-literal {address:?}: an IPv4 address"))
        }
        _ => Err(format!(
            "invalid host: ParseAddr({address:?}): unable to parse IP"
        )),
    }
}

/// `""`, or `:` and digits.
fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    }
}

/// Go's `url.URL.Hostname` and `Port`: the host without brackets, and the port after the last
/// colon when it is one.
fn split_host_port(host: &str) -> (&str, &str) {
    let (mut name, port) = match host.rfind(':') {
        Some(colon) if valid_optional_port(host.get(colon..).unwrap_or_default()) => (
            host.get(..colon).unwrap_or_default(),
            host.get(colon + 1..).unwrap_or_default(),
        ),
        _ => (host, ""),
    };
    if let Some(inside) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        name = inside;
    }
    (name, port)
}

/// Go's `shouldEscape`: whether `byte` is escaped in `part`.
fn should_escape(byte: u8, part: Part) -> bool {
    if byte.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(part, Part::Host | Part::Zone) && b"!$&'()*+,;=:[]<>\"".contains(&byte) {
        return false;
    }
    match byte {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match part {
            Part::Fragment => false,
            Part::Path => byte == b'?',
            Part::UserPassword => matches!(byte, b'@' | b'/' | b'?' | b':'),
            Part::Host | Part::Zone => true,
        },
        b'!' | b'(' | b')' | b'*' if part == Part::Fragment => false,
        _ => true,
    }
}

/// Go's `unescape`: `%XX` decoded, with Go's checks for a host and a zone.
fn unescape(text: &str, part: Part) -> Result<String, String> {
    let bytes = text.as_bytes();
    let hex = |at: usize| {
        bytes
            .get(at)
            .and_then(|&b| char::from(b).to_digit(16))
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte != b'%' {
            if matches!(part, Part::Host | Part::Zone) && byte < 0x80 && should_escape(byte, part) {
                return Err(format!(
                    "invalid character {:?} in host name",
                    char::from(byte).to_string()
                ));
            }
            out.push(byte);
            at += 1;
            continue;
        }
        let escape = text.get(at..(at + 3).min(text.len())).unwrap_or("%");
        let (Some(high), Some(low)) = (hex(at + 1), hex(at + 2)) else {
            return Err(format!("invalid URL escape {escape:?}"));
        };
        if part == Part::Host && high < 8 && escape != "%25" {
            return Err(format!("invalid URL escape {escape:?}"));
        }
        let decoded = high << 4 | low;
        if part == Part::Zone
            && escape != "%25"
            && decoded != b' '
            && should_escape(decoded, Part::Host)
        {
            return Err(format!("invalid URL escape {escape:?}"));
        }
        out.push(decoded);
        at += 3;
    }
    Ok(lossy_text(&out))
}

/// Go's `escape` for a path or a fragment (uppercase hex).
fn escape(text: &str, part: Part) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match should_escape(byte, part) {
            true => out.push_str(&format!("%{byte:02X}")),
            false => out.push(char::from(byte)),
        }
    }
    out
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
