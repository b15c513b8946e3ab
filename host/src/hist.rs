//! A histogram of integer values: quantiles in memory bounded by distinct values.

use std::collections::BTreeMap;

/// A histogram of integer values.
#[derive(Debug, Clone, Default)]
pub struct Hist {
    counts: BTreeMap<i64, u64>,
    n: u64,
    sum: i128,
}

impl Hist {
    /// Adds one value.
    pub fn add(&mut self, v: i64) {
        *self.counts.entry(v).or_default() += 1;
        self.n += 1;
        self.sum += i128::from(v);
    }
    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Self) {
        for (&v, &c) in &other.counts {
            *self.counts.entry(v).or_default() += c;
        }
        self.n += other.n;
        self.sum += other.sum;
    }
    /// Number of values.
    pub fn count(&self) -> u64 {
        self.n
    }
    /// Sum of the values.
    pub fn sum(&self) -> i128 {
        self.sum
    }
    /// Mean, or 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum as f64 / self.n as f64
        }
    }
    /// The `q`-quantile by nearest rank (q in 0..=1), or 0 when empty.
    pub fn quantile(&self, q: f64) -> i64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (&v, &c) in &self.counts {
            seen += c;
            if seen >= rank {
                return v;
            }
        }
        *self.counts.keys().next_back().unwrap_or(&0)
    }
    /// Smallest value, or 0.
    pub fn min(&self) -> i64 {
        self.counts.keys().next().copied().unwrap_or(0)
    }
    /// Largest value, or 0.
    pub fn max(&self) -> i64 {
        self.counts.keys().next_back().copied().unwrap_or(0)
    }
    /// (value, count) pairs in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.counts.iter().map(|(&v, &c)| (v, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_is_adding_every_value() {
        let (mut a, mut b, mut both) = (Hist::default(), Hist::default(), Hist::default());
        for v in [5, -3, 5, 9] {
            a.add(v);
            both.add(v);
        }
        for v in [1, 5, 100] {
            b.add(v);
            both.add(v);
        }
        a.merge(&b);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            both.iter().collect::<Vec<_>>()
        );
        assert_eq!((a.count(), a.sum()), (both.count(), both.sum()));
        assert_eq!(a.quantile(0.5), 5);
    }
}
