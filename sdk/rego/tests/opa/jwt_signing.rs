//! `io.jwt.encode_sign` with the algorithms whose signatures are random (PS*: the salt; ES*:
//! OPA's nonce), which the builtin sweep cannot compare: OPA and Palisade each sign the same
//! header and payload, the signed parts must be the same bytes, and each token must verify
//! with both OPA's and Palisade's verifiers (`io.jwt.verify_*` and `io.jwt.decode_verify`).

use palisade_rego::RegoVersion;
use serde_json::{json, Value};

use crate::engine::{self, Outcome};
use crate::oracle::{Answer, Opa};

/// A JWK (private) and the PEM public key that verifies its signatures.
struct Key {
    jwk: &'static str,
    public: &'static str,
}

const RSA: Key = Key {
    jwk: r#"{"kty":"RSA","n":"osQ1HHPgS4v885Q1s3_DvrgrZZo9pklJCZKKxjJdLSVb9GObaG-hnCV-UElU4HLWlujXuFa_VXc07e25rePCL0n-WuLASyqSvry5Fw-y1sA4uxX2gyRIWw7_oAH1Ze51qffcqMktBgrcKWlvWyFfArT5safPIGWsZbHIZfIR5sdPA9v_YYeoL8QVJ9VQMnVR2vfiV25P1k-JVXJHdgqOWKZ_Z5jFJ1wm6SwJ5ZQMvOAT6m37hZeBTlYv6557jFXiVBy7vSsl-XHEI0lBdAbZcmg44TgmnwXyIv6f2-SxfUuik-gK6nyaTqa4Vn7jsui1qRrvpAaWuY-TGbl0PAQ83Q","e":"AQAB","d":"Ag8TUOnSU4JQz8_3Ie8izb3MprtdvkW9C8bzxHAMp66KTDwaUibfV3dN8rwKu9AYEM6fM_C8-NrKK5xPNfjkku6PrhyiLBE8y_bdLIKBU6AY15z-gkgqNiSpbR-5N_HdQSome2gYDrSCdm-j_fYdGo6pferOfu1qUdr-2vNF8LJdh9cHFRi8K1I7wKdSDeJps1Q3qMBwaPTI2gRATtOQMqmBOW5pynxObIMJd0nRtRVZ7lGZkx_83ac-ialiDx2bU1D0hCBCV3EQNYDUbDCtQpeDFxpcMmu7X0z1N_6NGavZPKo7xSaLuY3atEjmjKKcGEraHSz_80woSmCN_ai9TQ","p":"4Zq2SrRvYUQNJJkze7a5F2j0VVBTXyuuH7fxoyailFKAwG078hKOFQiffmcYMNhFregLfBPEypPqqgCeqgpwR0VrX6k2ihIIe1h6sNiZnXbKWm3xRzVVbcWy1xGHDoC1VWk_9i3G-wwNeIY_92xmB8R7Mn28ZTTBtXlnMB429QM","q":"uLIpb3ccNZw6KMtxvxzJope2qXKKD2zPLNeGt72widufwmUDM8TLUYwaSyl5Y8wweUHVtx1YbfX8S0YfGBHnUoMGpFA99dvcRJpP-jZqn_P3hVMFnz-2wc6Gmxob1PHLccGEbxlA7pemcrk1F6bPCaN7e6yVz9gmAKpAPd_QsJ8"}"#,
    public: "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAosQ1HHPgS4v885Q1s3/D
vrgrZZo9pklJCZKKxjJdLSVb9GObaG+hnCV+UElU4HLWlujXuFa/VXc07e25rePC
L0n+WuLASyqSvry5Fw+y1sA4uxX2gyRIWw7/oAH1Ze51qffcqMktBgrcKWlvWyFf
ArT5safPIGWsZbHIZfIR5sdPA9v/YYeoL8QVJ9VQMnVR2vfiV25P1k+JVXJHdgqO
WKZ/Z5jFJ1wm6SwJ5ZQMvOAT6m37hZeBTlYv6557jFXiVBy7vSsl+XHEI0lBdAbZ
cmg44TgmnwXyIv6f2+SxfUuik+gK6nyaTqa4Vn7jsui1qRrvpAaWuY+TGbl0PAQ8
3QIDAQAB
-----END PUBLIC KEY-----
",
};

const P256: Key = Key {
    jwk: r#"{"kty":"EC","crv":"P-256","x":"I-plI40JtJPyuWuxB_uHVJOsG4n0JO8YUvF0eTMJdAU","y":"20eHWoKiPU3Xbj6rnKOdfvXUTIOIeldRZfm-Kf0Mpj8","d":"sv5d8lpylOIx4H39cawdtQhvP-sIwMzVi0U1HQ7yZ4A"}"#,
    public: "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEI+plI40JtJPyuWuxB/uHVJOsG4n0
JO8YUvF0eTMJdAXbR4dagqI9TdduPquco51+9dRMg4h6V1Fl+b4p/QymPw==
-----END PUBLIC KEY-----
",
};

const P384: Key = Key {
    jwk: r#"{"kty":"EC","crv":"P-384","x":"JEgGRp8gyhUhSBVVzldLEqF0e8wxYMPb6pjKSs69CxXlHLQYBP_ZyVZ3uioDFnHl","y":"04qsfjRERFNBd-nCaoq9lhlpvUsAfkUbmg-b_4KvHyQQ2h3g5_MLD6bXNOnoTR2m","d":"3rWN9DrSTXy_fCm-0XiJfVddFXxLQjU6jpnRcx9Fo765H90LHnC3Nmiz2QYjnqO5"}"#,
    public: "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEJEgGRp8gyhUhSBVVzldLEqF0e8wxYMPb
6pjKSs69CxXlHLQYBP/ZyVZ3uioDFnHl04qsfjRERFNBd+nCaoq9lhlpvUsAfkUb
mg+b/4KvHyQQ2h3g5/MLD6bXNOnoTR2m
-----END PUBLIC KEY-----
",
};

#[cfg(feature = "jwt-es512")]
const P521: Key = Key {
    jwk: r#"{"kty":"EC","crv":"P-521","x":"AOV6-R42ptPtoSneObuGQfEAKjCD9Sxvbw35JVWQSvwBJjjCE7dvozwfX5sdunHMEReXPh8S_2WziuXHUr_rfF6I","y":"AWBkkvVX_WiklPvTnlZiR3XdV1UMID2tYF3zVg4eS61INHpWx6cc8TT_TusUyIgDilWeKCteUlgBHvweG4bt5b6K","d":"AMXJDLXwlOoCcHJXABYYrhxt6tProfwaZz0xfTRjIDYSCFkIuJ-yGg6xSUEEMMEjynsmyMO7_oQB3-8UX0lxxlOC"}"#,
    public: "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQA5Xr5Hjam0+2hKd45u4ZB8QAqMIP1
LG9vDfklVZBK/AEmOMITt2+jPB9fmx26ccwRF5c+HxL/ZbOK5cdSv+t8XogBYGSS
9Vf9aKSU+9OeVmJHdd1XVQwgPa1gXfNWDh5LrUg0elbHpxzxNP9O6xTIiAOKVZ4o
K15SWAEe/B4bhu3lvoo=
-----END PUBLIC KEY-----
",
};

/// (alg, verifier builtin, key): every randomized algorithm, and ECDSA with a key of another
/// curve than the algorithm names (OPA signs those too).
fn cases() -> Vec<(&'static str, &'static str, Key)> {
    #[allow(unused_mut)]
    let mut cases = vec![
        ("PS256", "io.jwt.verify_ps256", RSA),
        ("PS384", "io.jwt.verify_ps384", RSA),
        ("PS512", "io.jwt.verify_ps512", RSA),
        ("ES256", "io.jwt.verify_es256", P256),
        ("ES384", "io.jwt.verify_es384", P384),
        ("ES256", "io.jwt.verify_es256", P384),
        ("ES384", "io.jwt.verify_es384", P256),
    ];
    #[cfg(feature = "jwt-es512")]
    cases.extend([
        ("ES512", "io.jwt.verify_es512", P521),
        ("ES256", "io.jwt.verify_es256", P521),
    ]);
    cases
}

/// `rule`'s value for `input` in Palisade, on each engine the filter may choose.
fn palisade(source: &str, input: &Value) -> Vec<Value> {
    let config = engine::config(&[("t.rego", source)], None, "data.t.x", RegoVersion::V1);
    let engines = engine::compile(&config).unwrap_or_else(|e| panic!("{source}: {e}"));
    engines
        .into_iter()
        .map(
            |(name, mut evaluator)| match engine::evaluate(&mut evaluator, "data.t.x", input) {
                Outcome::Value(Some(value)) => value,
                other => panic!("{source} on the {name}: {other:?}"),
            },
        )
        .collect()
}

fn opa(source: &str, input: &Value) -> Value {
    let mut opa = Opa::new();
    opa.add_policy("t.rego", source).unwrap();
    match opa.query("x := data.t.x", Some(input)) {
        Answer::Results(results) => results
            .first()
            .and_then(|bindings| bindings.get("x").cloned())
            .unwrap_or_else(|| panic!("{source}: undefined in OPA")),
        other => panic!("{source}: {other:?}"),
    }
}

fn signed_part(token: &Value) -> &str {
    let token = token.as_str().unwrap();
    token.rsplit_once('.').unwrap().0
}

#[test]
fn randomized_signatures_verify_with_opa_and_palisade() {
    let sign = "package t\nimport rego.v1\nx := io.jwt.encode_sign(input.h, input.p, input.k)\n";
    let payload = json!({"sub": "alice", "html": "<a&b>", "n": 42});
    let mut checked = 0;
    for (alg, verifier, key) in cases() {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "k1"});
        let input = json!({"h": header, "p": payload, "k": serde_json::from_str::<Value>(key.jwk).unwrap()});
        let theirs = opa(sign, &input);
        let ours = palisade(sign, &input);
        for token in &ours {
            assert_eq!(signed_part(token), signed_part(&theirs), "{alg}");
        }
        let verify = format!(
            "package t\nimport rego.v1\nx := [{verifier}(input.t, input.k), \
             io.jwt.decode_verify(input.t, {{\"cert\": input.k}})[0]]\n"
        );
        for token in ours.iter().chain([&theirs]) {
            let input = json!({"t": token, "k": key.public});
            assert_eq!(
                opa(&verify, &input),
                json!([true, true]),
                "OPA, {alg}: {token}"
            );
            for answer in palisade(&verify, &input) {
                assert_eq!(answer, json!([true, true]), "Palisade, {alg}: {token}");
            }
            checked += 1;
        }
    }
    eprintln!("{checked} randomized tokens verified by OPA and Palisade");
}
