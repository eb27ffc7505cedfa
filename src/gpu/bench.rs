//! `attnproof bench exact --backend wgpu|cuda`: the GPU attention kernel against the same device's
//! GEMM (wgpu: our tiled WGSL matmul; CUDA: cuBLAS SGEMM) of equal FLOP count, timed in one run.
//! FLOP convention as for the CPU bench: causal attention counts 2·n²·d (QKᵀ and PV over the causal
//! half, two flops per multiply-add); a square GEMM of size m counts 2m³, with m = ⌈(n²d)^{1/3}⌉₁₆.
use super::Backend;
use crate::Result;
use crate::data::synthetic;
use crate::reference::Head;

/// Equal-FLOP square GEMM size (a multiple of 16).
pub fn equal_flop_square(n: usize, d: usize) -> usize {
    let m = ((n as f64).powi(2) * d as f64).cbrt();
    ((m / 16.0).round().max(1.0) as usize) * 16
}

/// Time the attention kernel and the equal-FLOP GEMM on `b` for every n; one printed line each.
pub fn bench_backend(
    b: &dyn Backend,
    ns: &[usize],
    d: usize,
    reps: usize,
    mut print: impl FnMut(String),
) -> Result<()> {
    crate::bench::check_sizes(ns, d, reps)?;
    print(format!("device: {}", b.device_name()));
    print(format!(
        "{:>7} {:>4} {:>11} {:>11} {:>7} {:>11} {:>11} {:>7}",
        "n", "d", "attn s", "attn GF/s", "gemm m", "gemm s", "gemm GF/s", "ratio"
    ));
    let mut rng = crate::rng::seeded(20261125);
    for &n in ns {
        let s = synthetic::gaussian(&mut rng, n, d, d, 1.0);
        let h = Head::new(&s.q, &s.k, &s.v, n, d, d)?;
        let ta = b.time_attention(&h, true, reps)?;
        let fa = 2.0 * (n as f64).powi(2) * d as f64;
        let m = equal_flop_square(n, d);
        let tg = b.time_matmul(m, m, m, reps)?;
        let fg = 2.0 * (m as f64).powi(3);
        let (ga, gg) = (fa / ta / 1e9, fg / tg / 1e9);
        print(format!("{n:>7} {d:>4} {ta:>11.4e} {ga:>11.2} {m:>7} {tg:>11.4e} {gg:>11.2} {:>7.3}", ga / gg));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_flop_sizes() {
        // n²d = 2^20·2^6 = 2^26 → m = 2^(26/3) ≈ 406 → 400 (multiple of 16).
        assert_eq!(super::equal_flop_square(1024, 64), 400);
        assert_eq!(super::equal_flop_square(1, 1), 16);
    }
}
