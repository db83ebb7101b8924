//! OPA's `crypto.x509.*` builtins (regorus has none), answering as OPA v1.20.2 does: the
//! certificates are read as Go 1.26's `crypto/x509` reads them, and each is the JSON Go writes
//! for an `x509.Certificate` (plus OPA's `URIStrings`), field for field.
//!
//! `crypto.x509.parse_certificates(certs)` takes PEM (one or more `CERTIFICATE` blocks), or
//! base64 of PEM, or base64 of DER (certificates concatenated), as OPA's
//! `getX509CertsFromString` does. Chain verification is in [`verify`].

mod certificate;
mod der;
mod json;
mod key_pair;
mod name;
mod pem;
mod private_key;
mod public_key;
mod request;
mod time;
mod url;
mod verify;

use anyhow::{anyhow, bail};
use regorus::Value;

pub(crate) use key_pair::parse_keypair;
pub(crate) use private_key::{parse_private_keys, parse_rsa_private_key};

use certificate::Certificate;
use json::Fields;

fn text<'v>(name: &str, args: &'v [Value], at: usize) -> anyhow::Result<&'v str> {
    match args.get(at) {
        Some(Value::String(text)) => Ok(text),
        _ => bail!("{name}: operand {} must be a string", at + 1),
    }
}

/// OPA's `getX509CertsFromString`: PEM, base64 of PEM, or base64 of DER.
fn certificates_from_text(input: &str) -> anyhow::Result<Vec<Certificate>> {
    if input.starts_with("-----BEGIN") {
        return certificates_from_pem(input.as_bytes());
    }
    let decoded =
        pem::decode_base64(input.as_bytes()).ok_or_else(|| anyhow!("illegal base64 data"))?;
    if decoded.starts_with(b"-----BEGIN") {
        return certificates_from_pem(&decoded);
    }
    certificate::parse_all(&decoded).map_err(|refusal| anyhow!(refusal))
}

/// OPA's `getX509CertsFromPem`: every block must be a `CERTIFICATE`; their bytes are parsed
/// together.
fn certificates_from_pem(text: &[u8]) -> anyhow::Result<Vec<Certificate>> {
    let mut der = Vec::new();
    for block in pem::blocks(text) {
        if block.kind != "CERTIFICATE" {
            bail!("PEM block type is '{}', expected CERTIFICATE", block.kind);
        }
        der.extend_from_slice(&block.bytes);
    }
    certificate::parse_all(&der).map_err(|refusal| anyhow!(refusal))
}

/// `crypto.x509.parse_certificates(certs)`.
pub(crate) fn parse_certificates(args: &[Value]) -> anyhow::Result<Value> {
    let name = "crypto.x509.parse_certificates";
    let certificates = certificates_from_text(text(name, args, 0)?)?;
    to_values(&certificates, true)
}

/// The certificates as OPA returns them; `with_uri_strings`: OPA's extended form.
fn to_values(certificates: &[Certificate], with_uri_strings: bool) -> anyhow::Result<Value> {
    let values = certificates
        .iter()
        .map(|c| to_value(c, with_uri_strings))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Value::from(values))
}

/// One certificate as Go's JSON writes an `x509.Certificate`.
fn to_value(cert: &Certificate, with_uri_strings: bool) -> anyhow::Result<Value> {
    let (Some(not_before), Some(not_after)) = (cert.not_before, cert.not_after) else {
        bail!("x509: certificate without validity");
    };
    // Go's JSON refuses times outside years 0-9999 (OPA's call fails).
    if !not_before.writable()
        || !not_after.writable()
        || !cert.subject.writable()
        || !cert.issuer.writable()
    {
        bail!("json: error calling MarshalJSON for type time.Time");
    }
    let oids = |list: &Option<Vec<Vec<u64>>>| json::list(list, |oid| json::oid(oid));
    let ip_ranges = |list: &Option<Vec<certificate::IpRange>>| {
        json::list(list, |range| {
            Fields::new()
                .with("IP", certificate::ip_text(&range.ip))
                .with("Mask", json::bytes(Some(&range.mask)))
                .build()
        })
    };
    let mut fields = Fields::new()
        .with("Raw", json::bytes(Some(&cert.raw)))
        .with("RawTBSCertificate", json::bytes(Some(&cert.raw_tbs)))
        .with("RawSubjectPublicKeyInfo", json::bytes(Some(&cert.raw_spki)))
        .with("RawSubject", json::bytes(Some(&cert.raw_subject)))
        .with("RawIssuer", json::bytes(Some(&cert.raw_issuer)))
        .with("Signature", json::bytes(Some(&cert.signature)))
        .with(
            "SignatureAlgorithm",
            Value::from(u32::from(cert.signature_algorithm)),
        )
        .with(
            "PublicKeyAlgorithm",
            Value::from(u32::from(cert.public_key_algorithm)),
        )
        .with("PublicKey", cert.public_key.to_value())
        .with("Version", Value::from(cert.version))
        .with("SerialNumber", json::signed_integer(&cert.serial))
        .with("Issuer", cert.issuer.to_value())
        .with("Subject", cert.subject.to_value())
        .with("NotBefore", not_before.rfc3339())
        .with("NotAfter", not_after.rfc3339())
        .with("KeyUsage", Value::from(cert.key_usage))
        .with(
            "Extensions",
            json::list(&cert.extensions, certificate::Extension::to_value),
        )
        .with("ExtraExtensions", Value::Null)
        .with(
            "UnhandledCriticalExtensions",
            oids(&cert.unhandled_critical),
        )
        .with(
            "ExtKeyUsage",
            json::list(&cert.ext_key_usage, |u| Value::from(*u)),
        )
        .with("UnknownExtKeyUsage", oids(&cert.unknown_ext_key_usage))
        .with("BasicConstraintsValid", cert.basic_constraints_valid)
        .with("IsCA", cert.is_ca)
        .with("MaxPathLen", Value::from(cert.max_path_len))
        .with("MaxPathLenZero", cert.max_path_len_zero)
        .with("SubjectKeyId", json::bytes(cert.subject_key_id.as_deref()))
        .with(
            "AuthorityKeyId",
            json::bytes(cert.authority_key_id.as_deref()),
        )
        .with("OCSPServer", json::strings(&cert.ocsp_server))
        .with(
            "IssuingCertificateURL",
            json::strings(&cert.issuing_certificate_url),
        )
        .with("DNSNames", json::strings(&cert.dns_names))
        .with("EmailAddresses", json::strings(&cert.email_addresses))
        .with(
            "IPAddresses",
            json::list(&cert.ip_addresses, |ip| {
                Value::from(certificate::ip_text(ip))
            }),
        )
        .with("URIs", json::list(&cert.uris, url::to_value))
        .with(
            "PermittedDNSDomainsCritical",
            cert.permitted_dns_domains_critical,
        )
        .with(
            "PermittedDNSDomains",
            json::strings(&cert.permitted_dns_domains),
        )
        .with(
            "ExcludedDNSDomains",
            json::strings(&cert.excluded_dns_domains),
        )
        .with("PermittedIPRanges", ip_ranges(&cert.permitted_ip_ranges))
        .with("ExcludedIPRanges", ip_ranges(&cert.excluded_ip_ranges))
        .with(
            "PermittedEmailAddresses",
            json::strings(&cert.permitted_email_addresses),
        )
        .with(
            "ExcludedEmailAddresses",
            json::strings(&cert.excluded_email_addresses),
        )
        .with(
            "PermittedURIDomains",
            json::strings(&cert.permitted_uri_domains),
        )
        .with(
            "ExcludedURIDomains",
            json::strings(&cert.excluded_uri_domains),
        )
        .with(
            "CRLDistributionPoints",
            json::strings(&cert.crl_distribution_points),
        )
        .with("PolicyIdentifiers", oids(&cert.policy_identifiers))
        .with(
            "Policies",
            json::list(&cert.policies, |oid| {
                Value::from(der::oid_text_unchecked(oid))
            }),
        )
        .with(
            "PolicyMappings",
            json::list(&cert.policy_mappings, |(issuer, subject)| {
                Fields::new()
                    .with("IssuerDomainPolicy", der::oid_text_unchecked(issuer))
                    .with("SubjectDomainPolicy", der::oid_text_unchecked(subject))
                    .build()
            }),
        )
        .with("InhibitAnyPolicy", Value::from(cert.inhibit_any_policy))
        .with("InhibitAnyPolicyZero", cert.inhibit_any_policy_zero)
        .with(
            "InhibitPolicyMapping",
            Value::from(cert.inhibit_policy_mapping),
        )
        .with("InhibitPolicyMappingZero", cert.inhibit_policy_mapping_zero)
        .with(
            "RequireExplicitPolicy",
            Value::from(cert.require_explicit_policy),
        )
        .with(
            "RequireExplicitPolicyZero",
            cert.require_explicit_policy_zero,
        );
    if with_uri_strings {
        let strings = cert.uris.as_ref().map(|uris| {
            uris.iter()
                .map(crate::go_url::Url::text)
                .collect::<Vec<_>>()
        });
        fields = fields.with("URIStrings", json::strings(&strings));
    }
    Ok(fields.build())
}

/// `crypto.x509.parse_certificate_request(csr)`: PEM (`CERTIFICATE REQUEST`), or base64 of PEM
/// or of DER, as OPA reads it.
pub(crate) fn parse_certificate_request(args: &[Value]) -> anyhow::Result<Value> {
    let name = "crypto.x509.parse_certificate_request";
    let input = text(name, args, 0)?;
    let mut bytes = input.as_bytes().to_vec();
    if !input.starts_with("-----BEGIN CERTIFICATE REQUEST-----") {
        bytes =
            pem::decode_base64(input.as_bytes()).ok_or_else(|| anyhow!("illegal base64 data"))?;
    }
    if let (Some(block), _) = pem::decode(&bytes) {
        if block.kind != "CERTIFICATE REQUEST" {
            bail!("invalid PEM-encoded certificate signing request");
        }
        bytes = block.bytes;
    }
    let request = request::parse(&bytes).map_err(|refusal| anyhow!(refusal))?;
    if !request.writable() {
        bail!("json: error calling MarshalJSON for type time.Time");
    }
    Ok(request.to_value())
}

/// `crypto.x509.parse_and_verify_certificates(certs)`.
pub(crate) fn parse_and_verify_certificates(args: &[Value], now_ns: i64) -> anyhow::Result<Value> {
    let name = "crypto.x509.parse_and_verify_certificates";
    let input = text(name, args, 0)?;
    let options = verify::Options::default_at(now_ns);
    Ok(verified(input, &options, true))
}

/// `crypto.x509.parse_and_verify_certificates_with_options(certs, options)`.
pub(crate) fn parse_and_verify_certificates_with_options(
    args: &[Value],
    now_ns: i64,
) -> anyhow::Result<Value> {
    let name = "crypto.x509.parse_and_verify_certificates_with_options";
    let input = text(name, args, 0)?;
    let Some(Value::Object(options)) = args.get(1) else {
        bail!("{name}: operand 2 must be an object");
    };
    // OPA reads the certificates before the options: bad certificates with bad options are
    // `[false, []]`, good certificates with bad options fail the call.
    let Ok(certificates) = certificates_from_text(input) else {
        return Ok(not_verified());
    };
    let options = verify::Options::from_value(options, now_ns)?;
    Ok(chain_result(&certificates, &options, false))
}

fn verified(input: &str, options: &verify::Options, with_uri_strings: bool) -> Value {
    match certificates_from_text(input) {
        Ok(certificates) => chain_result(&certificates, options, with_uri_strings),
        Err(_) => not_verified(),
    }
}

/// `[true, chain]` only when the chain verified; anything else is `[false, []]`.
fn chain_result(
    certificates: &[Certificate],
    options: &verify::Options,
    with_uri_strings: bool,
) -> Value {
    let chain = match verify::verify(certificates, options) {
        Ok(chain) => chain,
        Err(reason) => {
            log::debug!("crypto.x509: chain not verified: {reason}");
            return not_verified();
        }
    };
    let chain: Vec<Certificate> = chain.into_iter().cloned().collect();
    match to_values(&chain, with_uri_strings) {
        Ok(values) => Value::from(vec![Value::from(true), values]),
        Err(_) => not_verified(),
    }
}

fn not_verified() -> Value {
    Value::from(vec![Value::from(false), Value::new_array()])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = include_str!("../tests/opa/x509/root.pem");
    const INTERMEDIATE: &str = include_str!("../tests/opa/x509/inter2.pem");
    const MESH_LEAF: &str = include_str!("../tests/opa/x509/mesh-leaf.pem");
    const CLIENT_LEAF: &str = include_str!("../tests/opa/x509/client-leaf.pem");
    const SPIFFE_LEAF: &str = include_str!("../tests/opa/x509/leaf.pem");
    const EXPIRED: &str = include_str!("../tests/opa/x509/expired.pem");
    /// 2026-01-01T00:00:00Z.
    const NOW_NS: i64 = 1_767_225_600 * 1_000_000_000;

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn field<'v>(value: &'v Value, path: &[&str]) -> &'v Value {
        path.iter().fold(value, |v, key| &v[&Value::from(*key)])
    }

    #[test]
    fn an_envoy_client_certificate_reads_as_opa_reads_it() {
        // The values real OPA (v1.20.2) answers for this certificate.
        let certs = parse_certificates(&[s(SPIFFE_LEAF)]).unwrap();
        let cert = &certs[0];
        assert_eq!(
            field(cert, &["Subject", "CommonName"]),
            &s("frontend.default.svc")
        );
        assert_eq!(
            field(cert, &["Subject", "OrganizationalUnit"]),
            &Value::from(vec![s("mesh"), s("frontend")])
        );
        assert_eq!(field(cert, &["Subject", "Country"]), &Value::Null);
        assert_eq!(
            field(cert, &["URIStrings"])[0],
            s("spiffe://cluster.local/ns/default/sa/frontend")
        );
        assert_eq!(field(cert, &["URIs"])[0][&s("Host")], s("cluster.local"));
        assert_eq!(
            field(cert, &["IPAddresses"]),
            &Value::from(vec![s("10.1.2.3"), s("2001:db8::1")])
        );
        assert_eq!(field(cert, &["NotAfter"]), &s("2099-12-31T23:59:59Z"));
        assert_eq!(
            field(cert, &["SerialNumber"]),
            &Value::from_numeric_string("387165715252267757836693082728079159041").unwrap()
        );
        assert_eq!(field(cert, &["KeyUsage"]), &Value::from(5u64));
        assert_eq!(
            field(cert, &["ExtKeyUsage"]),
            &Value::from(vec![Value::from(1u64), Value::from(2u64)])
        );
        assert_eq!(field(cert, &["MaxPathLen"]), &Value::from(-1i64));
        assert_eq!(
            field(cert, &["Issuer", "CommonName"]),
            &s("Palisade Intermediate")
        );
    }

    #[test]
    fn pem_base64_of_pem_and_base64_of_der_are_read() {
        let pem = format!("{ROOT}{INTERMEDIATE}");
        let from_pem = parse_certificates(&[s(&pem)]).unwrap();
        let b64 = pem::encode_base64(pem.as_bytes());
        assert_eq!(parse_certificates(&[s(&b64)]).unwrap(), from_pem);
        let (block, _) = pem::decode(ROOT.as_bytes());
        let der = pem::encode_base64(&block.unwrap().bytes);
        assert_eq!(
            parse_certificates(&[s(&der)]).unwrap()[0],
            from_pem[0].clone()
        );
        assert_eq!(parse_certificates(&[s("")]).unwrap(), Value::new_array());
        assert!(parse_certificates(&[s("not base64")]).is_err());
        assert!(parse_certificates(&[Value::from(1)]).is_err());
    }

    #[test]
    fn an_rsa_modulus_is_exact_and_written_out() {
        let certs = parse_certificates(&[s(INTERMEDIATE)]).unwrap();
        let n = field(&certs[0], &["PublicKey", "N"]);
        let digits = n.to_json_str().unwrap();
        assert!(digits.len() > 600, "{digits}");
        assert_eq!(&Value::from_numeric_string(&digits).unwrap(), n);
        assert_eq!(
            field(&certs[0], &["PublicKey", "E"]),
            &Value::from(65537u64)
        );
        assert!(crate::replacements::writable(&certs));
        assert!(certs.to_json_str().is_ok());
    }

    fn verified(chain: &str, options: Option<Value>) -> bool {
        let result = match options {
            None => parse_and_verify_certificates(&[s(chain)], NOW_NS).unwrap(),
            Some(options) => {
                parse_and_verify_certificates_with_options(&[s(chain), options], NOW_NS).unwrap()
            }
        };
        result[0] == Value::from(true)
    }

    fn options(json: &str) -> Option<Value> {
        Some(Value::from_json_str(json).unwrap())
    }

    #[test]
    fn chains_verify_as_go_verifies_them() {
        let mesh = format!("{ROOT}{INTERMEDIATE}{MESH_LEAF}");
        assert!(verified(&mesh, None));
        let result = parse_and_verify_certificates(&[s(&mesh)], NOW_NS).unwrap();
        let chain = &result[1];
        assert_eq!(
            field(&chain[0], &["Subject", "CommonName"]),
            &s("payments.prod.svc")
        );
        assert_eq!(
            field(&chain[2], &["Subject", "CommonName"]),
            &s("Palisade Test Root CA")
        );
        // Leaf first, root last; the root alone, or the leaf before its issuer, is no chain.
        assert!(!verified(&format!("{MESH_LEAF}{INTERMEDIATE}{ROOT}"), None));
        assert!(!verified(ROOT, None));
        assert!(!verified(&format!("{ROOT}{MESH_LEAF}"), None));
        // Server authentication by default; other usages when asked.
        let client = format!("{ROOT}{INTERMEDIATE}{CLIENT_LEAF}");
        assert!(!verified(&client, None));
        assert!(verified(
            &client,
            options(r#"{"KeyUsages": ["KeyUsageClientAuth"]}"#)
        ));
        assert!(verified(
            &client,
            options(r#"{"KeyUsages": ["KeyUsageAny"]}"#)
        ));
        assert!(parse_and_verify_certificates_with_options(
            &[s(&client), options(r#"{"KeyUsages": ["Bogus"]}"#).unwrap()],
            NOW_NS
        )
        .is_err());
        // Validity at the current time, or the time given.
        let expired = format!("{ROOT}{EXPIRED}");
        assert!(!verified(&expired, None));
        // In January 2020 the leaf was valid, but the root (from 2024) was not yet.
        let january_2020 = 1_579_046_400_000_000_000i64;
        let at = |ns: i64| options(&format!(r#"{{"CurrentTime": {ns}}}"#));
        assert!(!verified(&expired, at(january_2020)));
        assert!(!verified(&mesh, at(january_2020)));
        assert!(verified(
            &mesh,
            at(NOW_NS + 100 * 365 * 86_400 * 1_000_000_000 / 2)
        ));
        // Host names.
        assert!(verified(
            &mesh,
            options(r#"{"DNSName": "PAYMENTS.prod.svc"}"#)
        ));
        assert!(!verified(
            &mesh,
            options(r#"{"DNSName": "other.prod.svc"}"#)
        ));
    }

    #[test]
    fn a_certificate_request_reads_as_opa_reads_it() {
        let request = include_str!("../tests/opa/x509/request.pem");
        let csr = parse_certificate_request(&[s(request)]).unwrap();
        assert_eq!(
            field(&csr, &["Subject", "CommonName"]),
            &s("frontend.default.svc")
        );
        assert_eq!(
            field(&csr, &["DNSNames"]),
            &Value::from(vec![s("frontend.default.svc")])
        );
        assert_eq!(field(&csr, &["URIs"])[0][&s("Scheme")], s("spiffe"));
        assert_eq!(field(&csr, &["Version"]), &Value::from(0u64));
        assert_eq!(field(&csr, &["SignatureAlgorithm"]), &Value::from(10u64));
        // A certificate is no request.
        assert!(parse_certificate_request(&[s(SPIFFE_LEAF)]).is_err());
    }

    #[test]
    fn a_chain_whose_signature_fails_is_not_verified() {
        let (block, _) = pem::decode(MESH_LEAF.as_bytes());
        let mut der = block.unwrap().bytes;
        let last = der.len() - 3;
        der[last] ^= 1;
        let tampered = format!(
            "{ROOT}{INTERMEDIATE}-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            pem::encode_base64(&der)
        );
        assert!(parse_certificates(&[s(&tampered)]).is_ok());
        assert!(!verified(&tampered, None));
    }
}
