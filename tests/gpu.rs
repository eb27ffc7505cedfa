//! GPU backends against the float64 reference, one test per backend (`wgpu`, `cuda`). A backend
//! that is not compiled in or finds no adapter/driver skips with a one-line reason — unless
//! `REQUIRE_GPU=1`, which turns a skip into a failure (for machines that must have one).
use attnproof::data::synthetic;
use attnproof::gpu::{self, Backend, GpuUnavailable};
use attnproof::reference::{Head, Mask, attention_f64, widen};

#[allow(dead_code)]
fn skip(name: &str, why: &GpuUnavailable) {
    if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_GPU=1 but the {name} backend is unavailable: {why}");
    }
    println!("SKIP {name}: {why}");
}

/// Every output element within the kernel's rounding bound; returns the worst error/bound ratio.
#[allow(dead_code)]
fn check_against_reference(b: &dyn Backend, h: &Head<'_, f32>, causal: bool) -> f64 {
    let got = b.attention(h, causal).expect("kernel runs");
    let (q, k, v) = (widen(h.q), widen(h.k), widen(h.v));
    let h64 = Head::new(&q, &k, &v, h.nq, h.d, h.dv).unwrap();
    let want = attention_f64(&h64, if causal { Mask::Causal } else { Mask::Full }).out;
    let bounds = gpu::bound::head_bounds(h, causal);
    let mut worst: f64 = 0.0;
    for (idx, ((g, w), bd)) in got.iter().zip(&want).zip(&bounds).enumerate() {
        let err = (*g as f64 - w).abs();
        assert!(
            err <= *bd,
            "{}: element {idx} (row {}): |{g} − {w}| = {err:e} > bound {bd:e}",
            b.device_name(),
            idx / h.dv
        );
        worst = worst.max(err / bd);
    }
    worst
}

#[allow(dead_code)]
fn exercise(b: &dyn Backend) {
    println!("device: {}", b.device_name());
    let mut rng = attnproof::rng::seeded(20261125);
    let mut worst: f64 = 0.0;
    for &(n, d, dv, scale) in
        &[(1, 1, 1, 1.0), (17, 8, 3, 2.0), (64, 32, 32, 3.0), (130, 64, 64, 1.0), (200, 16, 16, 8.0)]
    {
        let s = synthetic::gaussian(&mut rng, n, d, dv, scale);
        let h = Head::new(&s.q, &s.k, &s.v, n, d, dv).unwrap();
        for causal in [true, false] {
            worst = worst.max(check_against_reference(b, &h, causal));
        }
    }
    // A real head (MiniLM layer 0 head 0 of the shipped slice: ‖k‖ up to 25).
    let heads = attnproof::data::load_heads(&attnproof::data::shipped_slice()).unwrap();
    let r = &heads[0];
    let h = Head::new(&r.q, &r.k, &r.v, r.n, r.d, r.dv()).unwrap();
    worst = worst.max(check_against_reference(b, &h, true));
    println!("worst error/bound ratio: {worst:.3e}");
    // GEMM against f64.
    let (m, n, k) = (33, 47, 70);
    let a = synthetic::vector(&mut rng, m * k, 1.0);
    let bm = synthetic::vector(&mut rng, k * n, 1.0);
    let c = b.matmul(&a, &bm, m, n, k).unwrap();
    for i in 0..m {
        for j in 0..n {
            let (mut exact, mut abs) = (0.0f64, 0.0f64);
            for l in 0..k {
                let p = a[i * k + l] as f64 * bm[l * n + j] as f64;
                exact += p;
                abs += p.abs();
            }
            let bound = attnproof::theory::fp::gamma(k, attnproof::theory::fp::U32) * abs + 1e-30;
            assert!((c[i * n + j] as f64 - exact).abs() <= bound, "matmul ({i},{j})");
        }
    }
    // Shape errors are one-line errors, not panics.
    let big = vec![0.0f32; 100 * 65];
    let e = b
        .attention(&Head { q: &big, k: &big, v: &big, nq: 100, nk: 100, d: 65, dv: 65 }, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("d, dv ≤ 64"), "{e}");
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_backend_matches_the_float64_reference() {
    match gpu::wgpu::WgpuBackend::new() {
        Err(why) => skip("wgpu", &why),
        Ok(b) => exercise(&b),
    }
}

#[cfg(feature = "cuda")]
#[test]
fn cuda_backend_matches_the_float64_reference() {
    match gpu::cuda::CudaBackend::new() {
        Err(why) => skip("cuda", &why),
        Ok(b) => exercise(&b),
    }
}

/// Without the features the backends are stubs with the same constructors, which report why.
#[cfg(not(all(feature = "wgpu", feature = "cuda")))]
#[test]
fn stubs_report_the_missing_feature() {
    #[cfg(not(feature = "wgpu"))]
    assert!(gpu::wgpu::WgpuBackend::new().err().is_some_and(|e| e.to_string().contains("--features wgpu")));
    #[cfg(not(feature = "cuda"))]
    assert!(gpu::cuda::CudaBackend::new().err().is_some_and(|e| e.to_string().contains("--features cuda")));
}

#[test]
fn cuda_kernel_source_is_embedded_with_its_entry_point() {
    assert!(gpu::cuda::ATTENTION_CU.contains("extern \"C\" __global__ void causal_attention"));
    assert!(gpu::cuda::ATTENTION_CU.contains("#define MAX_D 64"));
}
