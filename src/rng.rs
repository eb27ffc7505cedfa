//! All randomness flows from `rand_pcg::Pcg64Mcg` seeded from a configuration seed and the
//! parameters of the point being computed, never from a thread RNG: the same seed gives the same
//! numbers whatever the thread count.
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// A generator for stream `stream` of the base `seed` (SplitMix64 mixing of both), so that the
/// numbers of one trial do not depend on which thread ran the trials before it.
pub fn stream(seed: u64, stream: u64) -> Pcg64Mcg {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    };
    let lo = next() as u128;
    let hi = next() as u128;
    Pcg64Mcg::new((hi << 64) | lo | 1)
}

/// A generator from a seed alone.
pub fn seeded(seed: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(seed)
}
