//! A counting global allocator for `memory.linear`: it forwards to the system allocator and keeps,
//! per thread, the bytes currently allocated and their peak. The library never installs it; the
//! `attnproof` binary and the test binaries that measure memory do, with
//! `#[global_allocator] static A: attnproof::alloc_count::Counting = attnproof::alloc_count::Counting;`.
//!
//! Per-thread accounting keeps concurrent tests from polluting a measurement; allocations made on
//! other threads (e.g. rayon workers) during a measurement are not counted — the measured kernels
//! are sequential.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Counting;

static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    INSTALLED.store(true, Ordering::Relaxed);
    let _ = CURRENT.try_with(|c| {
        let v = c.get() + delta;
        c.set(v);
        let _ = PEAK.try_with(|p| {
            if v > p.get() {
                p.set(v)
            }
        });
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            track(l.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            track(l.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, l: Layout) {
        unsafe { System.dealloc(ptr, l) };
        track(-(l.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, l, new) };
        if !p.is_null() {
            track(new as isize - l.size() as isize);
        }
        p
    }
}

/// True once any allocation went through [`Counting`] (i.e. it is the global allocator).
pub fn installed() -> bool {
    // Force one allocation so that a freshly started binary registers.
    drop(std::hint::black_box(Box::new(0u8)));
    INSTALLED.load(Ordering::Relaxed)
}

/// Run `f` and return its result with the peak number of bytes allocated on this thread during `f`
/// above the level at its start; `None` when the counting allocator is not installed.
pub fn peak_during<R>(f: impl FnOnce() -> R) -> Option<(R, usize)> {
    if !installed() {
        return None;
    }
    let start = CURRENT.with(|c| c.get());
    PEAK.with(|p| p.set(start));
    let r = f();
    let peak = PEAK.with(|p| p.get());
    Some((r, (peak - start).max(0) as usize))
}

/// [`peak_during`] of `f` on a fresh one-thread rayon pool, after `warm` ran on the same thread: every
/// allocation of `f`, including those of its nested rayon work, happens on the measured thread (on a
/// caller that is itself a rayon worker, work stealing would make the count depend on scheduling),
/// and one-time per-thread state is allocated by `warm`, outside the measurement.
/// `Ok(None)` when the counting allocator is not installed.
pub fn peak_on_one_thread<R: Send>(
    warm: impl FnOnce() + Send,
    f: impl FnOnce() -> R + Send,
) -> crate::Result<Option<(R, usize)>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| crate::Error::invalid("alloc_count", format!("cannot build a one-thread pool: {e}")))?;
    Ok(pool.install(|| {
        warm();
        peak_during(f)
    }))
}
