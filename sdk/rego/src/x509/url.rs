//! Go's `url.URL` as Go's JSON writes it: the `URIs` of a certificate (parsed by
//! [`crate::go_url`]).

use regorus::Value;

use super::json::Fields;
use crate::go_url::Url;

/// Go's `url.URL` as JSON (`User` is `{}` when set: its fields are unexported).
pub(crate) fn to_value(url: &Url) -> Value {
    let user = match url.user {
        Some(_) => Fields::new().build(),
        None => Value::Null,
    };
    Fields::new()
        .with("Scheme", url.scheme.as_str())
        .with("Opaque", url.opaque.as_str())
        .with("User", user)
        .with("Host", url.host.as_str())
        .with("Path", url.path.as_str())
        .with("RawPath", url.raw_path.as_str())
        .with("OmitHost", url.omit_host)
        .with("ForceQuery", url.force_query)
        .with("RawQuery", url.raw_query.as_str())
        .with("Fragment", url.fragment.as_str())
        .with("RawFragment", url.raw_fragment.as_str())
        .build()
}
