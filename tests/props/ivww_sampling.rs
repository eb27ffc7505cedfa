//! `ivww.sampling`: the step-2 weights over every (i*, j*) dominate the row norms with the published
//! constants, and their exhaustive average is 3‖A‖²/m (symmetric 2‖A‖²/n) to summation rounding.
use crate::common::*;
use attnproof::checks::ivww_sampling::{bipartite, symmetric};
use attnproof::theory::ivww::{DistOracle, Metric};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn weights_dominate_row_norms_and_average_exactly(n in 2usize..=24, m in 2usize..=24, d in 1usize..=8, metric in 0usize..4, log_scale in -3.0f64..3.0, seed: u64) {
        let h = head(seed, n.max(m), d, 1, 10f64.powf(log_scale));
        let (x, y) = (widen(&h.q[..n * d]), widen(&h.k[..m * d]));
        let metric = Metric::from_index(metric).unwrap();
        let a = DistOracle::bipartite(&x, &y, d, metric).unwrap().full();
        let b = bipartite(&a);
        prop_assert!(b.max_row_ratio <= metric.row_norm_factor(), "{} > {}", b.max_row_ratio, metric.row_norm_factor());
        let t = 3.0 * b.frob_over;
        prop_assert!((b.avg_sum - t).abs() <= b.gamma * t.max(b.avg_sum));
        let s = symmetric(&DistOracle::symmetric(&y, d, metric).unwrap().full());
        prop_assert!(s.max_row_ratio <= metric.sym_row_norm_factor());
        let ts = 2.0 * s.frob_over;
        prop_assert!((s.avg_sum - ts).abs() <= s.gamma * ts.max(s.avg_sum));
    }
}
