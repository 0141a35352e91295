//! The simulator's random numbers: SplitMix64 seeded from a SHA-256 of the
//! tick id and a stream name.
//!
//! Hand-rolled rather than `rand`'s `StdRng` because `StdRng` promises no
//! stable output across `rand` releases, and a recorded tick id must replay
//! the same tick after a dependency update. Separate named streams keep
//! unrelated decisions apart: whether a call is a mistake must not shift
//! which tools the plan picks, so two archetypes with the same seed make the
//! same plan until a mistake's error changes what they observe.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: &str, stream: &str) -> Rng {
        let digest = Sha256::new()
            .chain_update(stream.as_bytes())
            .chain_update([0])
            .chain_update(seed.as_bytes())
            .finalize();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        Rng(u64::from_le_bytes(bytes))
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// Uniform in `[low, high]`; `low` when the range is empty.
    pub(super) fn range(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        let span = high.abs_diff(low).saturating_add(1);
        low.saturating_add_unsigned(self.next_u64() % span)
    }

    /// Uniform index below `len`; 0 for an empty range.
    pub(super) fn index(&mut self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        (self.next_u64() % len as u64) as usize
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let index = self.index(items.len());
        items.get(index)
    }

    /// An index drawn in proportion to `weights`; `None` when no weight is
    /// positive.
    pub(super) fn weighted(&mut self, weights: &[f64]) -> Option<usize> {
        let total: f64 = weights.iter().filter(|weight| **weight > 0.0).sum();
        if total <= 0.0 || !total.is_finite() {
            return None;
        }
        let mut target = self.unit() * total;
        let mut last = None;
        for (index, weight) in weights.iter().enumerate() {
            if *weight <= 0.0 {
                continue;
            }
            if target < *weight {
                return Some(index);
            }
            target -= weight;
            last = Some(index);
        }
        // Rounding can leave a sliver past the last positive weight.
        last
    }

    pub(super) fn bytes16(&mut self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes
    }
}
