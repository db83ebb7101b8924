//! Header maps (HTTP fields, gRPC metadata) with Envoy's rules, and their proxy-wasm serialization.

/// An ordered multi-map of header names to values; names are lower-cased as Envoy stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    pairs: Vec<(String, String)>,
}

impl HeaderMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// A map from pairs; names are lower-cased.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let mut map = Self::new();
        for (name, value) in pairs {
            map.add(name.as_ref(), value.as_ref());
        }
        map
    }

    /// All pairs in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The number of pairs (what proxy-wasm passes as `num_headers`).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The first value of `name` (Envoy's `proxy_get_header_map_value` returns the first one).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.pairs
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Appends a pair.
    pub fn add(&mut self, name: &str, value: &str) {
        self.pairs
            .push((name.to_ascii_lowercase(), value.to_string()));
    }

    /// Sets `name` to `value`: the first occurrence keeps its place, later ones are removed; absent names are
    /// appended.
    pub fn replace(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        let mut seen = false;
        self.pairs.retain_mut(|(n, v)| {
            if *n != name {
                return true;
            }
            if seen {
                return false;
            }
            seen = true;
            *v = value.to_string();
            true
        });
        if !seen {
            self.pairs.push((name, value.to_string()));
        }
    }

    /// Removes every pair named `name`.
    pub fn remove(&mut self, name: &str) {
        let name = name.to_ascii_lowercase();
        self.pairs.retain(|(n, _)| *n != name);
    }

    /// The proxy-wasm serialization of this map.
    pub fn serialize(&self) -> Vec<u8> {
        serialize_pairs(&self.pairs)
    }

    /// Parses a proxy-wasm serialized map; names are lower-cased.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, MapFormatError> {
        let pairs = deserialize_pairs(bytes)?;
        let mut map = Self::new();
        for (name, value) in &pairs {
            map.add(name, value);
        }
        Ok(map)
    }
}

/// A serialized map that does not follow the proxy-wasm layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed serialized header map: {0}")]
pub struct MapFormatError(&'static str);

/// Serializes pairs: a `u32` count, `u32` key and value lengths, then each key and value followed by a NUL.
pub fn serialize_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let data_len: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = Vec::with_capacity(4 + pairs.len() * 8 + data_len);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, len: usize) -> Result<&'a [u8], MapFormatError> {
    let end = at
        .checked_add(len)
        .ok_or(MapFormatError("length overflows"))?;
    let part = bytes.get(*at..end).ok_or(MapFormatError("truncated"))?;
    *at = end;
    Ok(part)
}

fn take_u32(bytes: &[u8], at: &mut usize) -> Result<usize, MapFormatError> {
    let mut word = [0u8; 4];
    word.copy_from_slice(take(bytes, at, 4)?);
    Ok(u32::from_le_bytes(word) as usize)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses a serialized map. An empty buffer and a single NUL byte both mean the empty map.
pub fn deserialize_pairs(bytes: &[u8]) -> Result<Vec<(String, String)>, MapFormatError> {
    if bytes.is_empty() || bytes == [0] {
        return Ok(Vec::new());
    }
    let mut at = 0;
    let count = take_u32(bytes, &mut at)?;
    // Each pair needs at least 10 bytes; reject absurd counts before allocating.
    if count > bytes.len() / 8 {
        return Err(MapFormatError("pair count exceeds the buffer"));
    }
    let mut lengths = Vec::with_capacity(count);
    for _ in 0..count {
        let k = take_u32(bytes, &mut at)?;
        let v = take_u32(bytes, &mut at)?;
        lengths.push((k, v));
    }
    let mut pairs = Vec::with_capacity(count);
    for (k, v) in lengths {
        let key = text(take(bytes, &mut at, k)?);
        if take(bytes, &mut at, 1)? != [0] {
            return Err(MapFormatError("key not NUL-terminated"));
        }
        let value = text(take(bytes, &mut at, v)?);
        if take(bytes, &mut at, 1)? != [0] {
            return Err(MapFormatError("value not NUL-terminated"));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn serializes_the_spec_example() {
        let bytes = serialize_pairs(&pairs(&[("a", "1"), ("b", "22")]));
        let mut want = vec![2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0];
        want.extend_from_slice(b"a\x001\x00b\x0022\x00");
        assert_eq!(bytes, want);
        assert_eq!(
            deserialize_pairs(&bytes).unwrap(),
            pairs(&[("a", "1"), ("b", "22")])
        );
    }

    #[test]
    fn empty_maps() {
        assert_eq!(serialize_pairs(&[]), vec![0, 0, 0, 0]);
        assert!(deserialize_pairs(&[]).unwrap().is_empty());
        assert!(deserialize_pairs(&[0]).unwrap().is_empty());
        assert!(deserialize_pairs(&[0, 0, 0, 0]).unwrap().is_empty());
    }

    #[test]
    fn malformed_maps_are_errors() {
        assert!(deserialize_pairs(&[1, 0, 0, 0]).is_err());
        let mut bytes = serialize_pairs(&pairs(&[("a", "1")]));
        bytes.pop();
        assert!(deserialize_pairs(&bytes).is_err());
        let mut bad_nul = serialize_pairs(&pairs(&[("a", "1")]));
        let last = bad_nul.len() - 1;
        bad_nul[last] = b'x';
        assert!(deserialize_pairs(&bad_nul).is_err());
        assert!(deserialize_pairs(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn names_are_lower_cased_and_first_value_wins() {
        let mut map = HeaderMap::from_pairs(&[("X-A", "1"), ("x-a", "2"), ("B", "3")]);
        assert_eq!(map.get("x-A"), Some("1"));
        assert_eq!(map.get_all("X-A"), vec!["1", "2"]);
        map.replace("X-A", "9");
        assert_eq!(map.pairs(), &pairs(&[("x-a", "9"), ("b", "3")])[..]);
        map.replace("c", "4");
        map.remove("B");
        assert_eq!(map.pairs(), &pairs(&[("x-a", "9"), ("c", "4")])[..]);
        let round = HeaderMap::deserialize(&map.serialize()).unwrap();
        assert_eq!(round, map);
    }
}
