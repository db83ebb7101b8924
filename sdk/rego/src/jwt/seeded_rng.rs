//! Randomness for RSA signing: the PSS salt and the blinding factor that keeps the private
//! exponent's timing from leaking.
//!
//! The seed comes from the system once per signature (`getrandom`: WASI `random_get` inside
//! the proxy, which regorus' `rand.intn` and `uuid.rfc4122` already rely on), and is stretched
//! with SHA-512 in counter mode. Seeding is the only step that can fail, and it fails as an
//! error before anything is signed: the `rsa` crate draws through the infallible
//! `RngCore::fill_bytes`, which must never panic in the proxy.

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha512};

use super::JwtError;

const BLOCK: usize = 64;

/// SHA-512(seed || counter) blocks, drawn in order.
pub(super) struct SeededRng {
    seed: [u8; BLOCK],
    counter: u64,
    block: [u8; BLOCK],
    used: usize,
}

impl SeededRng {
    /// A generator seeded with 64 bytes of system randomness.
    pub(super) fn from_system() -> Result<Self, JwtError> {
        let mut seed = [0; BLOCK];
        getrandom::fill(&mut seed).map_err(|_| JwtError::NoRandomness)?;
        Ok(Self::from_seed(seed))
    }

    fn from_seed(seed: [u8; BLOCK]) -> Self {
        Self {
            seed,
            counter: 0,
            block: [0; BLOCK],
            used: BLOCK,
        }
    }

    fn refill(&mut self) {
        let mut hash = Sha512::new();
        hash.update(self.seed);
        hash.update(self.counter.to_be_bytes());
        self.block = hash.finalize().into();
        self.counter = self.counter.wrapping_add(1);
        self.used = 0;
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest.iter_mut() {
            if self.used >= BLOCK {
                self.refill();
            }
            if let Some(drawn) = self.block.get(self.used) {
                *byte = *drawn;
            }
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for SeededRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_the_counter_mode_stream_across_calls() {
        let mut rng = SeededRng::from_seed([7; BLOCK]);
        let mut first = [0u8; 100];
        rng.fill_bytes(&mut first);
        let mut again = SeededRng::from_seed([7; BLOCK]);
        let (mut a, mut b) = ([0u8; 30], [0u8; 70]);
        again.fill_bytes(&mut a);
        again.fill_bytes(&mut b);
        assert_eq!([a.as_slice(), b.as_slice()].concat(), first);
        let block0 = Sha512::new()
            .chain_update([7; BLOCK])
            .chain_update(0u64.to_be_bytes())
            .finalize();
        assert_eq!(first.get(..BLOCK), Some(block0.as_slice()));
    }

    #[test]
    fn system_seeds_differ() {
        let mut a = SeededRng::from_system().unwrap_or_else(|e| panic!("{e}"));
        let mut b = SeededRng::from_system().unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
