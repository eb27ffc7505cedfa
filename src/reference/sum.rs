//! Compensated summation (Neumaier's variant of Kahan summation).
//!
//! For s = Σ xᵢ computed with [`Neumaier`], |ŝ − s| ≤ 2u·|s| + O(n u²)·Σ|xᵢ| (Higham, *Accuracy and
//! Stability of Numerical Algorithms*, 2nd ed., §4.3), u = 2⁻⁵³: the error no longer grows with n at
//! first order, which is what makes the float64 reference an oracle for f32 paths.

/// Running compensated sum.
#[derive(Debug, Clone, Copy, Default)]
pub struct Neumaier {
    sum: f64,
    comp: f64,
}

impl Neumaier {
    pub fn new() -> Self {
        Self::default()
    }
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }
    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// Σ xᵢ, compensated.
pub fn sum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut s = Neumaier::new();
    for x in xs {
        s.add(x);
    }
    s.value()
}

/// Σ aᵢ bᵢ, compensated over the products (each product rounded once).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    sum(a.iter().zip(b).map(|(x, y)| x * y))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn cancels_where_naive_summation_loses_everything() {
        let xs = [1.0, 1e100, 1.0, -1e100];
        assert_eq!(sum(xs), 2.0);
        assert_eq!(xs.iter().sum::<f64>(), 0.0);
    }
}
