//! Key index distributions over a keyspace `[0, N)`: uniform, sequential,
//! Zipfian and Gaussian. All draws come from a caller-owned seeded RNG so a run
//! can be repeated exactly.

use rand::Rng;

/// How key indices are drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyDistribution {
    /// Every key equally likely.
    Uniform,
    /// 0, 1, 2, … wrapping at the keyspace; each connection starts at its own
    /// offset so connections do not all hit the same key.
    Sequential,
    /// Zipf with exponent `s` (> 0): key 0 is the most popular.
    Zipf(f64),
    /// Normal around `mean` with `stddev`, redrawn when it falls outside.
    Gaussian { mean: f64, stddev: f64 },
}

/// Per-connection sampler state.
#[derive(Debug, Clone)]
pub struct KeySampler {
    keyspace: u64,
    kind: SamplerKind,
}

#[derive(Debug, Clone)]
enum SamplerKind {
    Uniform,
    Sequential { next: u64 },
    Zipf(ZipfSampler),
    Gaussian { mean: f64, stddev: f64 },
}

impl KeySampler {
    /// `start` only matters for the sequential distribution.
    pub fn new(distribution: &KeyDistribution, keyspace: u64, start: u64) -> KeySampler {
        let keyspace = keyspace.max(1);
        let kind = match *distribution {
            KeyDistribution::Uniform => SamplerKind::Uniform,
            KeyDistribution::Sequential => SamplerKind::Sequential { next: start % keyspace },
            KeyDistribution::Zipf(s) => SamplerKind::Zipf(ZipfSampler::new(keyspace, s)),
            KeyDistribution::Gaussian { mean, stddev } => {
                SamplerKind::Gaussian { mean, stddev: stddev.max(f64::MIN_POSITIVE) }
            }
        };
        KeySampler { keyspace, kind }
    }

    /// Next key index in `[0, keyspace)`.
    pub fn next<R: Rng>(&mut self, rng: &mut R) -> u64 {
        match &mut self.kind {
            SamplerKind::Uniform => rng.gen_range(0..self.keyspace),
            SamplerKind::Sequential { next } => {
                let key = *next;
                *next = (*next + 1) % self.keyspace;
                key
            }
            SamplerKind::Zipf(zipf) => zipf.sample(rng) - 1,
            SamplerKind::Gaussian { mean, stddev } => {
                // Redraw outside the keyspace; after a bounded number of misses
                // (absurd parameters) clamp rather than loop forever.
                for _ in 0..64 {
                    let value = *mean + *stddev * standard_normal(rng);
                    if value >= 0.0 && value < self.keyspace as f64 {
                        return value as u64;
                    }
                }
                mean.clamp(0.0, (self.keyspace - 1) as f64) as u64
            }
        }
    }
}

/// Box-Muller: one standard normal draw.
fn standard_normal<R: Rng>(rng: &mut R) -> f64 {
    // gen::<f64>() is in [0, 1); 1 - u is in (0, 1] so ln never sees zero.
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Zipf over ranks `1..=n` by rejection-inversion (Hörmann and Derflinger,
/// "Rejection-inversion to generate variates from monotone discrete
/// distributions", 1996): O(1) per draw and no table, so a keyspace of
/// billions costs nothing to set up.
#[derive(Debug, Clone)]
pub struct ZipfSampler {
    n: f64,
    exponent: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    s: f64,
}

impl ZipfSampler {
    /// `exponent` must be positive; it is clamped to a tiny positive value otherwise.
    pub fn new(n: u64, exponent: f64) -> ZipfSampler {
        let exponent = if exponent > 0.0 { exponent } else { 1e-9 };
        let mut zipf = ZipfSampler {
            n: n.max(1) as f64,
            exponent,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            s: 0.0,
        };
        zipf.h_integral_x1 = zipf.h_integral(1.5) - 1.0;
        zipf.h_integral_n = zipf.h_integral(zipf.n + 0.5);
        zipf.s = 2.0 - zipf.h_integral_inverse(zipf.h_integral(2.5) - zipf.h(2.0));
        zipf
    }

    /// A rank in `1..=n`.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> u64 {
        loop {
            let u = self.h_integral_n + rng.gen::<f64>() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.s || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.exponent * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        expm1_over_x((1.0 - self.exponent) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.exponent)).max(-1.0);
        (ln1p_over_x(t) * x).exp()
    }
}

/// `ln(1 + x) / x`, continuous at 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1) / x`, continuous at 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn histogram(distribution: KeyDistribution, keyspace: u64, draws: usize) -> Vec<u64> {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut sampler = KeySampler::new(&distribution, keyspace, 0);
        let mut counts = vec![0u64; keyspace as usize];
        for _ in 0..draws {
            let key = sampler.next(&mut rng);
            assert!(key < keyspace);
            counts[key as usize] += 1;
        }
        counts
    }

    #[test]
    fn zipf_frequencies_follow_the_power_law() {
        let keyspace = 100;
        let exponent = 0.99;
        let draws = 400_000;
        let counts = histogram(KeyDistribution::Zipf(exponent), keyspace, draws);
        let norm: f64 = (1..=keyspace).map(|k| (k as f64).powf(-exponent)).sum();
        for rank in [1u64, 2, 5, 10, 50] {
            let expected = draws as f64 * (rank as f64).powf(-exponent) / norm;
            let got = counts[rank as usize - 1] as f64;
            assert!(
                (got - expected).abs() / expected < 0.1,
                "rank {rank}: got {got}, want {expected}"
            );
        }
    }

    #[test]
    fn zipf_handles_exponent_one_and_large() {
        for exponent in [1.0, 1.5, 0.5] {
            let counts = histogram(KeyDistribution::Zipf(exponent), 1000, 50_000);
            assert!(counts[0] > counts[9], "exponent {exponent}");
        }
    }

    #[test]
    fn uniform_covers_keyspace_evenly() {
        let counts = histogram(KeyDistribution::Uniform, 10, 100_000);
        for count in counts {
            assert!((9_000..11_000).contains(&count), "{count}");
        }
    }

    #[test]
    fn sequential_wraps_from_its_start() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut sampler = KeySampler::new(&KeyDistribution::Sequential, 5, 3);
        let keys: Vec<u64> = (0..7).map(|_| sampler.next(&mut rng)).collect();
        assert_eq!(keys, vec![3, 4, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn gaussian_centres_on_its_mean() {
        let counts =
            histogram(KeyDistribution::Gaussian { mean: 500.0, stddev: 50.0 }, 1000, 100_000);
        let within_one_sigma: u64 = counts[450..550].iter().sum();
        let share = within_one_sigma as f64 / 100_000.0;
        assert!((0.64..0.72).contains(&share), "{share}");
    }

    #[test]
    fn same_seed_same_keys() {
        let draw = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut sampler = KeySampler::new(&KeyDistribution::Zipf(0.99), 1_000_000, 0);
            (0..100).map(|_| sampler.next(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }
}
