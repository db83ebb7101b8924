//! Certificate signing requests (PKCS #10) as Go's `x509.ParseCertificateRequest` reads them
//! and OPA's `crypto.x509.parse_certificate_request` returns them. Go reads a request with
//! `encoding/asn1`, not `cryptobyte`: its names and attributes take the values that package
//! types (a nested structure or an unknown type is `null`), and attributes it cannot
//! read are left out.

use regorus::Value;

use super::certificate::{self, algorithm_identifier, Refusal};
use super::der::{tag, Der, Element, Malformed, Read};
use super::json::{self, Fields};
use super::name::{self, Attribute, AttributeValue, Name};
use super::public_key::{self, PublicKey};
use super::time;

/// Go's `pkix.AttributeTypeAndValueSET`: an attribute's type and its values, a set of
/// sequences of (type, value).
type AttributeSet = (Vec<u64>, Vec<Vec<Attribute>>);

/// The fields of Go's `x509.CertificateRequest` parsing fills.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    raw: Vec<u8>,
    raw_tbs: Vec<u8>,
    raw_spki: Vec<u8>,
    raw_subject: Vec<u8>,
    version: i64,
    signature: Vec<u8>,
    signature_algorithm: u8,
    public_key_algorithm: u8,
    public_key: PublicKey,
    subject: Name,
    attributes: Option<Vec<AttributeSet>>,
    extensions: Option<Vec<certificate::Extension>>,
    names: certificate::Certificate,
}

const EXTENSION_REQUEST: [u64; 7] = [1, 2, 840, 113549, 1, 9, 14];

fn or<T>(read: Read<T>, refusal: Refusal) -> Result<T, Refusal> {
    read.map_err(|Malformed| refusal)
}

/// Go's `x509.ParseCertificateRequest` of DER.
pub(crate) fn parse(der: &[u8]) -> Result<Request, Refusal> {
    let malformed = "asn1: structure error";
    let mut input = Der::new(der);
    let whole = or(input.element(tag::SEQUENCE), malformed)?;
    if !input.is_empty() {
        return Err("asn1: syntax error: trailing data");
    }
    let mut request = Request {
        raw: whole.whole.to_vec(),
        ..Request::default()
    };
    let mut outer = Der::new(whole.contents);
    let tbs = or(outer.element(tag::SEQUENCE), malformed)?;
    request.raw_tbs = tbs.whole.to_vec();
    let algorithm = or(outer.read(tag::SEQUENCE), malformed)?;
    let algorithm = algorithm_identifier(algorithm)?;
    request.signature_algorithm = public_key::signature_algorithm(&algorithm);
    request.signature = or(outer.bit_string(), malformed)?.right_aligned();

    let mut tbs = Der::new(tbs.contents);
    request.version = or(tbs.int64(), malformed)?;
    let subject = or(tbs.any(), malformed)?;
    request.raw_subject = subject.whole.to_vec();
    let spki = or(tbs.element(tag::SEQUENCE), malformed)?;
    request.raw_spki = spki.whole.to_vec();
    let raw_attributes = or(tbs.read(tag::context_constructed(0)), malformed)?;
    let mut attributes = Vec::new();
    let mut rest = raw_attributes;
    while !rest.is_empty() {
        attributes.push(or(rest.any(), malformed)?);
    }

    let (key_algorithm, key) = public_key::parse_spki(spki.whole)?;
    request.public_key_algorithm = key_algorithm;
    request.public_key = key;
    request.subject = go_asn1_name(subject).ok_or("asn1: structure error: subject")?;
    request.attributes = attribute_sets(&attributes);
    request.extensions = requested_extensions(&attributes)?;
    for extension in request.extensions.iter().flatten() {
        if extension.id == [2, 5, 29, 17] {
            certificate::read_subject_alternative_names(&mut request.names, &extension.value)?;
        }
    }
    Ok(request)
}

/// A name as `encoding/asn1` reads a `pkix.RDNSequence` (the whole element, which must be a
/// SEQUENCE of SETs of SEQUENCEs).
fn go_asn1_name(element: Element<'_>) -> Option<Name> {
    if element.tag != tag::SEQUENCE {
        return None;
    }
    let mut sequence = Der::new(element.contents);
    let mut name = Name::default();
    while !sequence.is_empty() {
        let mut set = sequence.read(tag::SET).ok()?;
        let mut rdn = Vec::new();
        while !set.is_empty() {
            rdn.push(go_asn1_attribute(set.read(tag::SEQUENCE).ok()?)?);
        }
        name.rdns.push(rdn);
    }
    Some(name)
}

/// `pkix.AttributeTypeAndValue` as `encoding/asn1` reads it: an OID, then a value of any type
/// (what follows is ignored).
fn go_asn1_attribute(mut der: Der<'_>) -> Option<Attribute> {
    let kind = der.oid().ok()?;
    let value = go_asn1_any(der.any().ok()?)?;
    Some(Attribute { kind, value })
}

/// An `interface{}` field as `encoding/asn1` fills it; `None` where it fails.
fn go_asn1_any(element: Element<'_>) -> Option<AttributeValue> {
    let bytes = element.contents;
    let mut whole = Der::new(element.whole);
    Some(match element.tag {
        tag::PRINTABLE_STRING | tag::NUMERIC_STRING | tag::IA5_STRING | tag::UTF8_STRING => {
            AttributeValue::Text(name::string(element.tag, bytes).ok()?)
        }
        // Go keeps T.61 bytes as they are; its JSON writes each invalid byte as U+FFFD.
        tag::T61_STRING => AttributeValue::Text(crate::go_bytes::lossy_text(bytes)),
        tag::BMP_STRING => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let bytes = bytes.strip_suffix(&[0, 0]).unwrap_or(bytes);
            let units = bytes
                .chunks_exact(2)
                .map(|pair| pair.iter().fold(0u16, |n, &b| (n << 8) | u16::from(b)));
            AttributeValue::Text(
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
            )
        }
        tag::INTEGER => AttributeValue::Integer(whole.int64().ok()?),
        tag::BIT_STRING => {
            let bits = whole.bit_string().ok()?;
            AttributeValue::Bits {
                bytes: bits.bytes.to_vec(),
                bit_length: bits.bit_length,
            }
        }
        tag::OID => AttributeValue::Oid(whole.oid().ok()?),
        tag::UTC_TIME | tag::GENERALIZED_TIME => AttributeValue::Time(time::read(&mut whole).ok()?),
        tag::OCTET_STRING => AttributeValue::Octets(bytes.to_vec()),
        tag::BOOLEAN => AttributeValue::Boolean(whole.boolean().ok()?),
        _ => AttributeValue::Null,
    })
}

/// Go's `parseRawAttributes`: the attributes that read as a
/// `pkix.AttributeTypeAndValueSET`, the others left out.
fn attribute_sets(attributes: &[Element<'_>]) -> Option<Vec<AttributeSet>> {
    let mut out: Option<Vec<_>> = None;
    for attribute in attributes {
        let read = || -> Option<AttributeSet> {
            if attribute.tag != tag::SEQUENCE {
                return None;
            }
            let mut sequence = Der::new(attribute.contents);
            let kind = sequence.oid().ok()?;
            let mut set = sequence.read(tag::SET).ok()?;
            let mut values = Vec::new();
            while !set.is_empty() {
                let mut inner = set.read(tag::SEQUENCE).ok()?;
                let mut list = Vec::new();
                while !inner.is_empty() {
                    list.push(go_asn1_attribute(inner.read(tag::SEQUENCE).ok()?)?);
                }
                values.push(list);
            }
            Some((kind, values))
        };
        if let Some(set) = read() {
            out.get_or_insert_with(Vec::new).push(set);
        }
    }
    out
}

/// Go's `parseCSRExtensions`: the extensions of the extension-request attributes.
fn requested_extensions(
    attributes: &[Element<'_>],
) -> Result<Option<Vec<certificate::Extension>>, Refusal> {
    let mut out: Option<Vec<certificate::Extension>> = None;
    for attribute in attributes {
        let read = || -> Option<(Vec<u64>, Element<'_>)> {
            if attribute.tag != tag::SEQUENCE {
                return None;
            }
            let mut sequence = Der::new(attribute.contents);
            let id = sequence.oid().ok()?;
            let mut values = sequence.read(tag::SET).ok()?;
            let first = values.any().ok()?;
            Some((id, first))
        };
        let Some((id, first)) = read() else {
            continue;
        };
        if id != EXTENSION_REQUEST {
            continue;
        }
        let invalid = "asn1: structure error: extensions";
        if first.tag != tag::SEQUENCE {
            return Err(invalid);
        }
        let mut list = Der::new(first.contents);
        while !list.is_empty() {
            let mut extension = or(list.read(tag::SEQUENCE), invalid)?;
            let id = or(extension.oid(), invalid)?;
            let critical = match extension.peek(tag::BOOLEAN) {
                true => or(extension.boolean(), invalid)?,
                false => false,
            };
            let value = or(extension.read(tag::OCTET_STRING), invalid)?;
            let extensions = out.get_or_insert_with(Vec::new);
            if extensions.iter().any(|e| e.id == id) {
                return Err("x509: certificate request contains duplicate requested extensions");
            }
            extensions.push(certificate::Extension {
                id,
                critical,
                value: value.remaining().to_vec(),
            });
        }
    }
    Ok(out)
}

impl Request {
    /// Go's `x509.CertificateRequest` as JSON.
    pub(crate) fn to_value(&self) -> Value {
        let attribute = |a: &Attribute| {
            Fields::new()
                .with("Type", json::oid(&a.kind))
                .with("Value", a.value.to_value())
                .build()
        };
        let names = &self.names;
        Fields::new()
            .with("Raw", json::bytes(Some(&self.raw)))
            .with("RawTBSCertificateRequest", json::bytes(Some(&self.raw_tbs)))
            .with("RawSubjectPublicKeyInfo", json::bytes(Some(&self.raw_spki)))
            .with("RawSubject", json::bytes(Some(&self.raw_subject)))
            .with("Version", Value::from(self.version))
            .with("Signature", json::bytes(Some(&self.signature)))
            .with(
                "SignatureAlgorithm",
                Value::from(u32::from(self.signature_algorithm)),
            )
            .with(
                "PublicKeyAlgorithm",
                Value::from(u32::from(self.public_key_algorithm)),
            )
            .with("PublicKey", self.public_key.to_value())
            .with("Subject", self.subject.to_value())
            .with(
                "Attributes",
                json::list(&self.attributes, |(kind, values)| {
                    Fields::new()
                        .with("Type", json::oid(kind))
                        .with(
                            "Value",
                            Value::from(
                                values
                                    .iter()
                                    .map(|list| {
                                        Value::from(list.iter().map(attribute).collect::<Vec<_>>())
                                    })
                                    .collect::<Vec<_>>(),
                            ),
                        )
                        .build()
                }),
            )
            .with(
                "Extensions",
                json::list(&self.extensions, certificate::Extension::to_value),
            )
            .with("ExtraExtensions", Value::Null)
            .with("DNSNames", json::strings(&names.dns_names))
            .with("EmailAddresses", json::strings(&names.email_addresses))
            .with(
                "IPAddresses",
                json::list(&names.ip_addresses, |ip| {
                    Value::from(certificate::ip_text(ip))
                }),
            )
            .with("URIs", json::list(&names.uris, super::url::to_value))
            .build()
    }

    /// Whether Go's JSON can write it (times in years 0-9999).
    pub(crate) fn writable(&self) -> bool {
        self.subject.writable()
            && self
                .attributes
                .iter()
                .flatten()
                .flat_map(|(_, values)| values.iter().flatten())
                .all(|a| a.value.writable())
    }
}
