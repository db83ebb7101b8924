//! Unique ids for decisions and events, unique across VMs and restarts.
//!
//! Each VM seeds a generator once from the system's randomness (WASI `random_get` inside the
//! proxy, through std's hasher keys) and the clock, then draws ids from it: a random UUID v4
//! per id without a host call per request.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

/// Draws UUID v4 strings from a per-VM seeded generator.
#[derive(Debug)]
pub struct IdGenerator {
    state: Cell<u64>,
}

impl IdGenerator {
    /// A generator seeded from the system's randomness and `salt` (e.g. the current time).
    pub fn seeded(salt: u64) -> Self {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        Self::from_seed(hasher.finish())
    }

    /// A generator with a fixed seed, for tests.
    pub fn from_seed(seed: u64) -> Self {
        Self {
            state: Cell::new(seed),
        }
    }

    /// splitmix64: small, fast, and every seed gives a full-period sequence.
    fn next_u64(&self) -> u64 {
        let next = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next id, formatted as a version-4 UUID.
    pub fn next_uuid(&self) -> String {
        let high = self.next_u64();
        let low = self.next_u64();
        // Version 4 in the 13th hex digit, variant 10xx in the 17th.
        let high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        // 8-4-4-4-12 lower-case hex digits, written directly (`format!` costs several times more).
        let nibbles = |x: u64| (0..16).rev().map(move |i| ((x >> (i * 4)) & 0xF) as u32);
        let mut text = String::with_capacity(36);
        for (at, nibble) in nibbles(high).chain(nibbles(low)).enumerate() {
            if matches!(at, 8 | 12 | 16 | 20) {
                text.push('-');
            }
            text.push(char::from_digit(nibble, 16).unwrap_or('0'));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_uuid_v4_shaped_and_distinct() {
        let ids = IdGenerator::from_seed(7);
        let drawn: Vec<String> = (0..10_000).map(|_| ids.next_uuid()).collect();
        let distinct: HashSet<&String> = drawn.iter().collect();
        assert_eq!(distinct.len(), drawn.len());
        for id in drawn.iter().take(100) {
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(&id[14..15], "4", "{id}");
            assert!("89ab".contains(&id[19..20]), "{id}");
        }
    }

    #[test]
    fn the_uuid_spells_the_drawn_bits() {
        let ids = IdGenerator::from_seed(42);
        let bits = IdGenerator::from_seed(42);
        for _ in 0..100 {
            let id = ids.next_uuid();
            let high = (bits.next_u64() & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
            let low = (bits.next_u64() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
            let expected = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                high >> 32,
                (high >> 16) & 0xFFFF,
                high & 0xFFFF,
                low >> 48,
                low & 0xFFFF_FFFF_FFFF
            );
            assert_eq!(id, expected);
        }
    }

    #[test]
    fn differently_seeded_generators_differ() {
        assert_ne!(
            IdGenerator::seeded(1).next_uuid(),
            IdGenerator::seeded(1).next_uuid()
        );
    }
}
