use super::*;
use crate::data::synthetic::SynthHead;
use crate::sweep::dataset::DatasetSpec;

fn head(s: &SynthHead) -> Head<'_, f32> {
    s.head().unwrap()
}

fn small_opts() -> SolverOptions {
    SolverOptions { band: 8, leaf: 4, force: Some(Force::Tree), ..Default::default() }
}

#[test]
fn forced_tree_is_sound_on_small_heads() {
    for (t, spec) in [
        DatasetSpec::Gaussian { scale: 1.0 },
        DatasetSpec::Clustered { clusters: 4, spread: 0.01, scale: 3.0 },
        DatasetSpec::Gaussian { scale: 8.0 },
    ]
    .iter()
    .enumerate()
    {
        let s = spec.generate(200, 8, 5, 11 + t as u64).unwrap();
        for mask in [Mask::Causal, Mask::StrictPrefix] {
            for tol in [1e-2, 1e-6] {
                let r = solve(&head(&s), mask, tol, &small_opts()).unwrap();
                assert!(r.plan.is_tree());
                assert!(r.max_cert() <= tol);
                for c in compare::check_rows(&head(&s), mask, &r, None) {
                    assert!(c.ok(), "{spec:?} {mask:?} tol {tol}: {c:?}");
                }
            }
        }
    }
}

#[test]
fn tree_accepts_nodes_on_tight_clusters() {
    let s = DatasetSpec::Clustered { clusters: 4, spread: 1e-5, scale: 2.0 }.generate(2048, 16, 4, 5).unwrap();
    let r = solve(
        &head(&s),
        Mask::Causal,
        1e-3,
        &SolverOptions { band: 64, max_work_fraction: 0.6, min_tree_n: 0, ..Default::default() },
    )
    .unwrap();
    assert!(r.plan.is_tree(), "{:?}", r.plan);
    assert!((r.stats.work as f64) < 0.2 * r.stats.exact_work as f64, "{:?}", r.stats);
    for c in compare::check_rows(&head(&s), Mask::Causal, &r, Some(&[2047, 1500, 700])) {
        assert!(c.ok(), "{c:?}");
    }
}

#[test]
fn planner_chooses_exact_without_structure() {
    // Isotropic Gaussian keys in d = 64 at ‖q‖‖k‖ ≈ 16: no node is tight enough.
    let s = DatasetSpec::Gaussian { scale: 4.0 }.generate(2048, 64, 8, 9).unwrap();
    let r = solve(&head(&s), Mask::Causal, 1e-3, &SolverOptions { band: 128, ..Default::default() }).unwrap();
    assert!(matches!(r.plan, Plan::Exact { .. }), "{:?}", r.plan);
    // The exact plan's certificate is the cheap Cauchy–Schwarz bound (theory::rounding::cheap_row_bounds);
    // it may send a few rows to the float64 path, but not a sizeable fraction of them here.
    assert!(r.stats.fallback_rows * 10 < 2048, "{} fallback rows", r.stats.fallback_rows);
    // The exact plan runs the f32 kernel; its certificate (theory::rounding) is far below tol and
    // bounds the true error.
    assert!(r.max_cert() <= 1e-3, "{}", r.max_cert());
    for c in compare::check_rows(&head(&s), Mask::Causal, &r, Some(&[2047, 1024, 1])) {
        assert!(c.ok(), "{c:?}");
    }
    // Small n: exact by rule.
    let s = DatasetSpec::Gaussian { scale: 1.0 }.generate(100, 4, 2, 1).unwrap();
    let r = solve(&head(&s), Mask::Causal, 1e-3, &SolverOptions::default()).unwrap();
    assert!(matches!(&r.plan, Plan::Exact { reason } if reason.contains("4·band")), "{:?}", r.plan);
}

#[test]
fn bad_inputs_are_errors() {
    let s = DatasetSpec::Gaussian { scale: 1.0 }.generate(16, 4, 2, 1).unwrap();
    let h = head(&s);
    assert!(solve(&h, Mask::Full, 1e-3, &SolverOptions::default()).is_err());
    assert!(solve(&h, Mask::Causal, 0.0, &SolverOptions::default()).is_err());
    assert!(solve(&h, Mask::Causal, f64::NAN, &SolverOptions::default()).is_err());
    // Below the rounding floor.
    let e = solve(&h, Mask::Causal, 1e-30, &SolverOptions::default()).unwrap_err().to_string();
    assert!(e.contains("rounding floor"), "{e}");
    let mut q = s.q.clone();
    q[3] = f32::NAN;
    let bad = Head { q: &q, ..h };
    let e = solve(&bad, Mask::Causal, 1e-3, &SolverOptions::default()).unwrap_err().to_string();
    assert!(e.contains("non-finite"), "{e}");
}

#[test]
fn n_one_and_d_one() {
    let s = DatasetSpec::Gaussian { scale: 1.0 }.generate(1, 1, 1, 2).unwrap();
    let r = solve(&head(&s), Mask::Causal, 1e-6, &small_opts()).unwrap();
    assert_eq!(r.out.len(), 1);
    assert!((r.out[0] - s.v[0] as f64).abs() <= r.cert[0]);
    let r = solve(&head(&s), Mask::StrictPrefix, 1e-6, &small_opts()).unwrap();
    assert!(r.out.is_empty());
}

#[test]
fn first_order_terms_are_used_and_sound_on_peaked_clusters() {
    // Large ‖q‖ over tight clusters: the zeroth-order factor e^Δ − 1 ≈ Δ rejects the dominant cluster
    // at tol 1e-4, the first-order factor ≈ Δ²/2 accepts it.
    let s = DatasetSpec::Clustered { clusters: 8, spread: 1e-3, scale: 6.0 }.generate(1024, 16, 4, 7).unwrap();
    let vmax = crate::theory::fp::max_abs_f64(&s.v);
    for first_order in [false, true] {
        let opts = SolverOptions { band: 32, leaf: 8, first_order, force: Some(Force::Tree), ..Default::default() };
        for mask in [Mask::Causal, Mask::StrictPrefix] {
            let r = solve(&head(&s), mask, 1e-4 * vmax, &opts).unwrap();
            assert!(r.max_cert() <= 1e-4 * vmax);
            for c in compare::check_rows(&head(&s), mask, &r, None) {
                assert!(c.ok(), "first_order {first_order} {mask:?}: {c:?}");
            }
        }
    }
    // The first-order path does less work here.
    let work = |first_order| {
        let opts = SolverOptions { band: 32, leaf: 8, first_order, force: Some(Force::Tree), ..Default::default() };
        solve(&head(&s), Mask::Causal, 1e-4 * vmax, &opts).unwrap().stats.work
    };
    let (w0, w1) = (work(false), work(true));
    assert!(w1 < w0, "work zeroth order {w0}, first order {w1}");
}

#[test]
fn large_trees_from_a_skeleton_are_sound() {
    // n ≥ skeleton::SKELETON_MIN: the top of the tree is built from a sample and its radii are
    // triangle-inequality bounds; forced tree plan, rows all over the range checked against float64.
    let n = super::skeleton::SKELETON_MIN + 3000;
    for (t, spec) in [
        DatasetSpec::Clustered { clusters: 32, spread: 1e-3, scale: 2.0 },
        DatasetSpec::Clustered { clusters: 8, spread: 1e-3, scale: 6.0 },
    ]
    .iter()
    .enumerate()
    {
        let s = spec.generate(n, 8, 4, 40 + t as u64).unwrap();
        let vmax = crate::theory::fp::max_abs_f64(&s.v);
        let opts = SolverOptions { force: Some(Force::Tree), ..Default::default() };
        let r = solve(&head(&s), Mask::Causal, 1e-3 * vmax, &opts).unwrap();
        assert!(r.plan.is_tree());
        let rows: Vec<usize> = (0..n).step_by(97).chain([n - 1]).collect();
        for c in compare::check_rows(&head(&s), Mask::Causal, &r, Some(&rows)) {
            assert!(c.ok(), "{spec:?}: {c:?}");
        }
        assert!((r.stats.work as f64) < 0.2 * r.stats.exact_work as f64, "{spec:?}: {:?}", r.stats);
    }
}

#[test]
fn float32_block_products_are_sound() {
    // Moderate ‖q‖ over tight clusters at tol 1e-3·max|v|: the rounding floor of the float32 block
    // products is small, so the tree path uses them; every row is checked against float64, with values
    // of mixed sign, tiny (subnormal in f32 after weighting) and large magnitudes.
    let base = DatasetSpec::Clustered { clusters: 16, spread: 1e-4, scale: 2.0 }.generate(3000, 16, 5, 21).unwrap();
    for (label, vscale) in [("unit", 1.0f32), ("tiny", 1e-36), ("large", 1e20)] {
        let mut s = base.clone();
        s.v.iter_mut().enumerate().for_each(|(j, x)| *x = (*x + if j % 2 == 0 { 3.0 } else { -3.0 }) * vscale);
        let vmax = crate::theory::fp::max_abs_f64(&s.v);
        let tol = 1e-3 * vmax;
        for f32_products in [true, false] {
            let opts = SolverOptions { band: 64, force: Some(Force::Tree), f32_products, ..Default::default() };
            for mask in [Mask::Causal, Mask::StrictPrefix] {
                let r = solve(&head(&s), mask, tol, &opts).unwrap();
                assert_eq!(r.stats.f32_products, f32_products, "{label}");
                assert!(r.max_cert() <= tol);
                for c in compare::check_rows(&head(&s), mask, &r, None) {
                    assert!(c.ok(), "{label} f32 {f32_products} {mask:?}: {c:?}");
                }
            }
        }
    }
    // A tolerance below the float32 floor keeps the float64 products.
    let r = solve(&head(&base), Mask::Causal, 1e-7, &SolverOptions { force: Some(Force::Tree), ..Default::default() })
        .unwrap();
    assert!(!r.stats.f32_products);
}

#[test]
fn persistent_workers_give_the_same_bits_for_any_thread_count() {
    // The tree plan runs its chunks on persistent threads (workers.rs): the same outputs and
    // certificates, bit for bit, for 1, 2 and 3 threads, causal and strict prefix, with and without
    // first-order moments and float64 fallback rows.
    let s = DatasetSpec::Clustered { clusters: 24, spread: 1e-3, scale: 3.0 }.generate(2500, 16, 6, 33).unwrap();
    let vmax = crate::theory::fp::max_abs_f64(&s.v);
    // share = 1000 lets the budget rule accept nodes whose errors add up beyond tol: those rows fall
    // back to the float64 path inside the workers (per block, as on the pool).
    for (tol, first_order, share) in [(1e-3 * vmax, false, 0.4), (1e-3 * vmax, false, 1000.0), (1e-3 * vmax, true, 0.4)]
    {
        for mask in [Mask::Causal, Mask::StrictPrefix] {
            let opts = SolverOptions {
                band: 96,
                light_band: 40,
                first_order,
                share,
                force: Some(Force::Tree),
                ..Default::default()
            };
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                // Inside the pool the workers would default to one thread: ask for the pool's size.
                pool.install(|| solve(&head(&s), mask, tol, &SolverOptions { threads, ..opts.clone() }).unwrap())
            };
            let one = run(1);
            for threads in [2, 3] {
                let r = run(threads);
                assert_eq!(r.out, one.out, "tol {tol} {mask:?} threads {threads}");
                assert_eq!(r.cert, one.cert, "tol {tol} {mask:?} threads {threads}");
                assert_eq!(r.stats.work, one.stats.work);
                assert_eq!(r.stats.fallback_rows, one.stats.fallback_rows);
            }
            assert_eq!(
                one.stats.fallback_rows > 0,
                share > 1.0,
                "share {share}: {} fallback rows",
                one.stats.fallback_rows
            );
            for c in compare::check_rows(&head(&s), mask, &one, None) {
                assert!(c.ok(), "tol {tol} {mask:?}: {c:?}");
            }
        }
    }
}

#[test]
fn stage_one_probes_with_moments_where_zeroth_order_falls_short() {
    // Large ‖q‖ over 16 tight clusters: at zeroth order the n/8 probe does too much work (the
    // zeroth-order factor e^Δ − 1 rejects the dominant clusters), so without first-order terms the
    // plan is exact; with them, stage 1 repeats its probe with moments and takes the tree there,
    // keeping the moments for the solve.
    let (n, d) = (8192, 16);
    let s = DatasetSpec::Clustered { clusters: 16, spread: 1e-4, scale: 6.0 }.generate(n, d, d, 3).unwrap();
    let tol = 1e-3 * crate::theory::fp::max_abs_f64(&s.v);
    let opts = |first_order| SolverOptions { band: 64, min_tree_n: 0, first_order, ..Default::default() };
    let r = solve(&head(&s), Mask::Causal, tol, &opts(false)).unwrap();
    assert!(matches!(r.plan, Plan::Exact { .. }), "zeroth order only: {:?}", r.plan);
    let r = solve(&head(&s), Mask::Causal, tol, &opts(true)).unwrap();
    assert!(matches!(r.plan, Plan::Tree { stage: 1, .. }), "{:?}", r.plan);
    assert!(r.stats.first_order_terms > 0 && r.stats.work * 20 < r.stats.exact_work, "{:?}", r.stats);
    assert!(r.max_cert() <= tol);
    for c in compare::check_rows(&head(&s), Mask::Causal, &r, Some(&[n - 1, n / 2, n / 8, 100])) {
        assert!(c.ok(), "{c:?}");
    }
}

/// The fused frontier passes ([`SolverOptions::fused_passes`], AVX-512 only) give the bits of the
/// separate ones: outputs, certificates and work, on heads where rows take the fused path, the
/// general path (rejected nodes, walks) and the fused path with nodes below the skip cut. Where the
/// CPU lacks AVX-512 both solves run the separate passes and the comparison holds trivially.
#[test]
fn fused_frontier_passes_give_the_bits_of_the_separate_ones() {
    // 24 tight clusters at c·e₁, c evenly from +20 to −20, under queries ≈ 20·e₁: the lowest score
    // 800 nats below the highest, so fused rows also skip nodes below the cut (lane part and tail).
    let far = {
        use rand::RngExt;
        let (n, d) = (1500usize, 4usize);
        let mut rng = crate::rng::seeded(75);
        let mut k = vec![0f32; n * d];
        let mut q = vec![0f32; n * d];
        for j in 0..n {
            let centre = 20.0 - 40.0 * rng.random_range(0..24usize) as f32 / 23.0;
            k[j * d] = centre;
            q[j * d] = 20.0 + rng.random_range(-0.5f32..0.5);
            for l in 1..d {
                k[j * d + l] = rng.random_range(-1e-6f32..1e-6);
                q[j * d + l] = rng.random_range(-0.5f32..0.5);
            }
        }
        let v: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        SynthHead { n, d, dv: d, q, k, v }
    };
    let mut fused_total = (0usize, 0usize);
    for (t, (spec, d, tol)) in [
        (Some(DatasetSpec::Clustered { clusters: 13, spread: 1e-5, scale: 2.0 }), 16, 1e-3),
        (Some(DatasetSpec::Clustered { clusters: 37, spread: 1e-4, scale: 2.0 }), 32, 1e-3),
        (Some(DatasetSpec::Clustered { clusters: 8, spread: 1e-3, scale: 6.0 }), 16, 1e-4),
        (Some(DatasetSpec::Clustered { clusters: 8, spread: 1e-3, scale: 6.0 }), 16, 1e-2),
        (Some(DatasetSpec::Clustered { clusters: 21, spread: 1e-6, scale: 40.0 }), 8, 1e-3),
        (Some(DatasetSpec::Gaussian { scale: 1.0 }), 8, 1e-2),
        (None, 4, 1e-2),
    ]
    .into_iter()
    .enumerate()
    {
        let s = match &spec {
            None => SynthHead { n: far.n, d: far.d, dv: far.dv, q: far.q.clone(), k: far.k.clone(), v: far.v.clone() },
            Some(spec) => spec.generate(1500, d, 4, 70 + t as u64).unwrap(),
        };
        let vmax = crate::theory::fp::max_abs_f64(&s.v);
        for mask in [Mask::Causal, Mask::StrictPrefix] {
            let run = |fused_passes| {
                let opts =
                    SolverOptions { band: 64, leaf: 8, force: Some(Force::Tree), fused_passes, ..Default::default() };
                solve(&head(&s), mask, tol * vmax, &opts).unwrap()
            };
            let (a, b) = (run(true), run(false));
            assert!(a.plan.is_tree(), "{spec:?}: {:?}", a.plan);
            let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.out), bits(&b.out), "{spec:?} {mask:?}: outputs");
            assert_eq!(bits(&a.cert), bits(&b.cert), "{spec:?} {mask:?}: certificates");
            assert_eq!(a.stats.work, b.stats.work, "{spec:?} {mask:?}: work");
            assert_eq!(b.stats.fused_rows, 0);
            // The fused passes run with float32 block products only (tol 1e-4 here has none).
            if a.stats.f32_products {
                fused_total.0 += a.stats.fused_rows;
                fused_total.1 += a.cert.len();
            }
        }
    }
    if super::frontier_simd::available() {
        // Both paths ran: some rows fused, some not.
        assert!(fused_total.0 > 0 && fused_total.0 < fused_total.1, "fused rows {fused_total:?}");
    }
}
