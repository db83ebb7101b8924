//! Certificates as Go's `x509.ParseCertificate` (Go 1.26, which OPA v1.20.2 is built with)
//! reads them, with the same refusals, into the fields of Go's `x509.Certificate`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::der::{self, tag, Der, Malformed, Read};
use super::name::{self, Name};
use super::public_key::{self, PublicKey};
use super::time::{self, Time};
use crate::go_url::{self, Url};

/// Why a certificate was refused (Go's message, for the debug log).
pub(crate) type Refusal = &'static str;

/// An extension as Go keeps it (`pkix.Extension`).
#[derive(Debug, Clone)]
pub(crate) struct Extension {
    pub(crate) id: Vec<u64>,
    pub(crate) critical: bool,
    pub(crate) value: Vec<u8>,
}

impl Extension {
    /// Go's `pkix.Extension` as JSON.
    pub(crate) fn to_value(&self) -> regorus::Value {
        super::json::Fields::new()
            .with("Id", super::json::oid(&self.id))
            .with("Critical", self.critical)
            .with("Value", super::json::bytes(Some(&self.value)))
            .build()
    }
}

/// An IP range of a name constraint (`*net.IPNet`).
#[derive(Debug, Clone)]
pub(crate) struct IpRange {
    pub(crate) ip: Vec<u8>,
    pub(crate) mask: Vec<u8>,
}

/// The fields of Go's `x509.Certificate` that parsing fills; `None` where Go leaves a nil slice.
#[derive(Debug, Clone, Default)]
pub(crate) struct Certificate {
    pub(crate) raw: Vec<u8>,
    pub(crate) raw_tbs: Vec<u8>,
    pub(crate) raw_spki: Vec<u8>,
    pub(crate) raw_subject: Vec<u8>,
    pub(crate) raw_issuer: Vec<u8>,
    /// The signature algorithm's AlgorithmIdentifier contents (for verification).
    pub(crate) signature_algorithm_der: Vec<u8>,
    pub(crate) signature: Vec<u8>,
    pub(crate) signature_algorithm: u8,
    pub(crate) public_key_algorithm: u8,
    pub(crate) public_key: PublicKey,
    pub(crate) version: i64,
    /// The serial number's two's-complement bytes.
    pub(crate) serial: Vec<u8>,
    pub(crate) issuer: Name,
    pub(crate) subject: Name,
    pub(crate) not_before: Option<Time>,
    pub(crate) not_after: Option<Time>,
    pub(crate) key_usage: u64,
    pub(crate) extensions: Option<Vec<Extension>>,
    pub(crate) unhandled_critical: Option<Vec<Vec<u64>>>,
    pub(crate) ext_key_usage: Option<Vec<u64>>,
    pub(crate) unknown_ext_key_usage: Option<Vec<Vec<u64>>>,
    pub(crate) basic_constraints_valid: bool,
    pub(crate) is_ca: bool,
    pub(crate) max_path_len: i64,
    pub(crate) max_path_len_zero: bool,
    pub(crate) subject_key_id: Option<Vec<u8>>,
    pub(crate) authority_key_id: Option<Vec<u8>>,
    pub(crate) ocsp_server: Option<Vec<String>>,
    pub(crate) issuing_certificate_url: Option<Vec<String>>,
    pub(crate) dns_names: Option<Vec<String>>,
    pub(crate) email_addresses: Option<Vec<String>>,
    pub(crate) ip_addresses: Option<Vec<Vec<u8>>>,
    pub(crate) uris: Option<Vec<Url>>,
    pub(crate) permitted_dns_domains_critical: bool,
    pub(crate) permitted_dns_domains: Option<Vec<String>>,
    pub(crate) excluded_dns_domains: Option<Vec<String>>,
    pub(crate) permitted_ip_ranges: Option<Vec<IpRange>>,
    pub(crate) excluded_ip_ranges: Option<Vec<IpRange>>,
    pub(crate) permitted_email_addresses: Option<Vec<String>>,
    pub(crate) excluded_email_addresses: Option<Vec<String>>,
    pub(crate) permitted_uri_domains: Option<Vec<String>>,
    pub(crate) excluded_uri_domains: Option<Vec<String>>,
    pub(crate) crl_distribution_points: Option<Vec<String>>,
    /// Certificate policies as DER OID contents (Go's `[]x509.OID`).
    pub(crate) policies: Option<Vec<Vec<u8>>>,
    pub(crate) policy_identifiers: Option<Vec<Vec<u64>>>,
    /// (issuer domain policy, subject domain policy) OID contents.
    pub(crate) policy_mappings: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    pub(crate) inhibit_any_policy: i64,
    pub(crate) inhibit_any_policy_zero: bool,
    pub(crate) inhibit_policy_mapping: i64,
    pub(crate) inhibit_policy_mapping_zero: bool,
    pub(crate) require_explicit_policy: i64,
    pub(crate) require_explicit_policy_zero: bool,
}

fn push<T>(list: &mut Option<Vec<T>>, item: T) {
    list.get_or_insert_with(Vec::new).push(item);
}

fn or<T>(read: Read<T>, refusal: Refusal) -> Result<T, Refusal> {
    read.map_err(|Malformed| refusal)
}

/// Go's `x509.ParseCertificates`: certificates concatenated with nothing between them.
pub(crate) fn parse_all(mut der: &[u8]) -> Result<Vec<Certificate>, Refusal> {
    let mut certificates = Vec::new();
    while !der.is_empty() {
        let certificate = parse(der)?;
        der = der.get(certificate.raw.len()..).unwrap_or_default();
        certificates.push(certificate);
    }
    Ok(certificates)
}

/// Go's `parseCertificate`: the first certificate of `der` (what follows it is left).
pub(crate) fn parse(der: &[u8]) -> Result<Certificate, Refusal> {
    let mut cert = Certificate::default();
    let mut input = Der::new(der);
    let whole = or(input.element(tag::SEQUENCE), "x509: malformed certificate")?;
    cert.raw = whole.whole.to_vec();
    let mut input = Der::new(whole.contents);
    let tbs = or(
        input.element(tag::SEQUENCE),
        "x509: malformed tbs certificate",
    )?;
    cert.raw_tbs = tbs.whole.to_vec();
    let mut tbs = Der::new(tbs.contents);

    cert.version = match tbs.peek(tag::context_constructed(0)) {
        true => {
            let mut explicit = or(
                tbs.read(tag::context_constructed(0)),
                "x509: malformed version",
            )?;
            let version = or(explicit.int64(), "x509: malformed version")?;
            if !explicit.is_empty() {
                return Err("x509: malformed version");
            }
            version
        }
        false => 0,
    };
    if !(0..=2).contains(&cert.version) {
        return Err("x509: malformed version");
    }
    cert.version += 1;

    let serial = or(tbs.integer_bytes(), "x509: malformed serial number")?;
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        return Err("x509: negative serial number");
    }
    cert.serial = serial.to_vec();

    let inner_algorithm = or(
        tbs.read(tag::SEQUENCE),
        "x509: malformed signature algorithm identifier",
    )?;
    let outer_algorithm = or(
        input.read(tag::SEQUENCE),
        "x509: malformed algorithm identifier",
    )?;
    if inner_algorithm != outer_algorithm {
        return Err("x509: inner and outer signature algorithm identifiers don't match");
    }
    let algorithm = algorithm_identifier(inner_algorithm)?;
    cert.signature_algorithm = public_key::signature_algorithm(&algorithm);
    cert.signature_algorithm_der = inner_algorithm.remaining().to_vec();

    let issuer = or(tbs.element(tag::SEQUENCE), "x509: malformed issuer")?;
    cert.raw_issuer = issuer.whole.to_vec();
    cert.issuer = or(name::parse(issuer.whole), "x509: invalid RDNSequence")?;

    let mut validity = or(tbs.read(tag::SEQUENCE), "x509: malformed validity")?;
    cert.not_before = Some(or(time::read(&mut validity), "x509: malformed time")?);
    cert.not_after = Some(or(time::read(&mut validity), "x509: malformed time")?);

    let subject = or(tbs.element(tag::SEQUENCE), "x509: malformed issuer")?;
    cert.raw_subject = subject.whole.to_vec();
    cert.subject = or(name::parse(subject.whole), "x509: invalid RDNSequence")?;

    let spki = or(tbs.element(tag::SEQUENCE), "x509: malformed spki")?;
    cert.raw_spki = spki.whole.to_vec();
    let (key_algorithm, key) = public_key::parse_spki(spki.whole)?;
    cert.public_key_algorithm = key_algorithm;
    cert.public_key = key;

    if cert.version > 1 {
        if tbs.peek(tag::context(1)) {
            or(tbs.read(tag::context(1)), "x509: malformed issuerUniqueID")?;
        }
        if tbs.peek(tag::context(2)) {
            or(tbs.read(tag::context(2)), "x509: malformed subjectUniqueID")?;
        }
        if cert.version == 3 {
            let extensions = or(
                tbs.optional(tag::context_constructed(3)),
                "x509: malformed extensions",
            )?;
            if let Some(mut extensions) = extensions {
                let mut list = or(extensions.read(tag::SEQUENCE), "x509: malformed extensions")?;
                let mut seen: Vec<Vec<u64>> = Vec::new();
                while !list.is_empty() {
                    let extension = or(list.read(tag::SEQUENCE), "x509: malformed extension")?;
                    let extension = parse_extension(extension)?;
                    if seen.contains(&extension.id) {
                        return Err("x509: certificate contains duplicate extension");
                    }
                    seen.push(extension.id.clone());
                    push(&mut cert.extensions, extension);
                }
                process_extensions(&mut cert)?;
            }
        }
    }

    let signature = or(input.bit_string(), "x509: malformed signature")?;
    cert.signature = signature.right_aligned();
    Ok(cert)
}

/// An AlgorithmIdentifier's OID and its parameters' whole encoding (empty when absent).
pub(crate) struct AlgorithmIdentifier<'a> {
    pub(crate) oid: Vec<u64>,
    pub(crate) parameters: &'a [u8],
}

/// Go's `parseAI` of the SEQUENCE's contents.
pub(crate) fn algorithm_identifier(mut der: Der<'_>) -> Result<AlgorithmIdentifier<'_>, Refusal> {
    let oid = or(der.oid(), "x509: malformed OID")?;
    let parameters = match der.is_empty() {
        true => &[][..],
        false => or(der.any(), "x509: malformed parameters")?.whole,
    };
    Ok(AlgorithmIdentifier { oid, parameters })
}

fn parse_extension(mut der: Der<'_>) -> Result<Extension, Refusal> {
    let id = or(der.oid(), "x509: malformed extension OID field")?;
    let critical = match der.peek(tag::BOOLEAN) {
        true => or(der.boolean(), "x509: malformed extension critical field")?,
        false => false,
    };
    let value = or(
        der.read(tag::OCTET_STRING),
        "x509: malformed extension value field",
    )?;
    Ok(Extension {
        id,
        critical,
        value: value.remaining().to_vec(),
    })
}

const AUTHORITY_INFO_ACCESS: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 1, 1];
const AIA_OCSP: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 48, 1];
const AIA_ISSUERS: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 48, 2];

/// Go's `processExtensions`.
fn process_extensions(cert: &mut Certificate) -> Result<(), Refusal> {
    let extensions = cert.extensions.clone().unwrap_or_default();
    for extension in &extensions {
        let value = Der::new(&extension.value);
        let unhandled = match extension.id.as_slice() {
            [2, 5, 29, n] => process_standard(cert, *n, extension, value)?,
            id if id == AUTHORITY_INFO_ACCESS => {
                if extension.critical {
                    return Err("x509: authority info access incorrectly marked critical");
                }
                authority_info_access(cert, value)?;
                false
            }
            _ => true,
        };
        if extension.critical && unhandled {
            push(&mut cert.unhandled_critical, extension.id.clone());
        }
    }
    Ok(())
}

/// One `2.5.29.n` extension; whether Go leaves it unhandled.
fn process_standard(
    cert: &mut Certificate,
    n: u64,
    extension: &Extension,
    mut value: Der<'_>,
) -> Result<bool, Refusal> {
    match n {
        15 => {
            let bits = or(value.bit_string(), "x509: invalid key usage")?;
            cert.key_usage = (0..9)
                .filter(|&i| bits.at(i))
                .fold(0, |usage, i| usage | (1 << i));
        }
        19 => {
            let mut sequence = or(value.read(tag::SEQUENCE), "x509: invalid basic constraints")?;
            cert.is_ca = match sequence.peek(tag::BOOLEAN) {
                true => or(sequence.boolean(), "x509: invalid basic constraints")?,
                false => false,
            };
            cert.max_path_len = match sequence.peek(tag::INTEGER) {
                true => {
                    let n = or(sequence.uint64(), "x509: invalid basic constraints")?;
                    i64::try_from(n).map_err(|_| "x509: invalid basic constraints")?
                }
                false => -1,
            };
            cert.basic_constraints_valid = true;
            cert.max_path_len_zero = cert.max_path_len == 0;
        }
        17 => {
            subject_alternative_names(cert, value)?;
            let empty = [
                cert.dns_names.as_ref().map_or(0, Vec::len),
                cert.email_addresses.as_ref().map_or(0, Vec::len),
                cert.ip_addresses.as_ref().map_or(0, Vec::len),
                cert.uris.as_ref().map_or(0, Vec::len),
            ]
            .iter()
            .all(|n| *n == 0);
            return Ok(empty);
        }
        30 => return name_constraints(cert, extension),
        31 => crl_distribution_points(cert, value)?,
        35 => {
            if extension.critical {
                return Err("x509: authority key identifier incorrectly marked critical");
            }
            let mut sequence = or(
                value.read(tag::SEQUENCE),
                "x509: invalid authority key identifier",
            )?;
            if sequence.peek(tag::context(0)) {
                let id = or(
                    sequence.read(tag::context(0)),
                    "x509: invalid authority key identifier",
                )?;
                cert.authority_key_id = Some(id.remaining().to_vec());
            } else {
                cert.authority_key_id = None;
            }
        }
        36 => {
            let invalid = "x509: invalid policy constraints extension";
            let mut sequence = or(value.read(tag::SEQUENCE), invalid)?;
            if sequence.peek(tag::context(0)) {
                cert.require_explicit_policy = or(sequence.int64_tagged(tag::context(0)), invalid)?;
                cert.require_explicit_policy_zero = cert.require_explicit_policy == 0;
            }
            if sequence.peek(tag::context(1)) {
                cert.inhibit_policy_mapping = or(sequence.int64_tagged(tag::context(1)), invalid)?;
                cert.inhibit_policy_mapping_zero = cert.inhibit_policy_mapping == 0;
            }
        }
        37 => {
            let invalid = "x509: invalid extended key usages";
            let mut sequence = or(value.read(tag::SEQUENCE), invalid)?;
            let (mut known, mut unknown) = (None, None);
            while !sequence.is_empty() {
                let oid = or(sequence.oid(), invalid)?;
                match public_key::ext_key_usage(&oid) {
                    Some(usage) => push(&mut known, usage),
                    None => push(&mut unknown, oid),
                }
            }
            cert.ext_key_usage = known;
            cert.unknown_ext_key_usage = unknown;
        }
        14 => {
            if extension.critical {
                return Err("x509: subject key identifier incorrectly marked critical");
            }
            let id = or(
                value.read(tag::OCTET_STRING),
                "x509: invalid subject key identifier",
            )?;
            cert.subject_key_id = Some(id.remaining().to_vec());
        }
        32 => certificate_policies(cert, value)?,
        33 => {
            let invalid = "x509: invalid policy mappings extension";
            let mut sequence = or(value.read(tag::SEQUENCE), invalid)?;
            while !sequence.is_empty() {
                let mut mapping = or(sequence.read(tag::SEQUENCE), invalid)?;
                let issuer = or(mapping.read(tag::OID), invalid)?;
                let subject = or(mapping.read(tag::OID), invalid)?;
                push(
                    &mut cert.policy_mappings,
                    (issuer.remaining().to_vec(), subject.remaining().to_vec()),
                );
            }
        }
        54 => {
            cert.inhibit_any_policy =
                or(value.int64(), "x509: invalid inhibit any policy extension")?;
            cert.inhibit_any_policy_zero = cert.inhibit_any_policy == 0;
        }
        _ => return Ok(true),
    }
    Ok(false)
}

fn certificate_policies(cert: &mut Certificate, mut value: Der<'_>) -> Result<(), Refusal> {
    let invalid = "x509: invalid certificate policies";
    let mut sequence = or(value.read(tag::SEQUENCE), invalid)?;
    let mut policies: Option<Vec<Vec<u8>>> = None;
    while !sequence.is_empty() {
        let mut policy = or(sequence.read(tag::SEQUENCE), invalid)?;
        let oid = or(policy.read(tag::OID), invalid)?.remaining().to_vec();
        if policies.as_ref().is_some_and(|p| p.contains(&oid)) {
            return Err(invalid);
        }
        der::oid_text(&oid).ok_or(invalid)?;
        push(&mut policies, oid);
    }
    let identifiers: Vec<Vec<u64>> = policies
        .iter()
        .flatten()
        .filter_map(|oid| der::oid_fits_asn1(oid))
        .collect();
    cert.policies = policies;
    cert.policy_identifiers = Some(identifiers);
    Ok(())
}

fn authority_info_access(cert: &mut Certificate, mut value: Der<'_>) -> Result<(), Refusal> {
    let invalid = "x509: invalid authority info access";
    let mut sequence = or(value.read(tag::SEQUENCE), invalid)?;
    while !sequence.is_empty() {
        let mut access = or(sequence.read(tag::SEQUENCE), invalid)?;
        let method = or(access.oid(), invalid)?;
        if !access.peek(tag::context(6)) {
            continue;
        }
        let location = or(access.read(tag::context(6)), invalid)?.remaining();
        let location = String::from_utf8_lossy(location).into_owned();
        if method == AIA_OCSP {
            push(&mut cert.ocsp_server, location);
        } else if method == AIA_ISSUERS {
            push(&mut cert.issuing_certificate_url, location);
        }
    }
    Ok(())
}

fn crl_distribution_points(cert: &mut Certificate, mut value: Der<'_>) -> Result<(), Refusal> {
    let mut sequence = or(
        value.read(tag::SEQUENCE),
        "x509: invalid CRL distribution points",
    )?;
    let invalid = "x509: invalid CRL distribution point";
    while !sequence.is_empty() {
        let mut point = or(sequence.read(tag::SEQUENCE), invalid)?;
        let Some(mut name) = or(point.optional(tag::context_constructed(0)), invalid)? else {
            continue;
        };
        let mut full_name = or(name.read(tag::context_constructed(0)), invalid)?;
        while full_name.peek(tag::context(6)) {
            let uri = or(full_name.read(tag::context(6)), invalid)?.remaining();
            push(
                &mut cert.crl_distribution_points,
                String::from_utf8_lossy(uri).into_owned(),
            );
        }
    }
    Ok(())
}

/// Go's `isIA5String` as `parseSANExtension` applies it: ASCII only.
fn ia5(bytes: &[u8], refusal: Refusal) -> Result<String, Refusal> {
    match bytes.is_ascii() {
        true => Ok(String::from_utf8_lossy(bytes).into_owned()),
        false => Err(refusal),
    }
}

/// Go's `parseSANExtension` of an extension's value, into `cert`'s name fields.
pub(crate) fn read_subject_alternative_names(
    cert: &mut Certificate,
    value: &[u8],
) -> Result<(), Refusal> {
    subject_alternative_names(cert, Der::new(value))
}

fn subject_alternative_names(cert: &mut Certificate, mut value: Der<'_>) -> Result<(), Refusal> {
    let mut names = or(
        value.read(tag::SEQUENCE),
        "x509: invalid subject alternative names",
    )?;
    while !names.is_empty() {
        let name = or(names.any(), "x509: invalid subject alternative name")?;
        let data = name.contents;
        // Go compares `tag ^ 0x80` with the bare numbers, so only primitive context tags match.
        match name.tag ^ 0x80 {
            1 => {
                let email = ia5(data, "x509: SAN rfc822Name is malformed")?;
                push(&mut cert.email_addresses, email);
            }
            2 => {
                let dns = ia5(data, "x509: SAN dNSName is malformed")?;
                push(&mut cert.dns_names, dns);
            }
            6 => {
                let text = ia5(data, "x509: SAN uniformResourceIdentifier is malformed")?;
                let uri = go_url::parse(&text).map_err(|_| "x509: cannot parse URI")?;
                if !uri.host.is_empty() && !domain_name_valid(&uri.host, false) {
                    return Err("x509: cannot parse URI: invalid domain");
                }
                push(&mut cert.uris, uri);
            }
            7 => match data.len() {
                16 if data.get(..12) == Some(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]) => {
                    return Err("x509: SAN iPAddress contains IPv4-mapped IPv6 address");
                }
                4 | 16 => push(&mut cert.ip_addresses, data.to_vec()),
                _ => return Err("x509: cannot parse IP address"),
            },
            _ => {}
        }
    }
    Ok(())
}

/// Go's `domainNameValid` (Go 1.26, with its checks relaxed as released).
pub(crate) fn domain_name_valid(s: &str, constraint: bool) -> bool {
    if s.is_empty() {
        return true;
    }
    if s.ends_with('.') {
        return false;
    }
    let s = match constraint {
        true => s.strip_prefix('.').unwrap_or(s),
        false => s,
    };
    if s.bytes().any(|b| !(33..=126).contains(&b)) {
        return false;
    }
    s.split('.').all(|label| !label.is_empty())
}

fn valid_ip_mask(mask: &[u8]) -> bool {
    let mut seen_zero = false;
    for &b in mask {
        if seen_zero {
            if b != 0 {
                return false;
            }
            continue;
        }
        match b {
            0x00 | 0x80 | 0xc0 | 0xe0 | 0xf0 | 0xf8 | 0xfc | 0xfe => seen_zero = true,
            0xff => {}
            _ => return false,
        }
    }
    true
}

/// The values of one GeneralSubtrees list.
#[derive(Default)]
struct Subtrees {
    dns: Option<Vec<String>>,
    ips: Option<Vec<IpRange>>,
    emails: Option<Vec<String>>,
    uri_domains: Option<Vec<String>>,
}

fn name_constraints(cert: &mut Certificate, extension: &Extension) -> Result<bool, Refusal> {
    let invalid = "x509: invalid NameConstraints extension";
    let mut outer = Der::new(&extension.value);
    let mut top = or(outer.read(tag::SEQUENCE), invalid)?;
    if !outer.is_empty() {
        return Err(invalid);
    }
    let permitted = or(top.optional(tag::context_constructed(0)), invalid)?;
    let excluded = or(top.optional(tag::context_constructed(1)), invalid)?;
    if !top.is_empty() {
        return Err(invalid);
    }
    if permitted.is_none() && excluded.is_none() {
        return Err("x509: empty name constraints extension");
    }
    if permitted.is_some_and(|p| p.is_empty()) || excluded.is_some_and(|e| e.is_empty()) {
        return Err("x509: empty name constraints subtree sequence");
    }
    let mut unhandled = false;
    let mut values = |subtrees: Option<Der<'_>>| -> Result<Subtrees, Refusal> {
        let mut out = Subtrees::default();
        let Some(mut subtrees) = subtrees else {
            return Ok(out);
        };
        while !subtrees.is_empty() {
            let mut subtree = or(subtrees.read(tag::SEQUENCE), invalid)?;
            let base = or(subtree.any(), invalid)?;
            let value = base.contents;
            match base.tag {
                t if t == tag::context(2) => {
                    let domain = ia5(value, "x509: invalid constraint value")?;
                    if !domain_name_valid(&domain, true) {
                        return Err("x509: failed to parse dnsName constraint");
                    }
                    push(&mut out.dns, domain);
                }
                t if t == tag::context(7) => {
                    let half = match value.len() {
                        8 => 4,
                        32 => 16,
                        _ => return Err("x509: IP constraint contained value of wrong length"),
                    };
                    let (ip, mask) = value.split_at(half);
                    if !valid_ip_mask(mask) {
                        return Err("x509: IP constraint contained invalid mask");
                    }
                    if half == 16
                        && ip.get(..12) == Some(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff])
                    {
                        return Err("x509: IP constraint contained IPv4-mapped IPv6 address");
                    }
                    push(
                        &mut out.ips,
                        IpRange {
                            ip: ip.to_vec(),
                            mask: mask.to_vec(),
                        },
                    );
                }
                t if t == tag::context(1) => {
                    let constraint = ia5(value, "x509: invalid constraint value")?;
                    let valid = match constraint.contains('@') {
                        true => super::verify::mailbox(&constraint).is_some(),
                        false => domain_name_valid(&constraint, true),
                    };
                    if !valid {
                        return Err("x509: failed to parse rfc822Name constraint");
                    }
                    push(&mut out.emails, constraint);
                }
                t if t == tag::context(6) => {
                    let domain = ia5(value, "x509: invalid constraint value")?;
                    if domain.parse::<std::net::IpAddr>().is_ok() {
                        return Err("x509: failed to parse URI constraint: cannot be IP address");
                    }
                    if !domain_name_valid(&domain, true) {
                        return Err("x509: failed to parse URI constraint");
                    }
                    push(&mut out.uri_domains, domain);
                }
                _ => unhandled = true,
            }
        }
        Ok(out)
    };
    let permitted = values(permitted)?;
    let excluded = values(excluded)?;
    cert.permitted_dns_domains = permitted.dns;
    cert.permitted_ip_ranges = permitted.ips;
    cert.permitted_email_addresses = permitted.emails;
    cert.permitted_uri_domains = permitted.uri_domains;
    cert.excluded_dns_domains = excluded.dns;
    cert.excluded_ip_ranges = excluded.ips;
    cert.excluded_email_addresses = excluded.emails;
    cert.excluded_uri_domains = excluded.uri_domains;
    cert.permitted_dns_domains_critical = extension.critical;
    Ok(unhandled)
}

/// An IP address as Go's `net.IP.String` writes it (4 or 16 bytes; mapped IPv4 as dotted).
pub(crate) fn ip_text(ip: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(ip) {
        return Ipv4Addr::from(v4).to_string();
    }
    match <[u8; 16]>::try_from(ip) {
        Ok(v6) => {
            let address = Ipv6Addr::from(v6);
            match address.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => address.to_string(),
            }
        }
        Err(_) => String::new(),
    }
}
