//! Seeded randomness: one xorshift generator per machine, seeded from (run seed, id).

use crate::MachineId;
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

/// SplitMix64 finaliser: spreads nearby inputs (seed, seed + 1, ...) far apart.
pub const fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator of machine `id` in a run seeded with `seed`.
pub fn machine_rng(seed: u64, id: MachineId) -> XorShiftRng {
    XorShiftRng::seed_from_u64(splitmix64(seed ^ splitmix64(u64::from(id) + 1)))
}

/// A uniform integer in `0..n` (`n >= 1`), without modulo bias (rejection sampling). The
/// faults' jitter has its own, other draws ([`crate::faults::uniform`] says why).
pub fn below(rng: &mut impl Rng, n: u32) -> u32 {
    debug_assert!(n > 0);
    let n = n.max(1);
    let threshold = n.wrapping_neg() % n;
    loop {
        let v = rng.next_u32();
        if v >= threshold {
            return v % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_is_roughly_uniform() {
        let mut rng = machine_rng(42, 0);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[below(&mut rng, 6) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn machines_get_different_streams() {
        let a = machine_rng(1, 0).next_u64();
        let b = machine_rng(1, 1).next_u64();
        let c = machine_rng(2, 0).next_u64();
        assert!(a != b && a != c && b != c);
        assert_eq!(a, machine_rng(1, 0).next_u64());
    }
}
