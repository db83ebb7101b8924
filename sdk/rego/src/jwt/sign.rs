//! `io.jwt.encode_sign` and `io.jwt.encode_sign_raw`: a compact JWS signed with a JWK, as OPA
//! builds it (`topdown/tokens.go`).
//!
//! The header and payload are base64url-encoded as given (`encode_sign` first writes them as
//! Go's `json.Marshal` does), the header's `alg` (one of OPA's 13) picks the algorithm, and a
//! payload that is not JSON is refused unless the header's `typ` is a string other than `JWT`.
//! HMAC, RSA PKCS#1 v1.5 and EdDSA signatures are deterministic, so tokens match OPA's byte
//! for byte; PSS salts are random, and ECDSA nonces are RFC 6979's for P-256 and P-384 and
//! random for P-521 (OPA's are random), so those tokens differ from OPA's, but each verifies
//! with the other's verifier.

use hmac::{Hmac, Mac};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use sha2::{Sha256, Sha384, Sha512};

use super::encoding::base64url_encode;
use super::go_json;
use super::signing_keys::{first_signing_key, SigningKey};
use super::token::operand_str;
use super::{Algorithm, JwtError};

/// `io.jwt.encode_sign(headers, payload, key)`: the three arguments are JSON values (objects
/// in a well-typed policy), `key` a JWK or JWK set.
pub fn encode_sign(headers: &Value, payload: &Value, key: &Value) -> Result<Value, JwtError> {
    let key = first_signing_key(key)?;
    sign_compact(&go_json::marshal(headers), &go_json::marshal(payload), &key)
}

/// `io.jwt.encode_sign_raw(headers, payload, key)`: the three arguments are JSON texts, and
/// the header and payload are signed exactly as written.
pub fn encode_sign_raw(headers: &Value, payload: &Value, key: &Value) -> Result<Value, JwtError> {
    let key = operand_str(key, 3)?;
    let (headers, payload) = (operand_str(headers, 1)?, operand_str(payload, 2)?);
    let key: Value =
        serde_json::from_str(key).map_err(|_| JwtError::SigningKey("the key is not JSON"))?;
    sign_compact(headers, payload, &first_signing_key(&key)?)
}

fn sign_compact(header: &str, payload: &str, key: &SigningKey) -> Result<Value, JwtError> {
    let fields: HeaderFields =
        serde_json::from_str(header).map_err(|_| JwtError::SigningHeader("not a JSON object"))?;
    let alg = match fields.alg {
        Some(Value::String(alg)) => alg,
        _ => return Err(JwtError::SigningHeader("missing or invalid \"alg\"")),
    };
    let alg = Algorithm::from_name(&alg).ok_or(JwtError::UnknownAlgorithm(alg))?;
    let typ_says_not_jwt = matches!(&fields.typ, Some(Value::String(typ)) if typ != "JWT");
    if !typ_says_not_jwt && serde_json::from_str::<IgnoredAny>(payload).is_err() {
        return Err(JwtError::PayloadNotJson);
    }
    let input = format!(
        "{}.{}",
        base64url_encode(header.as_bytes()),
        base64url_encode(payload.as_bytes())
    );
    let signature = signature(key, alg, input.as_bytes())?;
    Ok(Value::String(format!(
        "{input}.{}",
        base64url_encode(&signature)
    )))
}

/// `alg` and `typ` of a JOSE header, the first of each where a name repeats (as `jwx` reads
/// them); the header must be a JSON object.
#[derive(Default)]
struct HeaderFields {
    alg: Option<Value>,
    typ: Option<Value>,
}

impl<'de> Deserialize<'de> for HeaderFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = HeaderFields;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JOSE header object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderFields, A::Error> {
                let mut fields = HeaderFields::default();
                while let Some(name) = map.next_key::<String>()? {
                    let slot = match name.as_str() {
                        "alg" => &mut fields.alg,
                        "typ" => &mut fields.typ,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    let value: Value = map.next_value()?;
                    slot.get_or_insert(value);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

fn signature(key: &SigningKey, alg: Algorithm, input: &[u8]) -> Result<Vec<u8>, JwtError> {
    use Algorithm as A;
    match (alg, key) {
        (_, SigningKey::CannotSign(why)) => Err(JwtError::SigningKey(why)),
        (A::Hs256, SigningKey::Secret(k)) => Ok(hmac::<Hmac<Sha256>>(k, input)),
        (A::Hs384, SigningKey::Secret(k)) => Ok(hmac::<Hmac<Sha384>>(k, input)),
        (A::Hs512, SigningKey::Secret(k)) => Ok(hmac::<Hmac<Sha512>>(k, input)),
        (_, SigningKey::Secret(_)) => Err(JwtError::SigningKey(
            "an oct key signs HS256, HS384 and HS512 only",
        )),
        #[cfg(feature = "jwt-sign")]
        (_, SigningKey::Private(k)) => k.sign(alg, input),
    }
}

fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], input: &[u8]) -> Vec<u8> {
    match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; kept total rather than trusted.
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use serde_json::json;

    use super::super::test_keys::*;
    #[cfg(feature = "jwt-sign")]
    use super::super::{decode, verify, Algorithm};
    use super::*;

    const OCT_JWK: &str = r#"{"kty":"oct","k":"c2VjcmV0"}"#;

    fn jwk(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn header(alg: &str) -> Value {
        json!({"typ": "JWT", "kid": "k1", "alg": alg})
    }

    fn payload() -> Value {
        json!({"sub": "alice", "aud": ["a", "b"], "n": 42, "html": "<a&b>", "nested": {"z": true, "a": null}})
    }

    fn sign_with(alg: &str, key: &str) -> Result<String, JwtError> {
        let token = encode_sign(&header(alg), &payload(), &jwk(key))?;
        Ok(token.as_str().unwrap().to_owned())
    }

    /// Tokens OPA v1.20.2 returned for `encode_sign(header(alg), payload(), key)`.
    const OPA_TOKENS: &[(&str, &str)] = &[
        ("HS256", "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJhdWQiOlsiYSIsImIiXSwiaHRtbCI6Ilx1MDAzY2FcdTAwMjZiXHUwMDNlIiwibiI6NDIsIm5lc3RlZCI6eyJhIjpudWxsLCJ6Ijp0cnVlfSwic3ViIjoiYWxpY2UifQ.ZbaD0MJcR9IuekEA3N9qaHGzbc0RF1LoHGYfyMthKN8"),
        ("HS384", "eyJhbGciOiJIUzM4NCIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJhdWQiOlsiYSIsImIiXSwiaHRtbCI6Ilx1MDAzY2FcdTAwMjZiXHUwMDNlIiwibiI6NDIsIm5lc3RlZCI6eyJhIjpudWxsLCJ6Ijp0cnVlfSwic3ViIjoiYWxpY2UifQ.EOEzSeaYQtniCwxdBNZGvfirfaJ7gdpzQi2KyNztAXZ79ufciHyV-NPFMCbUQhuq"),
        ("HS512", "eyJhbGciOiJIUzUxMiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJhdWQiOlsiYSIsImIiXSwiaHRtbCI6Ilx1MDAzY2FcdTAwMjZiXHUwMDNlIiwibiI6NDIsIm5lc3RlZCI6eyJhIjpudWxsLCJ6Ijp0cnVlfSwic3ViIjoiYWxpY2UifQ.cVkxYTAf8rVTSXGWhLP4m1GdBMbVvX8G7s6H69KkerBM3qogvenlbvIgFkd3kvby9DvWOLOWhrixPRI7d1Fc1Q"),
        ("RS256", "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJhdWQiOlsiYSIsImIiXSwiaHRtbCI6Ilx1MDAzY2FcdTAwMjZiXHUwMDNlIiwibiI6NDIsIm5lc3RlZCI6eyJhIjpudWxsLCJ6Ijp0cnVlfSwic3ViIjoiYWxpY2UifQ.CX8mGXLT59ERkgcOh5q0Ia7vdH7ebscX8sgReEJTAZc77N8NmyoBsRLRXX2FSf2HXbFn92kqgBm1jQHgWJ1E20Rb9WdbncSeuLRncw4Xnc0b6fZAFjD5LwUQAuWnrh9uzKOla-gLaqyF-ub4HilvVhOGxOwzcexMZNAPwHM5UKUHfnRqqH-tSdiWjvcjLZ-feYNSJlfpw7A6YqgYqYa4dIPdq-U2TMdVV70gOwotssxwrQZp3Cjk0d_rdXnaxgAiBb0wJxPjqGAuJdkjo1yb7mK8B6TaJKWrQhMSftVwiqqvcB5qvQlIqlTAy2dzCnN4Vre7SZSvLbZS6-WAQPOF0A"),
        ("RS384", "eyJhbGciOiJSUzM4NCIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJhdWQiOlsiYSIsImIiXSwiaHRtbCI6Ilx1MDAzY2FcdTAwMjZiXHUwMDNlIiwibiI6NDIsIm5lc3RlZCI6eyJhIjpudWxsLCJ6Ijp0cnVlfSwic3ViIjoiYWxpY2UifQ.ACRweTEX5eGqjEmih1hpElbogkW8MbVumf7CwLGan2Rw_AflOb3RF-QZNdpg2YFbhJeXVFihUgVeekpgr9nGcSfaghQavUS33sk6XGbe1dEcz7xQzZoJARNHLAdLlQVQSzh00IulxkBpOewJmS45C5T_5zMJNAjCbEkOoy2t4ho-K2lGKl6_z5A0KdmG5ufzf2VI6jeNtxkpkwpglYRfP83oOWuKHJIE-EyD_305XpioAt5BjThlSy5kD1v8yo63a_awdfD1-FweLKTlO0ngvBteCxOWpcGpvw6SgH5e68gwwvMy_m7s3JUfnLYnY-E4iHTzopgd7ZQPSVOKxxCLwA"),
        ("RS512", "eyJhbGciOiJSUzUxMiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJhdWQiOlsiYSIsImIiXSwiaHRtbCI6Ilx1MDAzY2FcdTAwMjZiXHUwMDNlIiwibiI6NDIsIm5lc3RlZCI6eyJhIjpudWxsLCJ6Ijp0cnVlfSwic3ViIjoiYWxpY2UifQ.Fo4sEtSt3oPXku--JXaF578Jf9zajZo052A9hnpuwi5U2i9WsGtJ8JSatD98IgPmXe_ZBVgKl1H50basPWhdwmhVZ-0ZufaFxZFBbTXAJZLX2NYZw8-_7uJttmJJSKy0sYcGNZv3SdvdEyor5uMxaGxNZA9_p3rstOO-W6WW0GrxCyhZV5UL68wA39X4oeoyryY8JaHEMJu-y4oTn0TQj0riW75IBjjP4QLix2LCJdE4TVPra3_lM0xWchQL4GOOKAAqLN9CiPRINSkI3XPC3ttG3rTZIF3tt0q87skWRH05sfP8K343Ftt91D_Z5FaDpAtJeWn3eDd2SX9-pvF7ZQ"),
        ("EdDSA", "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJhdWQiOlsiYSIsImIiXSwiaHRtbCI6Ilx1MDAzY2FcdTAwMjZiXHUwMDNlIiwibiI6NDIsIm5lc3RlZCI6eyJhIjpudWxsLCJ6Ijp0cnVlfSwic3ViIjoiYWxpY2UifQ.SDbp0dab7MScg-qU-UQ11q9vijGC9e4DiDZs2_ziZMdnI75li0I2JTaQDVrKnZMSxKhzjOUggI6di_VEdFw3DQ"),
    ];

    #[test]
    fn deterministic_algorithms_sign_byte_for_byte_as_opa() {
        for (alg, opa) in OPA_TOKENS {
            let key = match *alg {
                a if a.starts_with("HS") => OCT_JWK,
                "EdDSA" if cfg!(all(feature = "jwt-sign", feature = "jwt-eddsa")) => ED_JWK,
                a if a.starts_with("RS") && cfg!(feature = "jwt-sign") => RSA_JWK,
                _ => continue,
            };
            assert_eq!(sign_with(alg, key).as_deref(), Ok(*opa), "{alg}");
        }
    }

    #[cfg(feature = "jwt-sign")]
    #[test]
    fn randomized_algorithms_verify_with_the_verifiers() {
        let mut cases = vec![
            ("PS256", Algorithm::Ps256, RSA_JWK, RSA_PUB),
            ("PS384", Algorithm::Ps384, RSA_JWK, RSA_PUB),
            ("PS512", Algorithm::Ps512, RSA_JWK, RSA_PUB),
            ("ES256", Algorithm::Es256, P256_JWK, P256_PUB),
            ("ES384", Algorithm::Es384, P384_JWK, P384_PUB),
            // Another curve than the algorithm's, as OPA allows.
            ("ES256", Algorithm::Es256, P384_JWK, P384_PUB),
            ("ES512", Algorithm::Es512, P256_JWK, P256_PUB),
        ];
        if cfg!(feature = "jwt-es512") {
            cases.push(("ES512", Algorithm::Es512, P521_JWK, P521_PUB));
            cases.push(("ES256", Algorithm::Es256, P521_JWK, P521_PUB));
        }
        for (name, alg, key, public) in cases {
            let token = sign_with(name, key).unwrap();
            assert_eq!(
                verify(alg, &json!(token), &json!(public)),
                Ok(json!(true)),
                "{name}"
            );
            let decoded = decode(&json!(token)).unwrap();
            assert_eq!(decoded[1], payload());
        }
        // PSS salts are random: two signatures differ, both verify.
        assert_ne!(sign_with("PS256", RSA_JWK), sign_with("PS256", RSA_JWK));
    }

    #[test]
    fn raw_signs_the_texts_as_written() {
        let token = encode_sign_raw(
            &json!(r#"{"alg":"HS256", "typ":"JWT"}"#),
            &json!(r#"{"b": 1,  "a": 2}"#),
            &json!(OCT_JWK),
        );
        assert_eq!(token, Ok(json!("eyJhbGciOiJIUzI1NiIsICJ0eXAiOiJKV1QifQ.eyJiIjogMSwgICJhIjogMn0.P0zn7e3U61SSJYdNuFtDTGBRGZch9zLrshbk8Rnrlxk")));
        let raw = |header: &str, payload: &str| {
            encode_sign_raw(&json!(header), &json!(payload), &json!(OCT_JWK))
        };
        // A payload that is not JSON needs a `typ` other than JWT.
        assert!(raw(r#"{"alg":"HS256","typ":"other"}"#, "not json").is_ok());
        assert!(raw(r#"{"alg":"HS256","typ":"jwt"}"#, "not json").is_ok());
        for header in [
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"HS256","typ":1}"#,
        ] {
            assert_eq!(
                raw(header, "not json"),
                Err(JwtError::PayloadNotJson),
                "{header}"
            );
        }
        assert!(raw(r#"{"alg":"HS256"}"#, "[1]").is_ok());
        // The first `alg` counts, as in OPA.
        assert_eq!(
            raw(r#"{"alg":"none","alg":"HS256"}"#, "{}"),
            Err(JwtError::UnknownAlgorithm("none".into()))
        );
        for header in [
            r#"{"alg":"HS256"} x"#,
            r#"["alg"]"#,
            r#"{"alg":1}"#,
            r#"{"typ":"JWT"}"#,
        ] {
            assert!(
                matches!(raw(header, "{}"), Err(JwtError::SigningHeader(_))),
                "{header}"
            );
        }
        assert!(matches!(
            encode_sign_raw(&json!("{}"), &json!("{}"), &json!({})),
            Err(JwtError::Operand { position: 3, .. })
        ));
    }

    #[test]
    fn keys_that_cannot_sign_are_errors() {
        let hs = header("HS256");
        let sign = |h: &Value, key: Value| encode_sign(h, &json!({}), &key);
        for key in [
            json!({}),
            json!("c2VjcmV0"),
            json!({"keys": []}),
            json!({"keys": {"kty": "oct", "k": "c2VjcmV0"}}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "zzz"}]}),
            json!({"kty": "oct"}),
            json!({"kty": "oct", "k": ""}),
            json!({"kty": "oct", "k": "c2VjcmV0="}),
            json!({"kty": "oct", "k": "c2VjcmV0", "kid": 5}),
            json!({"kty": "OCT", "k": "c2VjcmV0"}),
        ] {
            assert!(
                matches!(sign(&hs, key.clone()), Err(JwtError::SigningKey(_))),
                "{key}"
            );
        }
        // Either base64 alphabet, with or without padding, as jwx reads it.
        for k in ["-_8", "+/8", "QQ==", "QQ", "QUJD\nRA"] {
            assert!(sign(&hs, json!({"kty": "oct", "k": k})).is_ok(), "{k}");
        }
        // The first key of a set signs.
        let set = json!({"keys": [jwk(OCT_JWK), {"kty": "oct", "k": "b3RoZXI"}]});
        assert_eq!(sign(&hs, set), sign(&hs, jwk(OCT_JWK)));
        // Public keys, and keys of the wrong type for the algorithm.
        for (alg, key) in [
            ("RS256", RSA_PUBLIC_JWK),
            ("ES256", P256_PUBLIC_JWK),
            ("EdDSA", ED_PUBLIC_JWK),
            ("HS256", RSA_JWK),
            ("RS256", OCT_JWK),
            ("EdDSA", P256_JWK),
            ("ES256", ED_JWK),
            ("ES256", RSA_JWK),
        ] {
            assert!(
                matches!(sign_with(alg, key), Err(JwtError::SigningKey(_))),
                "{alg} {key}"
            );
        }
        assert_eq!(
            sign_with("ES256K", P256_JWK),
            Err(JwtError::UnknownAlgorithm("ES256K".into()))
        );
    }

    #[cfg(feature = "jwt-sign")]
    #[test]
    fn malformed_private_keys_are_errors() {
        let mut rsa = jwk(RSA_JWK);
        rsa["dp"] = rsa["dq"].clone();
        let mut no_q = jwk(RSA_JWK);
        no_q.as_object_mut().unwrap().remove("q");
        let mut no_crt = jwk(RSA_JWK);
        for name in ["dp", "dq", "qi"] {
            no_crt.as_object_mut().unwrap().remove(name);
        }
        let rs = header("RS256");
        assert!(encode_sign(&rs, &json!({}), &rsa).is_err());
        assert!(encode_sign(&rs, &json!({}), &no_q).is_err());
        assert_eq!(
            encode_sign(&rs, &json!({}), &no_crt),
            encode_sign(&rs, &json!({}), &jwk(RSA_JWK))
        );
        let mut ec = jwk(P256_JWK);
        ec["x"] = jwk(P384_JWK)["x"].clone();
        assert!(encode_sign(&header("ES256"), &json!({}), &ec).is_err());
        let mut ed = jwk(ED_JWK);
        ed["x"] = jwk(P256_JWK)["x"].clone();
        assert!(encode_sign(&header("EdDSA"), &json!({}), &ed).is_err());
    }
}
