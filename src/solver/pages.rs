//! Zeroed buffers whose pages are mapped before use.
//!
//! A fresh large allocation is backed by the OS page by page at its first write: a fault that
//! allocates and clears a 4 KiB page. Measured on 2 cores, clustered n = 2^17: the first writes of
//! the 64 MiB output cost ≈ 0.045 s of thread time inside the rows' loop. [`prefaulted_zeros`]
//! writes each page once, so that a helper thread can take those faults while the caller plans.
//! (Tried and not kept: the same for the tree's 32 MiB of keys in leaf order during the skeleton,
//! no gain with the output's helper already running; `madvise(MADV_HUGEPAGE)`, 12 % faster in
//! back-to-back solves but 1.6× slower right after the exact kernel on this VM.)

/// Bytes per page (the smallest x86-64 and AArch64 Linux page; larger pages only mean fewer faults).
const PAGE: usize = 4096;

/// `vec![T::zero(); len]` with every page written once.
pub fn prefaulted_zeros<T: Copy + num_traits::Zero>(len: usize) -> Vec<T> {
    let mut v = vec![T::zero(); len];
    let step = (PAGE / std::mem::size_of::<T>().max(1)).max(1);
    for x in v.iter_mut().step_by(step) {
        // Volatile, so that storing the value the allocator already gave is not optimised away.
        // SAFETY: `x` is a valid, aligned, exclusive reference into `v`.
        unsafe { std::ptr::write_volatile(x, T::zero()) };
    }
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefaulted_buffers_are_zero_and_of_the_asked_length() {
        for len in [0usize, 1, 511, 512, 513, 3 << 20] {
            let v: Vec<f64> = super::prefaulted_zeros(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
            let w: Vec<f32> = super::prefaulted_zeros(len);
            assert!(w.len() == len && w.iter().all(|&x| x == 0.0));
        }
    }
}
