//! URIs of subject alternative names as Go's `net/url.Parse` splits them (the `URIs` OPA
//! returns are Go `url.URL` values) and as `URL.String` writes them back (`URIStrings`).

use regorus::Value;

use super::json::Fields;

/// Go's `url.URL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Url {
    scheme: String,
    opaque: String,
    user: Option<User>,
    host: String,
    path: String,
    raw_path: String,
    omit_host: bool,
    force_query: bool,
    raw_query: String,
    fragment: String,
    raw_fragment: String,
}

/// Go's `url.Userinfo` (its fields are unexported: JSON shows `{}`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct User {
    name: String,
    password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// Go's `url.Parse`; `None` where it fails.
pub(crate) fn parse(raw: &str) -> Option<Url> {
    let (before, fragment) = match raw.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (raw, None),
    };
    let mut url = parse_without_fragment(before)?;
    if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
        url.fragment = unescape(fragment, Mode::Fragment)?;
        if escape(&url.fragment, Mode::Fragment) != fragment {
            url.raw_fragment = fragment.to_string();
        }
    }
    Some(url)
}

fn parse_without_fragment(raw: &str) -> Option<Url> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let mut url = Url::default();
    if raw == "*" {
        url.path = "*".into();
        return Some(url);
    }
    let (scheme, mut rest) = scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        url.force_query = true;
        rest = rest.get(..rest.len() - 1)?;
    } else if let Some((before, query)) = rest.split_once('?') {
        url.raw_query = query.to_string();
        rest = before;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Some(url);
        }
        let segment = rest.split('/').next().unwrap_or_default();
        if segment.contains(':') {
            return None;
        }
    }
    let mut path = rest;
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = rest.get(2..)?;
        let (authority, tail) = match after.find('/') {
            Some(at) => (after.get(..at)?, after.get(at..)?),
            None => (after, ""),
        };
        let (user, host) = authority_parts(authority)?;
        url.user = user;
        url.host = host;
        path = tail;
    } else if !url.scheme.is_empty() && rest.starts_with('/') {
        url.omit_host = true;
    }
    url.path = unescape(path, Mode::Path)?;
    if escape(&url.path, Mode::Path) != path {
        url.raw_path = path.to_string();
    }
    Some(url)
}

/// Go's `getScheme`: letters then letters, digits, `+-.`, up to a colon.
fn scheme(raw: &str) -> Option<(&str, &str)> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return None,
            b':' => return Some((raw.get(..i)?, raw.get(i + 1..)?)),
            _ => return Some(("", raw)),
        }
    }
    Some(("", raw))
}

fn authority_parts(authority: &str) -> Option<(Option<User>, String)> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(at) => (Some(authority.get(..at)?), authority.get(at + 1..)?),
        None => (None, authority),
    };
    let host = host_part(host)?;
    let Some(userinfo) = userinfo else {
        return Some((None, host));
    };
    if !userinfo.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    }) {
        return None;
    }
    let user = match userinfo.split_once(':') {
        None => User {
            name: unescape(userinfo, Mode::UserPassword)?,
            password: None,
        },
        Some((name, password)) => User {
            name: unescape(name, Mode::UserPassword)?,
            password: Some(unescape(password, Mode::UserPassword)?),
        },
    };
    Some((Some(user), host))
}

/// Go's `parseHost`.
fn host_part(host: &str) -> Option<String> {
    if host.starts_with('[') {
        let close = host.rfind(']')?;
        let port = host.get(close + 1..)?;
        if !valid_optional_port(port) {
            return None;
        }
        let inside = host.get(1..close)?;
        let address = inside.split_once("%25").map_or(inside, |(a, _)| a);
        address.parse::<std::net::Ipv6Addr>().ok()?;
        if let Some(zone) = host.get(..close)?.find("%25") {
            let head = unescape(host.get(..zone)?, Mode::Host)?;
            let zone_text = unescape(host.get(zone..close)?, Mode::Zone)?;
            let tail = unescape(host.get(close..)?, Mode::Host)?;
            return Some(head + &zone_text + &tail);
        }
    } else if let Some(colon) = host.rfind(':') {
        if !valid_optional_port(host.get(colon..)?) {
            return None;
        }
    }
    unescape(host, Mode::Host)
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Go's `unescape` (no `+` handling: no mode here is a query component).
fn unescape(s: &str, mode: Mode) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if c == b'%' {
            let high = bytes.get(i + 1).copied().and_then(hex_value)?;
            let low = bytes.get(i + 2).copied().and_then(hex_value)?;
            let escaped = s.get(i..i + 3)?;
            if mode == Mode::Host && high < 8 && escaped != "%25" {
                return None;
            }
            let value = (high << 4) | low;
            if mode == Mode::Zone
                && escaped != "%25"
                && value != b' '
                && should_escape(value, Mode::Host)
            {
                return None;
            }
            out.push(value);
            i += 3;
        } else {
            if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                return None;
            }
            out.push(c);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.bytes() {
        if should_escape(c, mode) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(char::from(c));
        }
    }
    out
}

/// Go's `validEncoded`.
fn valid_encoded(s: &str, mode: Mode) -> bool {
    s.bytes().all(|c| {
        matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(c, mode)
    })
}

impl Url {
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    fn escaped_path(&self) -> String {
        if !self.raw_path.is_empty()
            && valid_encoded(&self.raw_path, Mode::Path)
            && unescape(&self.raw_path, Mode::Path).as_deref() == Some(self.path.as_str())
        {
            return self.raw_path.clone();
        }
        if self.path == "*" {
            return "*".into();
        }
        escape(&self.path, Mode::Path)
    }

    fn escaped_fragment(&self) -> String {
        if !self.raw_fragment.is_empty()
            && valid_encoded(&self.raw_fragment, Mode::Fragment)
            && unescape(&self.raw_fragment, Mode::Fragment).as_deref()
                == Some(self.fragment.as_str())
        {
            return self.raw_fragment.clone();
        }
        escape(&self.fragment, Mode::Fragment)
    }

    /// Go's `URL.String`.
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
                        out.push_str(&escape(&user.name, Mode::UserPassword));
                        if let Some(password) = &user.password {
                            out.push(':');
                            out.push_str(&escape(password, Mode::UserPassword));
                        }
                        out.push('@');
                    }
                    out.push_str(&escape(&self.host, Mode::Host));
                }
            }
            let path = self.escaped_path();
            if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                out.push('/');
            }
            if out.is_empty() {
                let segment = path.split('/').next().unwrap_or_default();
                if segment.contains(':') {
                    out.push_str("./");
                }
            }
            out.push_str(&path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&self.escaped_fragment());
        }
        out
    }

    /// Go's `url.URL` as JSON.
    pub(crate) fn to_value(&self) -> Value {
        let user = match self.user {
            Some(_) => Fields::new().build(),
            None => Value::Null,
        };
        Fields::new()
            .with("Scheme", self.scheme.as_str())
            .with("Opaque", self.opaque.as_str())
            .with("User", user)
            .with("Host", self.host.as_str())
            .with("Path", self.path.as_str())
            .with("RawPath", self.raw_path.as_str())
            .with("OmitHost", self.omit_host)
            .with("ForceQuery", self.force_query)
            .with("RawQuery", self.raw_query.as_str())
            .with("Fragment", self.fragment.as_str())
            .with("RawFragment", self.raw_fragment.as_str())
            .build()
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
        assert_eq!(url.text(), raw);
        let url = parse("http://h/a%2Fb").unwrap();
        assert_eq!(
            (url.path.as_str(), url.raw_path.as_str()),
            ("/a/b", "/a%2Fb")
        );
        assert_eq!(url.text(), "http://h/a%2Fb");
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
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(parse("http://a%41b/").is_none());
        assert_eq!(parse("urn:example:x").unwrap().opaque, "example:x");
        assert!(parse("a:b").is_some());
        assert!(parse("ab:c/d").is_some());
        assert!(parse("a/b:c").is_some());
        assert_eq!(parse("spiffe://a:1:2/x").unwrap().host, "a:1:2");
        assert!(parse("b:c%zz").is_some(), "opaque is not unescaped");
    }
}
