//! The JWT builtins against tokens signed here with the RustCrypto crates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use hmac::{Hmac, Mac};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss};
use serde_json::json;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::der::Decode;
use spki::SubjectPublicKeyInfoRef;

use super::encoding::hex_lower;
use super::keys::pem_first_block;
use super::signatures::fixed_width_rs;
use super::*;

const NOW_S: i64 = 1_700_000_000;
const NOW_NS: i64 = NOW_S * 1_000_000_000;

use super::test_keys::*;

enum Signer {
    Hmac(&'static [u8]),
    Rsa(rsa::RsaPrivateKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

fn rsa_signer() -> Signer {
    Signer::Rsa(rsa::RsaPrivateKey::from_pkcs8_pem(RSA_KEY).unwrap())
}
fn p256_signer() -> Signer {
    Signer::P256(p256::ecdsa::SigningKey::from_pkcs8_pem(P256_KEY).unwrap())
}
fn p384_signer() -> Signer {
    Signer::P384(p384::ecdsa::SigningKey::from_pkcs8_pem(P384_KEY).unwrap())
}

/// Unpadded base64url, as JWTs use it.
fn b64(bytes: &[u8]) -> String {
    const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut bits = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            bits |= u32::from(*b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(char::from(URL[(bits >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Signs `header.claims` with whatever `header.alg` names (or HS256 for an HMAC key when
/// `alg` is something else, such as `none`, to build tokens that lie about their alg).
fn sign_with(signer: &Signer, sign_alg: &str, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let data = input.as_bytes();
    let sig: Vec<u8> = match (signer, sign_alg) {
        (Signer::Hmac(k), "HS384") => {
            let mut m = Hmac::<Sha384>::new_from_slice(k).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        (Signer::Hmac(k), "HS512") => {
            let mut m = Hmac::<Sha512>::new_from_slice(k).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        (Signer::Hmac(k), _) => {
            let mut m = Hmac::<Sha256>::new_from_slice(k).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        (Signer::Rsa(k), "RS256") => k
            .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data))
            .unwrap(),
        (Signer::Rsa(k), "RS384") => k
            .sign(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(data))
            .unwrap(),
        (Signer::Rsa(k), "RS512") => k
            .sign(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(data))
            .unwrap(),
        (Signer::Rsa(k), "PS256") => k
            .sign_with_rng(
                &mut rand_core::OsRng,
                Pss::new::<Sha256>(),
                &Sha256::digest(data),
            )
            .unwrap(),
        (Signer::P256(k), _) => {
            use p256::ecdsa::signature::Signer as _;
            let s: p256::ecdsa::Signature = k.sign(data);
            s.to_bytes().to_vec()
        }
        (Signer::P384(k), _) => {
            use p384::ecdsa::signature::Signer as _;
            let s: p384::ecdsa::Signature = k.sign(data);
            s.to_bytes().to_vec()
        }
        (_, other) => panic!("test signer cannot do {other}"),
    };
    format!("{input}.{}", b64(&sig))
}

fn sign(signer: &Signer, header: Value, claims: Value) -> String {
    let alg = header["alg"].as_str().unwrap_or("HS256").to_owned();
    sign_with(signer, &alg, &header, &claims)
}

fn hs256(secret: &'static [u8], claims: Value) -> String {
    sign(
        &Signer::Hmac(secret),
        json!({"alg": "HS256", "typ": "JWT"}),
        claims,
    )
}

/// An HS256 token whose payload is `payload` verbatim (not necessarily a JSON object).
fn hs256_raw(secret: &[u8], header: &Value, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn dv(token: &str, constraints: Value) -> Value {
    decode_verify(&json!(token), &constraints, NOW_NS).unwrap()
}

fn is_valid(result: &Value) -> bool {
    let valid = result[0].as_bool().unwrap();
    if !valid {
        assert_eq!(result, &json!([false, {}, {}]));
    }
    valid
}

fn tamper_payload(token: &str, claims: Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    )
}

fn rsa_jwk(kid: &str, alg: Option<&str>) -> Value {
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(RSA_KEY)
        .unwrap()
        .to_public_key();
    let mut jwk = json!({
        "kty": "RSA",
        "kid": kid,
        "n": b64(&key.n().to_bytes_be()),
        "e": b64(&key.e().to_bytes_be()),
    });
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

fn other_rsa_jwk(kid: &str) -> Value {
    let spki =
        SubjectPublicKeyInfoRef::from_der(&pem_first_block(OTHER_RSA_PUB).unwrap().1.unwrap())
            .unwrap()
            .subject_public_key
            .as_bytes()
            .unwrap()
            .to_vec();
    let key = rsa::pkcs1::RsaPublicKey::from_der(&spki).unwrap();
    json!({
        "kty": "RSA",
        "kid": kid,
        "n": b64(key.modulus.as_bytes()),
        "e": b64(key.public_exponent.as_bytes()),
    })
}

fn p256_jwk(kid: &str) -> Value {
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(P256_KEY).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC", "crv": "P-256", "kid": kid,
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
    })
}

// ---- base64url ----

#[test]
fn base64url_decode_tolerates_missing_padding_like_opa() {
    assert_eq!(base64url_decode("QQ").unwrap(), b"A");
    assert_eq!(base64url_decode("QQ==").unwrap(), b"A");
    assert_eq!(base64url_decode("QUI").unwrap(), b"AB");
    assert_eq!(base64url_decode("QUI=").unwrap(), b"AB");
    assert_eq!(base64url_decode("QUJD").unwrap(), b"ABC");
    assert_eq!(base64url_decode("").unwrap(), b"");
    assert_eq!(base64url_decode("-_8").unwrap(), [0xfb, 0xff]);
    // Go ignores non-zero trailing bits.
    assert_eq!(base64url_decode("QR").unwrap(), b"A");
}

#[test]
fn base64url_decode_rejects_what_opa_rejects() {
    assert_eq!(base64url_decode("QUJDR"), Err(JwtError::Base64Url));
    assert_eq!(base64url_decode("QQ="), Err(JwtError::Base64Url));
    assert_eq!(base64url_decode("QQ+/"), Err(JwtError::Base64Url));
    assert_eq!(base64url_decode("Q=Q="), Err(JwtError::Base64Url));
    assert_eq!(base64url_decode("Q==="), Err(JwtError::Base64Url));
    assert_eq!(base64url_decode("QQ==QUJD"), Err(JwtError::Base64Url));
    // The padding is chosen from the raw length, newlines included, as OPA does.
    assert_eq!(base64url_decode("QU\nJD"), Err(JwtError::Base64Url));
}

// ---- io.jwt.decode ----

#[test]
fn decode_returns_header_payload_and_hex_signature() {
    let token = hs256(b"secret", json!({"sub": "alice", "n": 1}));
    let decoded = decode(&json!(token)).unwrap();
    assert_eq!(decoded[0], json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(decoded[1], json!({"sub": "alice", "n": 1}));
    let sig = base64url_decode(token.rsplit('.').next().unwrap()).unwrap();
    assert_eq!(decoded[2], json!(hex_lower(&sig)));
    assert_eq!(decoded[2].as_str().unwrap().len(), 64);
}

#[test]
fn decode_accepts_the_jwt_io_example() {
    let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let decoded = decode(&json!(token)).unwrap();
    assert_eq!(decoded[1]["name"], json!("John Doe"));
    assert_eq!(
        decoded[2],
        json!("49f94ac7044948c78a285d904f87f0a4c7897f7e8f3a4eb2255fda750b2cc397")
    );
    assert_eq!(
        verify_hs256(&json!(token), &json!("your-256-bit-secret")).unwrap(),
        json!(true)
    );
}

#[test]
fn decode_rejects_malformed_tokens() {
    let h = b64(br#"{"alg":"HS256"}"#);
    let p = b64(br#"{"a":1}"#);
    let cases = [
        ("nodots".to_owned(), JwtError::NoPeriods),
        (format!("{h}.{p}"), JwtError::Sections(2)),
        (format!("{h}.{p}.x.y"), JwtError::Sections(4)),
        (
            format!("{h}!.{p}.",),
            JwtError::PartEncoding { part: "header" },
        ),
        (
            format!("{h}.{p}!.",),
            JwtError::PartEncoding { part: "payload" },
        ),
        (
            format!("{h}.{p}.a"),
            JwtError::PartEncoding { part: "signature" },
        ),
        (
            format!("{}.{p}.", b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#)),
            JwtError::Jwe,
        ),
    ];
    for (token, want) in cases {
        assert_eq!(decode(&json!(token)), Err(want), "{token}");
    }
    for (header, payload, part) in [
        (b64(b"not json"), p.clone(), "header"),
        (b64(b"[1]"), p.clone(), "header"),
        (h.clone(), b64(b"\"str\""), "payload"),
    ] {
        let err = decode(&json!(format!("{header}.{payload}."))).unwrap_err();
        assert!(
            matches!(err, JwtError::PartJson { part: p, .. } if p == part),
            "{err}"
        );
    }
    assert_eq!(
        decode(&json!(42)),
        Err(JwtError::Operand {
            position: 1,
            expected: "a string"
        })
    );
}

#[test]
fn decode_unwraps_a_nested_token() {
    let inner = hs256(b"k", json!({"sub": "inner"}));
    let quoted = format!("\"{inner}\"");
    let outer = hs256_raw(
        b"k",
        &json!({"alg": "HS256", "cty": "JWT"}),
        quoted.as_bytes(),
    );
    let decoded = decode(&json!(outer)).unwrap();
    assert_eq!(decoded[1], json!({"sub": "inner"}));
    assert_eq!(decoded[0], json!({"alg": "HS256", "typ": "JWT"}));
}

// ---- io.jwt.verify_* ----

#[test]
fn verify_hs_checks_the_secret_and_the_signed_bytes() {
    for (alg, verify_fn) in [
        (
            "HS256",
            verify_hs256 as fn(&Value, &Value) -> Result<Value, JwtError>,
        ),
        ("HS384", verify_hs384),
        ("HS512", verify_hs512),
    ] {
        let token = sign(
            &Signer::Hmac(b"s3cret"),
            json!({"alg": alg}),
            json!({"a": 1}),
        );
        assert_eq!(
            verify_fn(&json!(token), &json!("s3cret")),
            Ok(json!(true)),
            "{alg}"
        );
        assert_eq!(
            verify_fn(&json!(token), &json!("wrong")),
            Ok(json!(false)),
            "{alg}"
        );
        let tampered = tamper_payload(&token, json!({"a": 2}));
        assert_eq!(
            verify_fn(&json!(tampered), &json!("s3cret")),
            Ok(json!(false))
        );
    }
    // HS256 verifier on an HS512 signature: wrong length, false.
    let token = sign(&Signer::Hmac(b"s"), json!({"alg": "HS512"}), json!({}));
    assert_eq!(verify_hs256(&json!(token), &json!("s")), Ok(json!(false)));
    assert!(verify_hs256(&json!("a.b"), &json!("s")).is_err());
    assert!(verify_hs256(&json!(token), &json!(1)).is_err());
}

#[test]
fn verify_rs_accepts_certificate_public_key_and_jwks() {
    let signer = rsa_signer();
    let jwks = json!({"keys": [rsa_jwk("k1", Some("RS256"))]}).to_string();
    for (alg, verify_fn) in [
        (
            "RS256",
            verify_rs256 as fn(&Value, &Value) -> Result<Value, JwtError>,
        ),
        ("RS384", verify_rs384),
        ("RS512", verify_rs512),
    ] {
        let token = json!(sign(&signer, json!({"alg": alg}), json!({"sub": "x"})));
        assert_eq!(
            verify_fn(&token, &json!(RSA_CERT)),
            Ok(json!(true)),
            "{alg}"
        );
        assert_eq!(verify_fn(&token, &json!(RSA_PUB)), Ok(json!(true)), "{alg}");
        assert_eq!(verify_fn(&token, &json!(OTHER_RSA_PUB)), Ok(json!(false)));
        assert_eq!(verify_fn(&token, &json!(P256_PUB)), Ok(json!(false)));
        let tampered = tamper_payload(token.as_str().unwrap(), json!({"sub": "y"}));
        assert_eq!(
            verify_fn(&json!(tampered), &json!(RSA_CERT)),
            Ok(json!(false))
        );
    }
    let token = json!(sign(&signer, json!({"alg": "RS256"}), json!({})));
    assert_eq!(verify_rs256(&token, &json!(jwks)), Ok(json!(true)));
    // A JWK key whose alg differs from the token's alg is skipped.
    let jwks384 = json!({"keys": [rsa_jwk("k1", Some("RS384"))]}).to_string();
    assert_eq!(verify_rs256(&token, &json!(jwks384)), Ok(json!(false)));
    // Wrong hash for the verifier.
    assert_eq!(verify_rs384(&token, &json!(RSA_PUB)), Ok(json!(false)));
}

#[test]
fn verify_rs_refuses_keys_under_1024_bits() {
    let small = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 768).unwrap();
    let public = small.to_public_key();
    let jwk = json!({
        "kty": "RSA",
        "n": b64(&public.n().to_bytes_be()),
        "e": b64(&public.e().to_bytes_be()),
    })
    .to_string();
    let token = sign(&Signer::Rsa(small), json!({"alg": "RS256"}), json!({}));
    assert_eq!(verify_rs256(&json!(token), &json!(jwk)), Ok(json!(false)));
}

#[test]
fn verify_ps256_accepts_pss_signatures() {
    let token = json!(sign(&rsa_signer(), json!({"alg": "PS256"}), json!({})));
    assert_eq!(verify_ps256(&token, &json!(RSA_CERT)), Ok(json!(true)));
    assert_eq!(verify_rs256(&token, &json!(RSA_CERT)), Ok(json!(false)));
    assert_eq!(
        verify_ps256(&token, &json!(OTHER_RSA_PUB)),
        Ok(json!(false))
    );
}

#[test]
fn verify_es_checks_curve_and_signature() {
    let t256 = json!(sign(
        &p256_signer(),
        json!({"alg": "ES256"}),
        json!({"a": 1})
    ));
    assert_eq!(verify_es256(&t256, &json!(P256_CERT)), Ok(json!(true)));
    assert_eq!(verify_es256(&t256, &json!(P256_PUB)), Ok(json!(true)));
    let jwks = json!({"keys": [p256_jwk("e1")]}).to_string();
    assert_eq!(verify_es256(&t256, &json!(jwks)), Ok(json!(true)));
    assert_eq!(verify_es256(&t256, &json!(P384_PUB)), Ok(json!(false)));
    assert_eq!(verify_es256(&t256, &json!(RSA_PUB)), Ok(json!(false)));
    assert_eq!(verify_es384(&t256, &json!(P256_PUB)), Ok(json!(false)));
    let tampered = tamper_payload(t256.as_str().unwrap(), json!({"a": 2}));
    assert_eq!(
        verify_es256(&json!(tampered), &json!(P256_PUB)),
        Ok(json!(false))
    );

    let t384 = json!(sign(
        &p384_signer(),
        json!({"alg": "ES384"}),
        json!({"a": 1})
    ));
    assert_eq!(verify_es384(&t384, &json!(P384_PUB)), Ok(json!(true)));
    assert_eq!(verify_es256(&t384, &json!(P384_PUB)), Ok(json!(false)));
}

#[test]
fn verify_rejects_unusable_key_input() {
    let token = json!(sign(&rsa_signer(), json!({"alg": "RS256"}), json!({})));
    let chain = format!("{RSA_CERT}\n{P256_CERT}");
    let pkcs1 = RSA_PUB.replace("PUBLIC KEY", "RSA PUBLIC KEY");
    let garbage_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    for bad in [
        "",
        "not a key",
        chain.as_str(),
        pkcs1.as_str(),
        garbage_pem,
        r#"{"keys": 1}"#,
        r#"{"kty": "RSA"}"#,
        r#"{"kty": "XYZ"}"#,
    ] {
        assert!(
            matches!(
                verify_rs256(&token, &json!(bad)),
                Err(JwtError::InvalidKey(_))
            ),
            "{bad}"
        );
    }
    // An Ed25519 key parses (as in OPA) but cannot verify RS256.
    assert_eq!(verify_rs256(&token, &json!(ED25519_PUB)), Ok(json!(false)));
    // Trailing whitespace after the PEM block is fine.
    assert_eq!(
        verify_rs256(&token, &json!(format!("{RSA_CERT}\n\n"))),
        Ok(json!(true))
    );
}

#[test]
fn fixed_width_rs_left_pads_trimmed_halves() {
    let sig = [[0u8; 31].as_slice(), &[1], &[0; 31], &[2]].concat();
    let rs = fixed_width_rs(&sig, 32).unwrap();
    assert_eq!(rs, sig);
    let short = [1u8, 2];
    let rs = fixed_width_rs(&short, 32).unwrap();
    assert_eq!(rs.len(), 64);
    assert_eq!((rs[31], rs[63]), (1, 2));
    assert!(fixed_width_rs(&[1u8; 66], 32).is_none());
}

// ---- io.jwt.decode_verify: keys and algorithms ----

#[test]
fn decode_verify_returns_header_and_payload_when_valid() {
    let token = hs256(b"secret", json!({"sub": "alice", "exp": NOW_S + 60}));
    let result = dv(&token, json!({"secret": "secret"}));
    assert_eq!(
        result,
        json!([true, {"alg": "HS256", "typ": "JWT"}, {"sub": "alice", "exp": NOW_S + 60}])
    );
    let rs = sign(
        &rsa_signer(),
        json!({"alg": "RS256", "kid": "k1"}),
        json!({"a": 1}),
    );
    assert!(is_valid(&dv(&rs, json!({"cert": RSA_CERT}))));
    assert!(is_valid(&dv(&rs, json!({"cert": RSA_PUB, "alg": "RS256"}))));
    let es = sign(&p256_signer(), json!({"alg": "ES256"}), json!({"a": 1}));
    assert!(is_valid(&dv(&es, json!({"cert": P256_CERT}))));
    let es384 = sign(&p384_signer(), json!({"alg": "ES384"}), json!({"a": 1}));
    assert!(is_valid(&dv(&es384, json!({"cert": P384_PUB}))));
    let ps = sign(&rsa_signer(), json!({"alg": "PS256"}), json!({"a": 1}));
    assert!(is_valid(&dv(&ps, json!({"cert": RSA_PUB}))));
}

#[test]
fn decode_verify_fails_with_wrong_key_or_tampered_payload() {
    let token = hs256(b"secret", json!({"sub": "alice"}));
    assert!(!is_valid(&dv(&token, json!({"secret": "other"}))));
    let tampered = tamper_payload(&token, json!({"sub": "admin"}));
    assert!(!is_valid(&dv(&tampered, json!({"secret": "secret"}))));
    let rs = sign(&rsa_signer(), json!({"alg": "RS256"}), json!({}));
    assert!(!is_valid(&dv(&rs, json!({"cert": OTHER_RSA_PUB}))));
    assert!(!is_valid(&dv(&rs, json!({"cert": P256_PUB}))));
    // Signature stripped.
    let stripped = format!("{}.", rs.rsplit_once('.').unwrap().0);
    assert!(!is_valid(&dv(&stripped, json!({"cert": RSA_PUB}))));
}

#[test]
fn decode_verify_blocks_alg_confusion() {
    // Attacker signs HS256 with the server's public key PEM as the HMAC secret.
    let header = json!({"alg": "HS256"});
    let claims = json!({"sub": "admin"});
    let secret: &'static [u8] = RSA_PUB.as_bytes();
    let forged = sign_with(&Signer::Hmac(secret), "HS256", &header, &claims);
    assert!(!is_valid(&dv(&forged, json!({"cert": RSA_PUB}))));
    assert!(!is_valid(&dv(&forged, json!({"cert": RSA_CERT}))));
    assert_eq!(
        verify_rs256(&json!(forged), &json!(RSA_PUB)),
        Ok(json!(false))
    );
    // ...and an RS256 token is not accepted against a secret.
    let rs = sign(&rsa_signer(), json!({"alg": "RS256"}), claims);
    assert!(!is_valid(&dv(&rs, json!({"secret": RSA_PUB}))));
}

#[test]
fn decode_verify_rejects_alg_none_and_unsupported_algs() {
    let claims = json!({"sub": "admin"});
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims.to_string().as_bytes())
    );
    assert!(!is_valid(&dv(&unsigned, json!({"secret": "secret"}))));
    assert!(!is_valid(&dv(&unsigned, json!({"cert": RSA_PUB}))));
    let none_hmac = sign_with(
        &Signer::Hmac(b"secret"),
        "HS256",
        &json!({"alg": "none"}),
        &claims,
    );
    assert!(!is_valid(&dv(&none_hmac, json!({"secret": "secret"}))));
    let missing_alg = sign_with(
        &Signer::Hmac(b"secret"),
        "HS256",
        &json!({"typ": "JWT"}),
        &claims,
    );
    assert!(!is_valid(&dv(&missing_alg, json!({"secret": "secret"}))));
    let es512 = sign_with(
        &Signer::Hmac(b"secret"),
        "HS256",
        &json!({"alg": "ES512"}),
        &claims,
    );
    assert!(!is_valid(&dv(&es512, json!({"secret": "secret"}))));
}

#[test]
fn decode_verify_alg_constraint_must_match_header() {
    let token = hs256(b"secret", json!({}));
    assert!(is_valid(&dv(
        &token,
        json!({"secret": "secret", "alg": "HS256"})
    )));
    assert!(!is_valid(&dv(
        &token,
        json!({"secret": "secret", "alg": "HS512"})
    )));
}

#[test]
fn decode_verify_selects_jwks_keys_by_kid_then_tries_all() {
    let signer = rsa_signer();
    let jwks = json!({"keys": [
        other_rsa_jwk("other"),
        {"kty": "RSA", "kid": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        rsa_jwk("mine", Some("RS256")),
        p256_jwk("ec"),
    ]})
    .to_string();
    let by_kid = sign(&signer, json!({"alg": "RS256", "kid": "mine"}), json!({}));
    assert!(is_valid(&dv(&by_kid, json!({"cert": jwks}))));
    let unknown_kid = sign(&signer, json!({"alg": "RS256", "kid": "nope"}), json!({}));
    assert!(is_valid(&dv(&unknown_kid, json!({"cert": jwks}))));
    let no_kid = sign(&signer, json!({"alg": "RS256"}), json!({}));
    assert!(is_valid(&dv(&no_kid, json!({"cert": jwks}))));
    // A kid that names the wrong key: only that key is tried, as in OPA.
    let wrong_kid = sign(&signer, json!({"alg": "RS256", "kid": "other"}), json!({}));
    assert!(!is_valid(&dv(&wrong_kid, json!({"cert": jwks}))));
    let es = sign(
        &p256_signer(),
        json!({"alg": "ES256", "kid": "ec"}),
        json!({}),
    );
    assert!(is_valid(&dv(&es, json!({"cert": jwks}))));
    // A single JWK (not a set) works too; an empty set verifies nothing.
    let single = rsa_jwk("mine", None).to_string();
    assert!(is_valid(&dv(&no_kid, json!({"cert": single}))));
    assert!(!is_valid(&dv(&no_kid, json!({"cert": r#"{"keys": []}"#}))));
}

#[test]
fn decode_verify_accepts_an_oct_jwk_for_hmac() {
    let token = hs256(b"shared", json!({}));
    let jwks = json!({"keys": [{"kty": "oct", "k": b64(b"shared")}]}).to_string();
    assert!(is_valid(&dv(&token, json!({"cert": jwks}))));
    assert_eq!(verify_rs256(&json!(token), &json!(jwks)), Ok(json!(false)));
}

#[test]
fn decode_verify_honours_crit_header() {
    let signer = Signer::Hmac(b"secret");
    let c = json!({"secret": "secret"});
    let header = json!({"alg": "HS256", "crit": ["b64"], "b64": false});
    assert!(!is_valid(&dv(&sign(&signer, header, json!({})), c.clone())));
    // A listed parameter that is absent is not "unknown".
    let header = json!({"alg": "HS256", "crit": ["x-absent"]});
    assert!(is_valid(&dv(&sign(&signer, header, json!({})), c.clone())));
    for header in [
        json!({"alg": "HS256", "crit": "b64"}),
        json!({"alg": "HS256", "crit": []}),
        json!({"alg": "HS256", "crit": [1, "x"]}),
        json!({"alg": "HS256", "kid": 7}),
        json!({"alg": 256}),
    ] {
        let token = sign_with(&signer, "HS256", &header, &json!({}));
        assert!(
            matches!(
                decode_verify(&json!(token), &c, NOW_NS),
                Err(JwtError::HeaderParameter { .. })
            ),
            "{header}"
        );
    }
}

#[test]
fn decode_verify_follows_nested_tokens() {
    let header = json!({"alg": "HS256", "cty": "jwt"});
    let inner = hs256(b"secret", json!({"sub": "inner"}));
    let outer = hs256_raw(b"secret", &header, inner.as_bytes());
    let result = dv(&outer, json!({"secret": "secret"}));
    assert_eq!(
        result,
        json!([true, {"alg": "HS256", "typ": "JWT"}, {"sub": "inner"}])
    );
    // The inner token must verify too.
    let bad_inner = hs256(b"other", json!({"sub": "inner"}));
    let outer = hs256_raw(b"secret", &header, bad_inner.as_bytes());
    assert!(!is_valid(&dv(&outer, json!({"secret": "secret"}))));
}

// ---- io.jwt.decode_verify: claims ----

#[test]
fn decode_verify_checks_exp_and_nbf_against_time() {
    let c = json!({"secret": "k"});
    let check = |claims: Value| is_valid(&dv(&hs256(b"k", claims), c.clone()));
    assert!(check(json!({"exp": NOW_S + 1})));
    assert!(!check(json!({"exp": NOW_S})), "exp is exclusive");
    assert!(!check(json!({"exp": NOW_S - 1})));
    assert!(check(json!({"exp": NOW_S as f64 + 0.5})));
    assert!(check(json!({"nbf": NOW_S})), "nbf is inclusive");
    assert!(!check(json!({"nbf": NOW_S + 1})));
    assert!(check(json!({"nbf": NOW_S - 1, "exp": NOW_S + 1})));
    // The `time` constraint (nanoseconds) replaces the clock.
    let token = hs256(b"k", json!({"exp": NOW_S + 10}));
    let later = json!({"secret": "k", "time": (NOW_S + 20) * 1_000_000_000});
    assert!(!is_valid(&dv(&token, later)));
    let earlier = json!({"secret": "k", "time": (NOW_S - 20) as f64 * 1e9});
    let expired = hs256(b"k", json!({"exp": NOW_S - 10}));
    assert!(is_valid(&dv(&expired, earlier)));
}

#[test]
fn decode_verify_errors_on_non_numeric_exp_or_nbf() {
    let c = json!({"secret": "k"});
    for (claims, name) in [
        (json!({"exp": "tomorrow"}), "exp"),
        (json!({"exp": null}), "exp"),
        (json!({"nbf": "yesterday"}), "nbf"),
    ] {
        let token = hs256(b"k", claims);
        assert_eq!(
            decode_verify(&json!(token), &c, NOW_NS),
            Err(JwtError::ClaimNotNumber(name))
        );
    }
    // With a bad signature the claims are never looked at.
    let token = hs256(b"other", json!({"exp": "tomorrow"}));
    assert!(!is_valid(&dv(&token, c)));
}

#[test]
fn decode_verify_checks_issuer() {
    let c = json!({"secret": "k", "iss": "https://issuer"});
    let check = |claims: Value| is_valid(&dv(&hs256(b"k", claims), c.clone()));
    assert!(check(json!({"iss": "https://issuer"})));
    assert!(!check(json!({"iss": "https://evil"})));
    assert!(!check(json!({})));
    assert!(!check(json!({"iss": ["https://issuer"]})));
    // Without an iss constraint any issuer is fine.
    let token = hs256(b"k", json!({"iss": "anyone"}));
    assert!(is_valid(&dv(&token, json!({"secret": "k"}))));
}

#[test]
fn decode_verify_checks_audience_like_opa() {
    let with_aud = json!({"secret": "k", "aud": "api"});
    let without_aud = json!({"secret": "k"});
    let check = |claims: Value, c: &Value| is_valid(&dv(&hs256(b"k", claims), c.clone()));
    assert!(check(json!({"aud": "api"}), &with_aud));
    assert!(check(json!({"aud": ["web", "api"]}), &with_aud));
    assert!(!check(json!({"aud": "web"}), &with_aud));
    assert!(!check(json!({"aud": ["web"]}), &with_aud));
    assert!(!check(json!({"aud": 1}), &with_aud));
    assert!(!check(json!({}), &with_aud), "aud required by constraint");
    // A token with an audience is rejected when the caller names none.
    assert!(!check(json!({"aud": "api"}), &without_aud));
    assert!(check(json!({}), &without_aud));
}

#[test]
fn decode_verify_uses_now_ns_when_time_is_absent() {
    let token = hs256(b"k", json!({"exp": NOW_S + 5}));
    let c = json!({"secret": "k"});
    assert!(is_valid(&decode_verify(&json!(token), &c, NOW_NS).unwrap()));
    let later = NOW_NS + 6_000_000_000;
    assert!(!is_valid(&decode_verify(&json!(token), &c, later).unwrap()));
    assert!(decode_verify(&json!(token), &c, -1).is_err());
}

// ---- io.jwt.decode_verify: constraint errors ----

#[test]
fn decode_verify_rejects_malformed_constraints() {
    let token = json!(hs256(b"k", json!({})));
    let err = |c: Value| decode_verify(&token, &c, NOW_NS).unwrap_err();
    assert_eq!(
        err(json!({"secret": "k", "leeway": 5})),
        JwtError::UnknownConstraint("leeway".into())
    );
    assert_eq!(
        err(json!({"secret": "k", "cert": RSA_PUB})),
        JwtError::DuplicateKeyConstraints
    );
    assert_eq!(err(json!({})), JwtError::NoKeyConstraint);
    assert_eq!(err(json!({"secret": ""})), JwtError::NoKeyConstraint);
    assert!(matches!(
        err(json!({"secret": 1})),
        JwtError::Constraint { name: "secret", .. }
    ));
    assert!(matches!(
        err(json!({"secret": "k", "aud": ["a"]})),
        JwtError::Constraint { name: "aud", .. }
    ));
    assert!(matches!(
        err(json!({"secret": "k", "time": "now"})),
        JwtError::Constraint {
            name: "token time",
            ..
        }
    ));
    assert!(matches!(
        err(json!({"secret": "k", "time": -1})),
        JwtError::Constraint {
            name: "token time",
            ..
        }
    ));
    assert!(matches!(
        err(json!({"cert": "junk"})),
        JwtError::InvalidKey(_)
    ));
    assert!(matches!(
        err(json!(["secret"])),
        JwtError::Operand { position: 2, .. }
    ));
    // An empty secret next to a cert is simply ignored.
    let rs = json!(sign(&rsa_signer(), json!({"alg": "RS256"}), json!({})));
    let ok = decode_verify(&rs, &json!({"cert": RSA_PUB, "secret": ""}), NOW_NS).unwrap();
    assert!(is_valid(&ok));
}

#[test]
fn decode_verify_reports_malformed_tokens_as_errors() {
    let c = json!({"secret": "k"});
    assert_eq!(
        decode_verify(&json!("abc"), &c, NOW_NS),
        Err(JwtError::NoPeriods)
    );
    assert_eq!(
        decode_verify(&json!("a.b"), &c, NOW_NS),
        Err(JwtError::Sections(2))
    );
    let h = b64(br#"{"alg":"HS256"}"#);
    assert_eq!(
        decode_verify(&json!(format!("{h}.e30.!!")), &c, NOW_NS),
        Err(JwtError::PartEncoding { part: "signature" })
    );
    // A valid signature over a payload that is not an object.
    let token = hs256_raw(b"k", &json!({"alg": "HS256"}), b"[1,2]");
    assert!(matches!(
        decode_verify(&json!(token), &c, NOW_NS),
        Err(JwtError::PartJson {
            part: "payload",
            ..
        })
    ));
}

// ---- ES512, EdDSA, and ECDSA keys of another curve than the algorithm's ----

fn verify_with(alg: Algorithm, token: &str, key: &str) -> Result<Value, JwtError> {
    verify(alg, &json!(token), &json!(key))
}

#[test]
fn ecdsa_verifies_with_the_key_curve_and_the_algorithm_hash_as_go_does() {
    // OPA signs ES256 with a P-384 key (SHA-256, then P-384) and verifies it; so do we.
    for key in [P384_PUB, P384_PUBLIC_JWK] {
        assert_eq!(
            verify_with(Algorithm::Es256, ES256_BY_P384_TOKEN, key),
            Ok(json!(true))
        );
        assert_eq!(
            verify_with(Algorithm::Es384, ES256_BY_P384_TOKEN, key),
            Ok(json!(false))
        );
    }
    // ES512 over P-256 needs only SHA-512, with or without the P-521 feature.
    assert_eq!(
        verify_with(Algorithm::Es512, ES512_BY_P256_TOKEN, P256_PUB),
        Ok(json!(true))
    );
    assert!(is_valid(&dv(
        ES512_BY_P256_TOKEN,
        json!({"cert": P256_CERT})
    )));
    assert!(is_valid(&dv(
        ES256_BY_P384_TOKEN,
        json!({"cert": P384_PUB})
    )));
    assert!(is_valid(&dv(
        ES256_BY_P384_TOKEN,
        json!({"cert": P384_JWK})
    )));
}

#[test]
fn verify_builtins_never_verify_with_a_private_jwk_as_in_opa() {
    // Go's type check wants a public key; decode_verify takes the private one.
    let es = sign(&p256_signer(), json!({"alg": "ES256"}), json!({}));
    assert_eq!(
        verify_with(Algorithm::Es256, &es, P256_JWK),
        Ok(json!(false))
    );
    assert_eq!(
        verify_with(Algorithm::Es256, &es, P256_PUBLIC_JWK),
        Ok(json!(true))
    );
    assert!(is_valid(&dv(&es, json!({"cert": P256_JWK}))));
    let rs = sign(&rsa_signer(), json!({"alg": "RS256"}), json!({}));
    assert_eq!(
        verify_with(Algorithm::Rs256, &rs, RSA_JWK),
        Ok(json!(false))
    );
    assert!(is_valid(&dv(&rs, json!({"cert": RSA_JWK}))));
}

#[cfg(feature = "jwt-es512")]
#[test]
fn es512_verifies_opa_tokens_with_pem_certificate_and_jwk() {
    for key in [P521_PUB, P521_CERT, P521_PUBLIC_JWK] {
        assert_eq!(
            verify_es512(&json!(ES512_TOKEN), &json!(key)),
            Ok(json!(true))
        );
        assert!(is_valid(&dv(ES512_TOKEN, json!({"cert": key}))), "{key}");
        assert_eq!(
            verify_es384(&json!(ES512_TOKEN), &json!(key)),
            Ok(json!(false))
        );
        assert_eq!(
            verify_es384(&json!(ES384_BY_P521_TOKEN), &json!(key)),
            Ok(json!(true))
        );
    }
    let tampered = tamper_payload(ES512_TOKEN, json!({"sub": "mallory"}));
    assert_eq!(
        verify_es512(&json!(tampered), &json!(P521_PUB)),
        Ok(json!(false))
    );
    assert!(!is_valid(&dv(&tampered, json!({"cert": P521_PUB}))));
    assert_eq!(
        verify_es512(&json!(ES512_TOKEN), &json!(P256_PUB)),
        Ok(json!(false))
    );
    assert!(!is_valid(&dv(ES512_TOKEN, json!({"secret": "secret"}))));
}

#[cfg(feature = "jwt-eddsa")]
#[test]
fn eddsa_verifies_opa_tokens_with_pem_certificate_and_jwk() {
    for key in [ED_PUB, ED_CERT, ED_PUBLIC_JWK] {
        assert_eq!(
            verify_eddsa(&json!(EDDSA_TOKEN), &json!(key)),
            Ok(json!(true))
        );
        assert!(is_valid(&dv(EDDSA_TOKEN, json!({"cert": key}))), "{key}");
    }
    let jwks = format!(r#"{{"keys": [{ED_PUBLIC_JWK}]}}"#);
    assert!(is_valid(&dv(
        EDDSA_TOKEN,
        json!({"cert": jwks, "alg": "EdDSA"})
    )));
    let tampered = tamper_payload(EDDSA_TOKEN, json!({"sub": "mallory"}));
    assert_eq!(
        verify_eddsa(&json!(tampered), &json!(ED_PUB)),
        Ok(json!(false))
    );
    assert!(!is_valid(&dv(&tampered, json!({"cert": ED_PUB}))));
    assert_eq!(
        verify_eddsa(&json!(EDDSA_TOKEN), &json!(ED25519_PUB)),
        Ok(json!(false))
    );
    assert_eq!(
        verify_eddsa(&json!(EDDSA_TOKEN), &json!(ED_JWK)),
        Ok(json!(false))
    );
    assert_eq!(
        verify_eddsa(&json!(EDDSA_TOKEN), &json!(RSA_PUB)),
        Ok(json!(false))
    );
    assert!(!is_valid(&dv(EDDSA_TOKEN, json!({"secret": "secret"}))));
    // An Ed25519 key never verifies another algorithm's token.
    let rs = sign(&rsa_signer(), json!({"alg": "RS256"}), json!({}));
    assert_eq!(verify_eddsa(&json!(rs), &json!(ED_PUB)), Ok(json!(false)));
}

/// Without the features, such tokens are the safe answer: never valid.
#[test]
fn es512_and_eddsa_tokens_never_verify_without_their_feature() {
    let es512 = is_valid(&dv(ES512_TOKEN, json!({"cert": P521_CERT})));
    assert_eq!(es512, cfg!(feature = "jwt-es512"));
    let es512 = is_valid(&dv(ES512_TOKEN, json!({"cert": P521_JWK})));
    assert_eq!(es512, cfg!(feature = "jwt-es512"));
    let eddsa = is_valid(&dv(EDDSA_TOKEN, json!({"cert": ED_CERT})));
    assert_eq!(eddsa, cfg!(feature = "jwt-eddsa"));
    let es384_by_p521 = verify_es384(&json!(ES384_BY_P521_TOKEN), &json!(P521_PUBLIC_JWK));
    assert_eq!(es384_by_p521, Ok(json!(cfg!(feature = "jwt-es512"))));
    // The keys still parse, as in OPA.
    assert!(verify_es384(&json!(ES512_TOKEN), &json!(P521_PUB)).is_ok());
    assert!(verify_rs256(&json!(EDDSA_TOKEN), &json!(ED_CERT)).is_ok());
    assert!(verify_rs256(&json!(EDDSA_TOKEN), &json!(ED_PUB)).is_ok());
}

#[test]
fn ed25519_keys_of_the_wrong_length_are_errors() {
    let short = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[7; 31])}).to_string();
    assert!(matches!(
        verify_rs256(&json!(EDDSA_TOKEN), &json!(short)),
        Err(JwtError::InvalidKey(_))
    ));
}
