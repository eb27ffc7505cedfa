//! `ivww.reads`: Algorithm 1 reads at most (n+m)(s+1) entries and returns rank ≤ k factors, for any
//! point set, metric, k, ε.
use crate::common::*;
use attnproof::theory::ivww::{DistOracle, Metric, algorithm1};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn reads_are_within_the_derived_budget(n in 4usize..=60, m in 4usize..=60, d in 1usize..=6, metric in 0usize..4, k in 1usize..=4, eps in 0.1f64..1.0, c in 0.5f64..8.0, sym: bool, seed: u64) {
        let h = head(seed, n.max(m), d, 1, 1.0);
        let (x, y) = (widen(&h.q[..n * d]), widen(&h.k[..m * d]));
        let metric = Metric::from_index(metric).unwrap();
        let o = if sym { DistOracle::symmetric(&x, d, metric).unwrap() } else { DistOracle::bipartite(&x, &y, d, metric).unwrap() };
        let mut rng = attnproof::rng::seeded(seed ^ 1);
        let a = algorithm1(&o, k, eps, c, &mut rng).unwrap();
        let s = ((c * k as f64 / eps).ceil() as usize).clamp(1, o.n.min(o.m));
        prop_assert_eq!(a.s, s);
        prop_assert!(a.reads as usize <= (o.n + o.m) * (s + 1), "{} reads > {}", a.reads, (o.n + o.m) * (s + 1));
        prop_assert!(a.u.ncols() <= k && a.v.ncols() == a.u.ncols());
        prop_assert!(a.matrix().iter().all(|v| v.is_finite()));
    }
}
