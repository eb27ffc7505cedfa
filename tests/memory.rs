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
