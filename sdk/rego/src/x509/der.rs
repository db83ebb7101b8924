//! A DER reader with the rules of Go's `cryptobyte` (what `crypto/x509` parses with), so that a
//! certificate Go refuses is refused here too: single-byte tags only, definite minimal lengths,
//! minimal integers, booleans of 0x00/0xff, bit strings whose padding bits are zero.

/// Tags as single identifier bytes (class, constructed bit and number).
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const UTF8_STRING: u8 = 0x0c;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;
    pub(crate) const NUMERIC_STRING: u8 = 0x12;
    pub(crate) const PRINTABLE_STRING: u8 = 0x13;
    pub(crate) const T61_STRING: u8 = 0x14;
    pub(crate) const IA5_STRING: u8 = 0x16;
    pub(crate) const UTC_TIME: u8 = 0x17;
    pub(crate) const GENERALIZED_TIME: u8 = 0x18;
    pub(crate) const BMP_STRING: u8 = 0x1e;

    /// `[n]` IMPLICIT, primitive.
    pub(crate) const fn context(n: u8) -> u8 {
        0x80 | n
    }

    /// `[n]` constructed (EXPLICIT, or IMPLICIT of a SEQUENCE).
    pub(crate) const fn context_constructed(n: u8) -> u8 {
        0xa0 | n
    }
}

/// Why DER could not be read; the caller names what it was reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

pub(crate) type Read<T> = Result<T, Malformed>;

/// A cursor over DER bytes (Go's `cryptobyte.String`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Der<'a> {
    bytes: &'a [u8],
}

/// One element: its tag, its whole encoding, and its contents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    pub(crate) tag: u8,
    pub(crate) whole: &'a [u8],
    pub(crate) contents: &'a [u8],
}

/// A BIT STRING: its bytes (padding bits zero) and its length in bits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BitString<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) bit_length: usize,
}

impl BitString<'_> {
    /// Bit `i`, counted from the most significant bit of the first byte (0 past the end).
    pub(crate) fn at(&self, i: usize) -> bool {
        i < self.bit_length
            && self
                .bytes
                .get(i / 8)
                .is_some_and(|b| (b >> (7 - i % 8)) & 1 == 1)
    }

    /// The bits shifted right so the padding is at the front (Go's `RightAlign`).
    pub(crate) fn right_aligned(&self) -> Vec<u8> {
        let shift = 8 - self.bit_length % 8;
        if shift == 8 || self.bytes.is_empty() {
            return self.bytes.to_vec();
        }
        let mut out = Vec::with_capacity(self.bytes.len());
        let mut previous = 0u8;
        for (i, &b) in self.bytes.iter().enumerate() {
            let carried = if i == 0 { 0 } else { previous << (8 - shift) };
            out.push(carried | (b >> shift));
            previous = b;
        }
        out
    }
}

impl<'a> Der<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the next element has tag `tag` (false when empty).
    pub(crate) fn peek(&self, tag: u8) -> bool {
        self.bytes.first() == Some(&tag)
    }

    /// The next element, whatever its tag.
    pub(crate) fn any(&mut self) -> Read<Element<'a>> {
        let [tag, first, rest @ ..] = self.bytes else {
            return Err(Malformed);
        };
        if tag & 0x1f == 0x1f {
            // High tag numbers: cryptobyte does not read them.
            return Err(Malformed);
        }
        let (header, length) = if first & 0x80 == 0 {
            (2usize, usize::from(*first))
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return Err(Malformed);
            }
            let digits = rest.get(..count).ok_or(Malformed)?;
            let length = digits
                .iter()
                .fold(0usize, |n, &d| (n << 8) | usize::from(d));
            // DER: the shortest form, no leading zero byte.
            if length < 128 || digits.first() == Some(&0) {
                return Err(Malformed);
            }
            (2 + count, length)
        };
        let end = header.checked_add(length).ok_or(Malformed)?;
        let whole = self.bytes.get(..end).ok_or(Malformed)?;
        let contents = whole.get(header..).ok_or(Malformed)?;
        self.bytes = self.bytes.get(end..).ok_or(Malformed)?;
        Ok(Element {
            tag: *tag,
            whole,
            contents,
        })
    }

    /// The next element, which must have tag `tag`.
    pub(crate) fn element(&mut self, tag: u8) -> Read<Element<'a>> {
        let element = self.any()?;
        match element.tag == tag {
            true => Ok(element),
            false => Err(Malformed),
        }
    }

    /// The contents of the next element, which must have tag `tag`.
    pub(crate) fn read(&mut self, tag: u8) -> Read<Der<'a>> {
        Ok(Der::new(self.element(tag)?.contents))
    }

    /// The contents of the next element if it has tag `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Read<Option<Der<'a>>> {
        match self.peek(tag) {
            true => self.read(tag).map(Some),
            false => Ok(None),
        }
    }

    pub(crate) fn boolean(&mut self) -> Read<bool> {
        match self.read(tag::BOOLEAN)?.bytes {
            [0x00] => Ok(false),
            [0xff] => Ok(true),
            _ => Err(Malformed),
        }
    }

    /// An INTEGER's two's-complement bytes, checked minimal.
    pub(crate) fn integer_bytes(&mut self) -> Read<&'a [u8]> {
        integer_contents(self.read(tag::INTEGER)?.bytes)
    }

    /// An INTEGER that fits an i64.
    pub(crate) fn int64(&mut self) -> Read<i64> {
        signed(self.integer_bytes()?)
    }

    /// An INTEGER with an implicit tag, that fits an i64.
    pub(crate) fn int64_tagged(&mut self, tag: u8) -> Read<i64> {
        signed(integer_contents(self.read(tag)?.bytes)?)
    }

    /// A non-negative INTEGER that fits a u64.
    pub(crate) fn uint64(&mut self) -> Read<u64> {
        let bytes = self.integer_bytes()?;
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(Malformed);
        }
        let bytes = match bytes {
            [0, rest @ ..] if !rest.is_empty() => rest,
            other => other,
        };
        if bytes.len() > 8 {
            return Err(Malformed);
        }
        Ok(bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
    }

    /// An OBJECT IDENTIFIER as Go's `asn1.ObjectIdentifier` reads it (components below 2^31).
    pub(crate) fn oid(&mut self) -> Read<Vec<u64>> {
        oid_components(self.read(tag::OID)?.bytes)
    }

    pub(crate) fn bit_string(&mut self) -> Read<BitString<'a>> {
        let contents = self.read(tag::BIT_STRING)?.bytes;
        let [padding, bytes @ ..] = contents else {
            return Err(Malformed);
        };
        let padding = usize::from(*padding);
        let last_padding_set = bytes
            .last()
            .is_some_and(|last| padding < 8 && last & ((1u8 << padding) - 1) != 0);
        if padding > 7 || (bytes.is_empty() && padding != 0) || last_padding_set {
            return Err(Malformed);
        }
        Ok(BitString {
            bytes,
            bit_length: bytes.len() * 8 - padding,
        })
    }
}

/// Checks an INTEGER's contents are minimal two's complement (cryptobyte's `checkASN1Integer`).
fn integer_contents(bytes: &[u8]) -> Read<&[u8]> {
    match bytes {
        [] => Err(Malformed),
        [0, next, ..] if next & 0x80 == 0 => Err(Malformed),
        [0xff, next, ..] if next & 0x80 != 0 => Err(Malformed),
        _ => Ok(bytes),
    }
}

fn signed(bytes: &[u8]) -> Read<i64> {
    if bytes.len() > 8 {
        return Err(Malformed);
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let start = if negative { -1i64 } else { 0 };
    Ok(bytes.iter().fold(start, |n, &b| (n << 8) | i64::from(b)))
}

/// Components of an OID's contents; each below 2^31 as cryptobyte requires.
pub(crate) fn oid_components(bytes: &[u8]) -> Read<Vec<u64>> {
    if bytes.is_empty() {
        return Err(Malformed);
    }
    let mut rest = bytes;
    let mut components = Vec::with_capacity(bytes.len() + 1);
    let first = base128(&mut rest)?;
    if first < 80 {
        components.extend([first / 40, first % 40]);
    } else {
        components.extend([2, first - 80]);
    }
    while !rest.is_empty() {
        components.push(base128(&mut rest)?);
    }
    Ok(components)
}

fn base128(rest: &mut &[u8]) -> Read<u64> {
    let mut value = 0u64;
    for i in 0..5 {
        let (&b, tail) = rest.split_first().ok_or(Malformed)?;
        *rest = tail;
        if value >= 1 << (31 - 7) || (i == 0 && b == 0x80) {
            return Err(Malformed);
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Malformed)
}

/// Arbitrary-size OID components (Go's `x509.OID`, for certificate policies), as the dotted
/// text Go prints; `None` where Go's `newOIDFromDER` refuses the encoding.
pub(crate) fn oid_text(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() || bytes.last().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    let mut start = true;
    for &b in bytes {
        if start && b == 0x80 {
            return None;
        }
        start = b & 0x80 == 0;
    }
    Some(oid_text_unchecked(bytes))
}

/// The dotted text of OID contents as Go's `OID.String` writes it, whatever the encoding
/// (an unfinished last arc is left out).
pub(crate) fn oid_text_unchecked(bytes: &[u8]) -> String {
    let mut arcs: Vec<num_bigint::BigUint> = Vec::new();
    let mut current = num_bigint::BigUint::default();
    for &b in bytes {
        current = (current << 7u32) + num_bigint::BigUint::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(std::mem::take(&mut current));
        }
    }
    let mut out = String::new();
    let Some(first) = arcs.first() else {
        return out;
    };
    let forty = num_bigint::BigUint::from(40u8);
    let eighty = num_bigint::BigUint::from(80u8);
    if *first < eighty {
        out.push_str(&format!("{}.{}", first / &forty, first % &forty));
    } else {
        out.push_str(&format!("2.{}", first - &eighty));
    }
    for arc in arcs.iter().skip(1) {
        out.push_str(&format!(".{arc}"));
    }
    out
}

/// The arcs of a policy OID (already checked by [`oid_text`]) when they fit Go's
/// `asn1.ObjectIdentifier` (`OID.toASN1OID`): the policies that also appear in
/// `PolicyIdentifiers`.
pub(crate) fn oid_fits_asn1(bytes: &[u8]) -> Option<Vec<u64>> {
    const MAX_SAFE_SHIFT: u64 = (1 << (31 - 7)) - 1;
    let mut out = Vec::with_capacity(bytes.len() + 1);
    let mut value = 0u64;
    for &b in bytes {
        if value > MAX_SAFE_SHIFT {
            return None;
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if out.is_empty() {
                match value < 80 {
                    true => out.extend([value / 40, value % 40]),
                    false => out.extend([2, value - 80]),
                }
            } else {
                out.push(value);
            }
            value = 0;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_must_be_minimal() {
        assert!(Der::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).any().is_err());
        assert!(Der::new(&[0x04, 0x82, 0x00, 0x80]).any().is_err());
        assert!(Der::new(&[0x04, 0x80]).any().is_err(), "indefinite");
        assert!(Der::new(&[0x1f, 0x01, 0x00]).any().is_err(), "high tag");
        let e = Der::new(&[0x04, 0x02, 0xaa, 0xbb, 0xcc]).any().unwrap();
        assert_eq!(e.contents, &[0xaa, 0xbb]);
    }

    #[test]
    fn integers_and_oids() {
        assert_eq!(Der::new(&[0x02, 0x01, 0xff]).int64(), Ok(-1));
        assert!(Der::new(&[0x02, 0x02, 0x00, 0x01]).int64().is_err());
        assert!(Der::new(&[0x02, 0x01, 0x80]).uint64().is_err());
        assert_eq!(Der::new(&[0x02, 0x02, 0x00, 0x80]).uint64(), Ok(128));
        let oid = [0x06, 0x03, 0x55, 0x1d, 0x13];
        assert_eq!(Der::new(&oid).oid(), Ok(vec![2, 5, 29, 19]));
        assert_eq!(oid_text(&[0x2b, 0x06, 0x01]).as_deref(), Some("1.3.6.1"));
    }

    #[test]
    fn bit_strings() {
        let bits = Der::new(&[0x03, 0x02, 0x05, 0xa0]).bit_string().unwrap();
        assert!(bits.at(0) && !bits.at(1) && bits.at(2) && !bits.at(3));
        assert_eq!(bits.right_aligned(), vec![0x05]);
        assert!(Der::new(&[0x03, 0x02, 0x05, 0xa1]).bit_string().is_err());
        assert!(Der::new(&[0x03, 0x01, 0x01]).bit_string().is_err());
    }
}
