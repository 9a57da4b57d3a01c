//! A seeded random source for the property tests of `volley-common` and `volley-proto`
//! (splitmix64): no extra crate, and a failing case repeats exactly from its seed.
//!
//! One copy for both crates: proto's tests include this file by path. A `test-support` feature
//! of `volley-common` would do the same through the API, but cargo unifies features over the
//! packages one command builds, so `cargo test --workspace` and `cargo test -p volley` would
//! build `volley-common` with different features, and every crate above it twice.

// Each crate that includes the file uses part of it.
#![allow(dead_code)]

/// splitmix64 from a seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1): may be 0.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in (0, 1): never 0, so its logarithm is finite.
    pub(crate) fn open_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller over two [`Rng::open_unit`] draws).
    pub(crate) fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.open_unit(), self.open_unit());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
