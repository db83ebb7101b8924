//! The compact JWS: its three sections, the JOSE header OPA looks at, and small helpers
//! shared by the builtins.

use serde_json::{Map, Value};

use super::encoding::base64url_decode;
use super::JwtError;

/// The three encoded sections of a compact JWS, and the bytes the signature covers.
pub(super) struct RawToken<'a> {
    pub(super) header: &'a str,
    pub(super) payload: &'a str,
    pub(super) signature: &'a str,
    pub(super) signing_input: &'a [u8],
}

pub(super) fn split_token(token: &str) -> Result<RawToken<'_>, JwtError> {
    if !token.contains('.') {
        return Err(JwtError::NoPeriods);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(JwtError::Sections(parts.len()));
    };
    let signing_input = token.rsplit_once('.').map_or("", |(input, _)| input);
    Ok(RawToken {
        header,
        payload,
        signature,
        signing_input: signing_input.as_bytes(),
    })
}

pub(super) fn decode_part(encoded: &str, part: &'static str) -> Result<Vec<u8>, JwtError> {
    base64url_decode(encoded).map_err(|_| JwtError::PartEncoding { part })
}

pub(super) fn json_object(
    bytes: &[u8],
    part: &'static str,
) -> Result<Map<String, Value>, JwtError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(JwtError::PartJson {
            part,
            reason: "decoded JSON type was not an Object".into(),
        }),
        Err(e) => Err(JwtError::PartJson {
            part,
            reason: format!("invalid JSON: {e}"),
        }),
    }
}

pub(super) fn decode_header(encoded: &str) -> Result<Map<String, Value>, JwtError> {
    let header = json_object(&decode_part(encoded, "header")?, "header")?;
    if header.contains_key("enc") {
        return Err(JwtError::Jwe);
    }
    Ok(header)
}

/// The registered JOSE header parameters OPA looks at.
#[derive(Default)]
pub(super) struct JoseHeader {
    pub(super) alg: String,
    pub(super) kid: String,
    pub(super) cty: String,
    pub(super) crit: Vec<String>,
    pub(super) unknown: Vec<String>,
}

impl JoseHeader {
    pub(super) fn parse(header: &Map<String, Value>) -> Result<Self, JwtError> {
        fn string(name: &'static str, value: &Value) -> Result<String, JwtError> {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or(JwtError::HeaderParameter {
                    name,
                    expected: "a string",
                })
        }
        let mut parsed = Self::default();
        for (name, value) in header {
            match name.as_str() {
                "alg" => parsed.alg = string("alg", value)?,
                "kid" => parsed.kid = string("kid", value)?,
                "cty" => parsed.cty = string("cty", value)?,
                "typ" => {
                    string("typ", value)?;
                }
                "crit" => {
                    let list = value.as_array().ok_or(JwtError::HeaderParameter {
                        name: "crit",
                        expected: "a list",
                    })?;
                    // OPA stops at the first non-string entry and only rejects an empty result.
                    parsed.crit = list
                        .iter()
                        .map_while(|v| v.as_str().map(str::to_owned))
                        .collect();
                    if parsed.crit.is_empty() {
                        return Err(JwtError::HeaderParameter {
                            name: "crit",
                            expected: "a nonempty list of strings",
                        });
                    }
                }
                other => parsed.unknown.push(other.to_owned()),
            }
        }
        Ok(parsed)
    }

    /// RFC 7515: `alg` is required, and a critical parameter we do not understand invalidates
    /// the token (a `false`, not an error).
    pub(super) fn is_valid(&self) -> bool {
        !self.alg.is_empty() && !self.unknown.iter().any(|u| self.crit.contains(u))
    }
}

pub(super) fn unverified() -> Value {
    Value::Array(vec![
        Value::Bool(false),
        Value::Object(Map::new()),
        Value::Object(Map::new()),
    ])
}

pub(super) fn audience_matches(aud: &Value, wanted: &str) -> bool {
    match aud {
        Value::String(aud) => aud == wanted,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(wanted)),
        _ => false,
    }
}

pub(super) fn operand_str(value: &Value, position: u8) -> Result<&str, JwtError> {
    value.as_str().ok_or(JwtError::Operand {
        position,
        expected: "a string",
    })
}
