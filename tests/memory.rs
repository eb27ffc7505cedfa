//! `memory.linear` with the counting allocator installed in this test binary: peak allocation of the
//! Nyström and JL methods is exactly affine in n, that of materialised attention exactly quadratic.
use attnproof::checks::memory_linear::{METHODS, degree, peak};

#[global_allocator]
static ALLOC: attnproof::alloc_count::Counting = attnproof::alloc_count::Counting;

#[test]
fn allocator_is_installed_and_counts_a_known_allocation() {
    assert!(attnproof::alloc_count::installed());
    let (_, b) = attnproof::alloc_count::peak_during(|| vec![0u64; 1000]).unwrap();
    assert_eq!(b, 8000);
}

#[test]
fn peak_memory_growth_laws() {
    for (name, m) in METHODS {
        let (deg, p) = degree(*m, 512, 5).unwrap();
        let want = if name.starts_with("materialised") { 2.0 } else { 1.0 };
        assert_eq!(deg, want, "{name}: peaks {p:?}");
    }
    // Materialised attention at n = 256 holds the 256×256 f32 score matrix.
    assert!(peak(METHODS[0].1, 256, 1).unwrap() >= 256 * 256 * 4);
}

/// Oracle top-K keeps K keys per row: the peak of its forward pass grows like n·(K + dv) plus one
/// row's n scores, not like n² (its kept sets once retained each row's score buffer: 8.5 MiB per
/// head at n = 1024, measured by `lm-eval`).
#[test]
fn oracle_top_k_holds_no_quadratic_buffer() {
    use attnproof::methods::{AttentionMethod, Request, keyset::KeySet};
    use attnproof::reference::{Head, Mask};
    let peak_at = |n: usize| {
        let s = attnproof::data::synthetic::gaussian(&mut attnproof::rng::seeded(5), n, 64, 64, 2.0);
        let h = Head::new(&s.q, &s.k, &s.v, n, 64, 64).unwrap();
        let m = KeySet::TopK { k: 32 };
        attnproof::alloc_count::peak_during(|| m.forward(&h, &Request::new(Mask::Causal, 1)).unwrap()).unwrap().1
    };
    let (a, b) = (peak_at(1024), peak_at(2048));
    // Linear terms: sets n·32·8 B, outputs n·64·8 B, one row of scores n·16 B; a quadratic buffer
    // (16·n²/2 B = 8 MiB at n = 1024) would exceed both bounds.
    assert!(a < 2 << 20, "peak {a} B at n = 1024");
    assert!((b as f64) < 2.2 * a as f64, "peak {a} B at n = 1024, {b} B at n = 2048: not linear");
}
