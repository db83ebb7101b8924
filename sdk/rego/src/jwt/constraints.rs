//! `decode_verify`'s constraints object: keys, expected `alg`, `iss`, `aud` and the clock.

use serde_json::Value;

use super::keys::{parse_keys, verify_with_keys, KeyMaterial, VerificationKey};
use super::signatures::verify_signature;
use super::token::JoseHeader;
use super::{Algorithm, JwtError};

pub(super) struct Constraints {
    pub(super) keys: Option<Vec<VerificationKey>>,
    pub(super) secret: String,
    pub(super) alg: String,
    pub(super) iss: String,
    pub(super) aud: String,
    pub(super) time_ns: f64,
}

impl Constraints {
    pub(super) fn parse(value: &Value, now_ns: i64) -> Result<Self, JwtError> {
        fn string<'v>(name: &'static str, value: &'v Value) -> Result<&'v str, JwtError> {
            value.as_str().ok_or(JwtError::Constraint {
                name,
                expected: "a string",
            })
        }
        let negative_time = JwtError::Constraint {
            name: "token time",
            expected: "non-negative",
        };
        let object = value.as_object().ok_or(JwtError::Operand {
            position: 2,
            expected: "an object",
        })?;
        let (mut keys, mut secret, mut alg, mut iss, mut aud) = (None, "", "", "", "");
        let mut time_ns = None;
        for (name, value) in object {
            match name.as_str() {
                "cert" => keys = Some(parse_keys(string("cert", value)?)?),
                "secret" => secret = string("secret", value)?,
                "alg" => alg = string("alg", value)?,
                "iss" => iss = string("iss", value)?,
                "aud" => aud = string("aud", value)?,
                "time" => {
                    let time = value.as_f64().ok_or(JwtError::Constraint {
                        name: "token time",
                        expected: "a number",
                    })?;
                    if time < 0.0 {
                        return Err(negative_time);
                    }
                    time_ns = Some(time);
                }
                other => return Err(JwtError::UnknownConstraint(other.to_owned())),
            }
        }
        let time_ns = match time_ns {
            Some(time) => time,
            None if now_ns >= 0 => now_ns as f64,
            None => return Err(negative_time),
        };
        // An empty secret counts as absent, as in OPA.
        match (keys.is_some(), !secret.is_empty()) {
            (true, true) => Err(JwtError::DuplicateKeyConstraints),
            (false, false) => Err(JwtError::NoKeyConstraint),
            _ => Ok(Self {
                keys,
                secret: secret.to_owned(),
                alg: alg.to_owned(),
                iss: iss.to_owned(),
                aud: aud.to_owned(),
                time_ns,
            }),
        }
    }

    /// Verifies with the algorithm the token names; keys decide which algorithms can succeed,
    /// so an `HS256` token never verifies against an RSA or EC key (alg confusion).
    pub(super) fn signature_ok(
        &self,
        jose: &JoseHeader,
        signing_input: &[u8],
        signature: &[u8],
    ) -> bool {
        let Some(alg) = Algorithm::from_name(&jose.alg) else {
            return false;
        };
        let check = |key: &KeyMaterial| verify_signature(key, alg, signing_input, signature);
        match &self.keys {
            Some(keys) => verify_with_keys(keys, jose, |key| check(&key.material)),
            None => check(&KeyMaterial::Secret(self.secret.as_bytes().to_vec())),
        }
    }
}
