//! Distinguished names as Go's `crypto/x509` parses them (`parseName`) and `pkix.Name` holds
//! them (`FillFromRDNSequence`): every attribute in `Names`, the common ones also in their own
//! fields.

use regorus::Value;

use super::der::{tag, Der, Malformed, Read};
use super::json::{self, Fields};
use super::time;

/// An attribute value, as Go's `readASN1Any` types it.
#[derive(Debug, Clone)]
pub(crate) enum AttributeValue {
    Text(String),
    Integer(i64),
    Bits {
        bytes: Vec<u8>,
        bit_length: usize,
    },
    Octets(Vec<u8>),
    Oid(Vec<u64>),
    Time(time::Time),
    Boolean(bool),
    Null,
    /// Any other element (Go's `asn1.RawValue`).
    Raw {
        tag: u8,
        contents: Vec<u8>,
        whole: Vec<u8>,
    },
}

impl AttributeValue {
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Self::Text(text) => Value::from(text.as_str()),
            Self::Integer(n) => Value::from(*n),
            Self::Bits { bytes, bit_length } => Fields::new()
                .with("Bytes", json::bytes(Some(bytes)))
                .with("BitLength", Value::from(*bit_length))
                .build(),
            Self::Octets(bytes) => json::bytes(Some(bytes)),
            Self::Oid(oid) => json::oid(oid),
            Self::Time(t) => Value::from(t.rfc3339()),
            Self::Boolean(b) => Value::from(*b),
            Self::Null => Value::Null,
            Self::Raw {
                tag,
                contents,
                whole,
            } => Fields::new()
                .with("Class", Value::from(u32::from(tag >> 6)))
                .with("Tag", Value::from(u32::from(tag & 0x1f)))
                .with("IsCompound", Value::from(tag & 0x20 == 0x20))
                .with("Bytes", json::bytes(Some(contents)))
                .with("FullBytes", json::bytes(Some(whole)))
                .build(),
        }
    }

    /// Whether Go's JSON can write it (a time outside years 0-9999 cannot).
    pub(crate) fn writable(&self) -> bool {
        match self {
            Self::Time(t) => t.writable(),
            _ => true,
        }
    }
}

/// One attribute of a name.
#[derive(Debug, Clone)]
pub(crate) struct Attribute {
    pub(crate) kind: Vec<u64>,
    pub(crate) value: AttributeValue,
}

/// A parsed name: its attributes in order, with the RDN each belongs to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Name {
    pub(crate) rdns: Vec<Vec<Attribute>>,
}

/// Go's `parseName` of a DER `Name` (the whole SEQUENCE).
pub(crate) fn parse(whole: &[u8]) -> Read<Name> {
    let mut sequence = Der::new(whole).read(tag::SEQUENCE)?;
    let mut name = Name::default();
    while !sequence.is_empty() {
        let mut set = sequence.read(tag::SET)?;
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let mut attribute = set.read(tag::SEQUENCE)?;
            let kind = attribute.oid()?;
            let value = any_value(&mut attribute)?;
            rdn.push(Attribute { kind, value });
        }
        name.rdns.push(rdn);
    }
    Ok(name)
}

/// Go's `readASN1Any`: the next element typed as Go's attribute values are.
fn any_value(der: &mut Der<'_>) -> Read<AttributeValue> {
    let element = der.any()?;
    let mut inner = Der::new(element.whole);
    Ok(match element.tag {
        tag::T61_STRING
        | tag::PRINTABLE_STRING
        | tag::UTF8_STRING
        | tag::BMP_STRING
        | tag::IA5_STRING
        | tag::NUMERIC_STRING => AttributeValue::Text(string(element.tag, element.contents)?),
        tag::INTEGER => AttributeValue::Integer(inner.int64()?),
        tag::BIT_STRING => {
            let bits = inner.bit_string()?;
            AttributeValue::Bits {
                bytes: bits.bytes.to_vec(),
                bit_length: bits.bit_length,
            }
        }
        tag::OCTET_STRING => AttributeValue::Octets(element.contents.to_vec()),
        tag::OID => AttributeValue::Oid(inner.oid()?),
        tag::UTC_TIME | tag::GENERALIZED_TIME => AttributeValue::Time(time::read(&mut inner)?),
        tag::BOOLEAN => AttributeValue::Boolean(inner.boolean()?),
        tag::NULL => AttributeValue::Null,
        other => AttributeValue::Raw {
            tag: other,
            contents: element.contents.to_vec(),
            whole: element.whole.to_vec(),
        },
    })
}

/// Go's `parseASN1String` of the string types.
pub(crate) fn string(kind: u8, bytes: &[u8]) -> Read<String> {
    match kind {
        // T.61 read as Latin-1, as Go does.
        tag::T61_STRING => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        tag::PRINTABLE_STRING if bytes.iter().all(|&b| printable(b)) => {
            Ok(String::from_utf8_lossy(bytes).into_owned())
        }
        tag::UTF8_STRING => std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| Malformed),
        tag::BMP_STRING => bmp(bytes),
        tag::IA5_STRING if bytes.is_ascii() => Ok(String::from_utf8_lossy(bytes).into_owned()),
        tag::NUMERIC_STRING if bytes.iter().all(|&b| b.is_ascii_digit() || b == b' ') => {
            Ok(String::from_utf8_lossy(bytes).into_owned())
        }
        _ => Err(Malformed),
    }
}

/// Go's PrintableString set, with `*` and `&` that real certificates use.
fn printable(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || (b'\''..=b')').contains(&b)
        || (b'+'..=b'/').contains(&b)
        || matches!(b, b' ' | b':' | b'=' | b'?' | b'*' | b'&')
}

/// UCS-2 without surrogates or non-characters, an optional trailing NUL dropped.
fn bmp(bytes: &[u8]) -> Read<String> {
    if !bytes.len().is_multiple_of(2) {
        return Err(Malformed);
    }
    let bytes = match bytes {
        [head @ .., 0, 0] => head,
        other => other,
    };
    let mut out = String::with_capacity(bytes.len() / 2);
    for pair in bytes.chunks_exact(2) {
        let point = pair.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b));
        let refused = point == 0xfffe
            || point == 0xffff
            || (0xfdd0..=0xfdef).contains(&point)
            || (0xd800..=0xdfff).contains(&point);
        if refused {
            return Err(Malformed);
        }
        out.push(char::from_u32(point).ok_or(Malformed)?);
    }
    Ok(out)
}

impl Name {
    pub(crate) fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.rdns.iter().flatten()
    }

    /// Whether Go's JSON can write every attribute.
    pub(crate) fn writable(&self) -> bool {
        self.attributes().all(|a| a.value.writable())
    }

    /// The value of the string attribute `2.5.4.<n>` Go keeps in its own field.
    fn texts(&self, n: u64) -> Vec<String> {
        self.attributes()
            .filter(|a| a.kind == [2, 5, 4, n])
            .filter_map(|a| match &a.value {
                AttributeValue::Text(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The attribute's last value (Go overwrites the single-valued fields).
    fn last_text(&self, n: u64) -> String {
        self.texts(n).pop().unwrap_or_default()
    }

    /// Go's `pkix.Name` as JSON.
    pub(crate) fn to_value(&self) -> Value {
        let field = |n: u64| {
            let texts = self.texts(n);
            json::strings(&(!texts.is_empty()).then_some(texts))
        };
        let names: Vec<&Attribute> = self.attributes().collect();
        let names = (!names.is_empty()).then_some(names);
        Fields::new()
            .with("Country", field(6))
            .with("Organization", field(10))
            .with("OrganizationalUnit", field(11))
            .with("Locality", field(7))
            .with("Province", field(8))
            .with("StreetAddress", field(9))
            .with("PostalCode", field(17))
            .with("SerialNumber", Value::from(self.last_text(5)))
            .with("CommonName", Value::from(self.last_text(3)))
            .with(
                "Names",
                json::list(&names, |a| {
                    Fields::new()
                        .with("Type", json::oid(&a.kind))
                        .with("Value", a.value.to_value())
                        .build()
                }),
            )
            .with("ExtraNames", Value::Null)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_as_go_reads_them() {
        assert_eq!(string(tag::T61_STRING, b"caf\xe9").unwrap(), "café");
        assert!(string(tag::PRINTABLE_STRING, b"a@b").is_err());
        assert_eq!(string(tag::PRINTABLE_STRING, b"*.a&b").unwrap(), "*.a&b");
        assert_eq!(
            string(tag::BMP_STRING, b"\x00h\x00i\x00\x00").unwrap(),
            "hi"
        );
        assert!(string(tag::BMP_STRING, b"\xd8\x00").is_err());
        assert!(string(tag::IA5_STRING, b"\xe9").is_err());
        assert!(string(tag::NUMERIC_STRING, b"12a").is_err());
    }
}
