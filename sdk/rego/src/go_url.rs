//! Go's `net/url`: `url.Parse` (Go 1.26, what OPA v1.20.2 is built with) into Go's `url.URL`,
//! and `URL.String` back. For `uri.parse` (the `uri` feature) and the URIs of certificates
//! (`x509`).

use super::go_bytes::lossy_text;

/// Go's `url.URL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) scheme: String,
    pub(crate) opaque: String,
    pub(crate) user: Option<User>,
    pub(crate) host: String,
    pub(crate) path: String,
    /// The path as written, when it is not the default escaping of `path`.
    pub(crate) raw_path: String,
    pub(crate) omit_host: bool,
    pub(crate) force_query: bool,
    pub(crate) raw_query: String,
    pub(crate) fragment: String,
    /// The fragment as written, when it is not the default escaping of `fragment`.
    pub(crate) raw_fragment: String,
}

/// Go's `url.Userinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    name: String,
    password: Option<String>,
}

/// Which part of a URL a text is, for escaping: Go's `encoding` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// Go's `url.Parse`; the error is Go's reason.
pub(crate) fn parse(raw: &str) -> Result<Url, String> {
    let (before, fragment) = match raw.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (raw, None),
    };
    let mut url = parse_without_fragment(before)?;
    if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
        url.fragment = unescape(fragment, Part::Fragment)?;
        if escape(&url.fragment, Part::Fragment) != fragment {
            url.raw_fragment = fragment.to_string();
        }
    }
    Ok(url)
}

fn parse_without_fragment(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = Url::default();
    if raw == "*" {
        url.path = "*".into();
        return Ok(url);
    }
    let (scheme, mut rest) = scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        url.force_query = true;
        rest = rest.get(..rest.len() - 1).unwrap_or_default();
    } else if let Some((before, query)) = rest.split_once('?') {
        url.raw_query = query.to_string();
        rest = before;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            // A rootless path after a scheme is opaque.
            url.opaque = rest.to_string();
            return Ok(url);
        }
        if rest.split('/').next().unwrap_or_default().contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut path = rest;
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = rest.get(2..).unwrap_or_default();
        let (authority, tail) = after.split_at(after.find('/').unwrap_or(after.len()));
        // Go 1.26 refuses a second colon in the host of an http or https URL only.
        let strict_colons = matches!(url.scheme.as_str(), "http" | "https");
        let (user, host) = authority_parts(authority, strict_colons)?;
        url.user = user;
        url.host = host;
        path = tail;
    } else if !url.scheme.is_empty() && rest.starts_with('/') {
        url.omit_host = true;
    }
    url.path = unescape(path, Part::Path)?;
    if escape(&url.path, Part::Path) != path {
        url.raw_path = path.to_string();
    }
    Ok(url)
}

/// Go's `getScheme`: letters then letters, digits, `+-.`, up to a colon.
fn scheme(raw: &str) -> Result<(&str, &str), String> {
    for (at, byte) in raw.bytes().enumerate() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if at > 0 => {}
            b':' if at == 0 => return Err("missing protocol scheme".into()),
            b':' => {
                let (scheme, rest) = raw.split_at(at);
                return Ok((scheme, rest.get(1..).unwrap_or_default()));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseAuthority`: the user information and the host.
fn authority_parts(authority: &str, strict_colons: bool) -> Result<(Option<User>, String), String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(at) => (
            authority.get(..at),
            authority.get(at + 1..).unwrap_or_default(),
        ),
        None => (None, authority),
    };
    let host = host_part(host, strict_colons)?;
    let Some(userinfo) = userinfo else {
        return Ok((None, host));
    };
    let valid = userinfo
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
    if !valid {
        return Err("net/url: invalid userinfo".into());
    }
    let user = match userinfo.split_once(':') {
        None => User {
            name: unescape(userinfo, Part::UserPassword)?,
            password: None,
        },
        Some((name, password)) => User {
            name: unescape(name, Part::UserPassword)?,
            password: Some(unescape(password, Part::UserPassword)?),
        },
    };
    Ok((Some(user), host))
}

/// Go's `parseHost`: an IP literal in brackets (checked, RFC 6874's zone unescaped), or a name
/// with an optional port after its last colon (after its first with `strict_colons`).
fn host_part(host: &str, strict_colons: bool) -> Result<String, String> {
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
    let colon = match strict_colons {
        true => host.find(':'),
        false => host.rfind(':'),
    };
    if let Some(colon) = colon {
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

/// Go's `unescape`: `%XX` decoded, with Go's checks for a host and a zone (no `+`: no part
/// here is a query component).
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

/// Go's `escape` (uppercase hex).
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

/// Go's `validEncoded`: only characters a path or fragment may hold as written.
#[cfg_attr(not(feature = "x509"), allow(dead_code))] // `URL.String`: certificates only.
fn valid_encoded(text: &str, part: Part) -> bool {
    text.bytes()
        .all(|b| b"!$&'()*+,;=:@[]%".contains(&b) || !should_escape(b, part))
}

/// Go's `EscapedPath` and `EscapedFragment`: the text as written (`raw`) when it is a valid
/// encoding of `decoded`, else `decoded` escaped.
#[cfg_attr(not(feature = "x509"), allow(dead_code))] // `URL.String`: certificates only.
fn escaped(decoded: &str, raw: &str, part: Part) -> String {
    if !raw.is_empty() && valid_encoded(raw, part) && unescape(raw, part).as_deref() == Ok(decoded)
    {
        return raw.to_string();
    }
    escape(decoded, part)
}

impl Url {
    /// Go's `URL.Hostname` and `URL.Port`: the host without brackets, and the port after the
    /// last colon when it is one.
    #[cfg_attr(not(feature = "uri"), allow(dead_code))] // `uri.parse` only.
    pub(crate) fn hostname_and_port(&self) -> (&str, &str) {
        let host = self.host.as_str();
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

    /// Go's `URL.EscapedPath`.
    #[cfg_attr(not(feature = "x509"), allow(dead_code))] // `URL.String`: certificates only.
    fn escaped_path(&self) -> String {
        match self.path == "*" {
            true => "*".into(),
            false => escaped(&self.path, &self.raw_path, Part::Path),
        }
    }

    /// Go's `URL.String`.
    #[cfg_attr(not(feature = "x509"), allow(dead_code))] // `URL.String`: certificates only.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.opaque.is_empty() {
            out.push_str(&self.opaque);
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some() {
                let omit = self.omit_host && self.host.is_empty() && self.user.is_none();
                if !omit {
                    if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                        out.push_str("//");
                    }
                    if let Some(user) = &self.user {
                        out.push_str(&escape(&user.name, Part::UserPassword));
                        if let Some(password) = &user.password {
                            out.push(':');
                            out.push_str(&escape(password, Part::UserPassword));
                        }
                        out.push('@');
                    }
                    out.push_str(&escape(&self.host, Part::Host));
                }
            }
            let path = self.escaped_path();
            if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                out.push('/');
            }
            if out.is_empty() && path.split('/').next().unwrap_or_default().contains(':') {
                out.push_str("./");
            }
            out.push_str(&path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&escaped(&self.fragment, &self.raw_fragment, Part::Fragment));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_ids() {
        let url = parse("spiffe://cluster.local/ns/default/sa/frontend").unwrap();
        assert_eq!(url.scheme, "spiffe");
        assert_eq!(url.host, "cluster.local");
        assert_eq!(url.path, "/ns/default/sa/frontend");
        assert_eq!(url.text(), "spiffe://cluster.local/ns/default/sa/frontend");
    }

    #[test]
    fn escapes_user_query_fragment() {
        let raw = "https://user:pw@example.com:8443/a%20b/c?q=1&r=%2F#frag";
        let url = parse(raw).unwrap();
        assert_eq!(url.path, "/a b/c");
        assert_eq!(url.raw_path, "");
        assert_eq!(url.raw_query, "q=1&r=%2F");
        assert_eq!(url.fragment, "frag");
        assert_eq!(url.hostname_and_port(), ("example.com", "8443"));
        assert_eq!(url.text(), raw);
        let url = parse("http://h/a%2Fb").unwrap();
        assert_eq!(
            (url.path.as_str(), url.raw_path.as_str()),
            ("/a/b", "/a%2Fb")
        );
        assert_eq!(url.text(), "http://h/a%2Fb");
        let url = parse("http://[fe80::1%25en0]:8/").unwrap();
        assert_eq!(url.hostname_and_port(), ("fe80::1%en0", "8"));
    }

    #[test]
    fn what_go_refuses() {
        for bad in [
            ":x",
            "/a%zz",
            "http://h:port/",
            "http://[::1/",
            "x y\n",
            "1a:b",
            "http://[1.2.3.4]/",
            "http://a%41b/",
            // Go 1.26 refuses a second colon in the host of an http or https URL.
            "http://a:1:2/x",
            "HTTPS://a:1:2/x",
            "http://h#%zz",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("urn:example:x").unwrap().opaque, "example:x");
        assert!(parse("a:b").is_ok());
        assert!(parse("ab:c/d").is_ok());
        assert!(parse("a/b:c").is_ok());
        assert!(parse("b:c%zz").is_ok(), "opaque is not unescaped");
        let url = parse("spiffe://a:1:2/x").unwrap();
        assert_eq!(url.hostname_and_port(), ("a:1", "2"));
    }
}
