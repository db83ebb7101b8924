//! JWTs for the cases, made by an independent implementation (the `jsonwebtoken` crate).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use palisade_testkit::cases::TokenSpec;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

fn make(spec: &TokenSpec) -> String {
    let mut claims = spec.claims.clone();
    claims.insert("exp".into(), (now() + spec.expires_in).into());
    claims.insert("nbf".into(), (now() - 60).into());
    let (alg, key) = match spec.alg.as_str() {
        "HS256" | "HS384" => (
            if spec.alg == "HS256" {
                Algorithm::HS256
            } else {
                Algorithm::HS384
            },
            EncodingKey::from_secret(spec.secret.as_deref().unwrap().as_bytes()),
        ),
        "RS256" => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(include_bytes!("keys/rsa-private.pem")).unwrap(),
        ),
        other => panic!("unsupported token alg {other}"),
    };
    jsonwebtoken::encode(&Header::new(alg), &claims, &key).unwrap()
}

/// Every token of a file, by name.
pub fn make_all(specs: &BTreeMap<String, TokenSpec>) -> BTreeMap<String, String> {
    specs
        .iter()
        .map(|(name, spec)| (name.clone(), make(spec)))
        .collect()
}
