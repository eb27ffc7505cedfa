//! Zeroed buffers whose pages are mapped before use.
//!
//! A fresh large allocation is backed by the OS page by page at its first write: a fault that
//! allocates and clears a 4 KiB page. Measured on 2 cores, clustered n = 2^17: the first writes of
//! the 64 MiB output cost ≈ 0.045 s of thread time inside the rows' loop. [`prefaulted_zeros`]
//! writes each page once, so that a helper thread can take those faults while the caller plans.
//! Where the kernel supports it ([`can_populate`]), the tree plan instead maps each chunk's output
//! pages with one [`populate`] call in the insertion window ([`super::workers`]), where a thread
//! would otherwise wait, and nothing competes with the plan.
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

/// Map the pages that hold the bytes [addr, addr + bytes) writable, in one
/// `madvise(MADV_POPULATE_WRITE)` (Linux ≥ 5.14): the fault of each first write, taken ahead. The
/// contents are left as they are (no value is read or written), so other threads may be writing to
/// those pages meanwhile. `addr` must point into one live allocation of at least `bytes` bytes.
/// False where the call fails (then the pages fault at their first write, as without it).
pub fn populate(addr: usize, bytes: usize) -> bool {
    if bytes == 0 {
        return true;
    }
    populate_pages(addr / PAGE * PAGE, addr + bytes)
}

#[cfg(target_os = "linux")]
fn populate_pages(start: usize, end: usize) -> bool {
    // SAFETY: the pages from `start` (page-aligned down) to `end` lie in mapped memory: they hold
    // bytes of the caller's live allocation (the partial pages at its ends are in the same
    // mapping). MADV_POPULATE_WRITE faults pages in without changing their contents.
    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn populate_pages(_: usize, _: usize) -> bool {
    false
}

/// Whether [`populate`] works on this system (tried once on a small buffer).
pub fn can_populate() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        let v = vec![0u8; 4 * PAGE];
        populate(v.as_ptr() as usize, v.len())
    })
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

    #[test]
    fn populated_pages_keep_their_contents() {
        let mut v: Vec<f64> = (0..3 << 16).map(|i| i as f64).collect();
        let ok = super::populate(v.as_ptr() as usize + 8 * 1000, 8 * 50_000);
        assert!(ok || !super::can_populate());
        v[123_456] += 1.0;
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as f64 + (i == 123_456) as u8 as f64));
    }
}
