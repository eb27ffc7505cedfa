//! The tree plan's chunk loop on persistent threads.
//!
//! Per chunk of `band` rows the tree path evaluates the chunk's row blocks ([`super::batch`]) and then
//! inserts the chunk's keys. On rayon's pool each chunk would be a parallel region, and its worker
//! woken from sleep for every one of them (measured on 2 cores, clustered n = 2^17: the rows'
//! regions ran at 70 % of their two threads' compute time; peaked n = 2^17, with first-order
//! moments and the insertion on the pool too: 0.52 s against 0.43 s here). Here T threads (the
//! calling one and T − 1 scoped helpers) stay awake for the whole solve and meet at a spinning
//! barrier twice per chunk:
//!
//! 1. every thread evaluates its blocks of the chunk (block k of a chunk goes to thread k mod T) and
//!    recomputes its own rows whose certificate exceeds tol on the float64 path; the tree, the
//!    frontier block and the band are read-locked (never contended: the barrier separates the phases);
//! 2. thread 0 inserts the chunk's keys (on its own: [`super::tree::Tree::insert_range_serial`], the
//!    same bits as the parallel insertion) and updates the frontier block, write-locked, while the
//!    last thread widens the next chunk's band (it does not depend on the tree) and the others wait.
//!
//! A block's result does not depend on which thread computed it, so the output is the same bits for
//! any T. With one thread (a pool of one, or a call from inside the pool:
//! [`super::SolverOptions::threads`]) the loop runs inline on the calling thread.
use super::batch::{Band, FrontierBlock, Outcome, Rows, Scratch};
use super::tree::Tree;
use super::{BATCH_ROWS, Prepared, SolverOptions, Stats};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A sense-reversing barrier that spins (yielding to the OS after a while, so that a descheduled
/// partner costs little) instead of sleeping on a futex. A thread that panics marks it aborted
/// ([`AbortOnPanic`]), and the others then panic at their next wait instead of waiting forever.
struct SpinBarrier {
    n: usize,
    count: AtomicUsize,
    generation: AtomicUsize,
    aborted: AtomicBool,
}

/// Marks the barrier aborted when dropped during a panic.
struct AbortOnPanic<'b>(&'b SpinBarrier);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.aborted.store(true, Ordering::Release);
        }
    }
}

impl SpinBarrier {
    fn new(n: usize) -> SpinBarrier {
        SpinBarrier { n, count: AtomicUsize::new(0), generation: AtomicUsize::new(0), aborted: AtomicBool::new(false) }
    }
    fn wait(&self) {
        let g = self.generation.load(Ordering::Acquire);
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.count.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == g {
            if self.aborted.load(Ordering::Acquire) {
                panic!("another solver worker panicked");
            }
            if spins < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Spin-loop iterations before a waiting thread yields (≈ tens of µs).
const SPINS_BEFORE_YIELD: u32 = 1 << 15;

/// One block of rows: its chunk, first row, and its slices of the outputs and certificates.
struct Block<'o> {
    chunk: usize,
    lo: usize,
    out: &'o mut [f64],
    cert: &'o mut [f64],
}

/// What the solve loop needs besides the tree and the outputs.
pub struct Loop<'a> {
    pub p: &'a Prepared<'a>,
    pub opts: &'a SolverOptions,
    pub tol: f64,
    /// Output rows (as in `Mask::rows`).
    pub rows: std::ops::Range<usize>,
    pub f32_products: bool,
    /// Map each chunk's output pages ahead ([`super::pages::populate`]): chunk 0 before the loop,
    /// chunk c + 1 by the last thread in chunk c's insertion window.
    pub populate: bool,
}

/// Run the tree plan's chunks on `threads` ≥ 1 persistent threads (the calling one and `threads` − 1
/// helpers); adds to `stats`.
pub fn run(lp: &Loop<'_>, tree: &mut Tree, out: &mut [f64], cert: &mut [f64], stats: &mut Stats, threads: usize) {
    let Loop { p, opts, tol, ref rows, f32_products, populate } = *lp;
    let (n, dv, b) = (p.n, p.dv, opts.band.max(1));
    let nchunks = n.div_ceil(b);
    // The output bytes of chunk c (rows [c·b, (c+1)·b) ∩ rows), for populate: an address, not a
    // reference, since the blocks below hold the slices.
    let (out_addr, row_bytes) = (out.as_ptr() as usize, dv * std::mem::size_of::<f64>());
    let chunk_bytes = |c: usize| {
        let (lo, hi) = ((c * b).max(rows.start), ((c + 1) * b).min(n).max(rows.start));
        (out_addr + (lo - rows.start) * row_bytes, (hi - lo) * row_bytes)
    };
    if populate && nchunks > 0 {
        let (a, len) = chunk_bytes(0);
        super::pages::populate(a, len);
    }
    // Blocks in row order, each given to a thread by its index within its chunk.
    let mut per_thread: Vec<Vec<Block<'_>>> = (0..threads).map(|_| Vec::new()).collect();
    {
        let (mut o, mut e) = (out, cert);
        for c in 0..nchunks {
            let (lo, hi) = ((c * b).max(rows.start), ((c + 1) * b).min(n));
            let mut a = lo;
            let mut k = 0;
            while a < hi {
                let len = BATCH_ROWS.min(hi - a);
                let (o1, o2) = std::mem::take(&mut o).split_at_mut(len * dv);
                let (e1, e2) = std::mem::take(&mut e).split_at_mut(len);
                (o, e) = (o2, e2);
                per_thread[k % threads].push(Block { chunk: c, lo: a, out: o1, cert: e1 });
                a += len;
                k += 1;
            }
        }
    }
    let shared = RwLock::new((tree, FrontierBlock::new(!f32_products)));
    let band_bufs = RwLock::new((Vec::new(), Vec::new()));
    // The first chunk's band (the frontier block is empty: no keys inserted yet).
    {
        let mut g = band_bufs.write().unwrap_or_else(|e| e.into_inner());
        let (kb, vb) = &mut *g;
        Band::widen(p, 0, b.min(n), kb, vb, f32_products);
    }
    let barrier = SpinBarrier::new(threads);
    // Per thread: the blocks' outcome, fallback rows and their work, and (thread 0) the seconds
    // spent inserting and updating the frontier block.
    let thread_loop = |t: usize, blocks: Vec<Block<'_>>| -> (Outcome, usize, u64, f64, f64) {
        let _abort = AbortOnPanic(&barrier);
        let mut sc = Scratch::default();
        let (mut oc, mut fallback, mut fallback_work) = (Outcome::default(), 0usize, 0u64);
        let (mut insert_secs, mut gather_secs) = (0.0f64, 0.0f64);
        let mut blocks = blocks.into_iter().peekable();
        for c in 0..nchunks {
            let (c0, c1) = (c * b, ((c + 1) * b).min(n));
            {
                let g = shared.read().unwrap_or_else(|e| e.into_inner());
                let (tree, fb) = (&*g.0, &g.1);
                let bg = band_bufs.read().unwrap_or_else(|e| e.into_inner());
                let band = Band::view(p, c0, c1, &bg.0, &bg.1, f32_products);
                while blocks.peek().is_some_and(|bl| bl.chunk == c) {
                    let bl = blocks.next().expect("peeked");
                    let hi = bl.lo + bl.cert.len();
                    let job = Rows {
                        p,
                        tree,
                        fb,
                        band: &band,
                        lo: bl.lo,
                        hi,
                        tol,
                        share: opts.share,
                        f32_products,
                        fused: opts.fused_passes,
                    };
                    let (o, (rows, work)) = super::solve_block(&job, bl.out, bl.cert, &mut sc);
                    oc = oc + o;
                    fallback += rows;
                    fallback_work += work;
                }
            }
            barrier.wait();
            if t == 0 {
                let ti = std::time::Instant::now();
                let mut g = shared.write().unwrap_or_else(|e| e.into_inner());
                let (tree, fb) = &mut *g;
                let touched = tree.insert_range_serial(p.k32, p.v32, c1);
                insert_secs += ti.elapsed().as_secs_f64();
                let tg = std::time::Instant::now();
                fb.sync(tree, p.vmax, &touched);
                gather_secs += tg.elapsed().as_secs_f64();
            }
            // The next chunk's band (it does not depend on the tree) and its output pages, on the
            // last thread: with more than one, while thread 0 inserts.
            if t == threads - 1 && c1 < n {
                let mut bg = band_bufs.write().unwrap_or_else(|e| e.into_inner());
                let (kb, vb) = &mut *bg;
                Band::widen(p, c1, (c1 + b).min(n), kb, vb, f32_products);
                if populate {
                    let (a, len) = chunk_bytes(c + 1);
                    super::pages::populate(a, len);
                }
            }
            barrier.wait();
        }
        (oc, fallback, fallback_work, insert_secs, gather_secs)
    };
    let mut lists = per_thread.into_iter();
    let mine = lists.next().expect("threads ≥ 1");
    let results: Vec<_> = std::thread::scope(|s| {
        let helpers: Vec<_> = lists
            .enumerate()
            .map(|(i, bl)| {
                s.spawn({
                    let f = &thread_loop;
                    move || f(i + 1, bl)
                })
            })
            .collect();
        let first = thread_loop(0, mine);
        std::iter::once(first).chain(helpers.into_iter().map(|h| h.join().expect("solver worker panicked"))).collect()
    });
    for (oc, fallback, fw, ins, gather) in results {
        stats.work += oc.work as u64 + fw;
        stats.first_order_terms += oc.first_order_terms;
        stats.fused_rows += oc.fused_rows;
        stats.fallback_rows += fallback;
        stats.insert_secs += ins;
        stats.gather_secs += gather;
    }
}

#[cfg(test)]
mod tests {
    use super::{AbortOnPanic, SpinBarrier};

    #[test]
    fn a_panicking_worker_makes_the_others_panic_instead_of_waiting_forever() {
        let b = SpinBarrier::new(2);
        let (first, second) = std::thread::scope(|s| {
            let h = s.spawn(|| {
                let _abort = AbortOnPanic(&b);
                panic!("a worker's bug");
            });
            let w = s.spawn(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.wait())).is_err());
            (h.join().is_err(), w.join().expect("the waiting thread returns its result"))
        });
        assert!(first && second, "panicked: {first}, the waiting thread panicked too: {second}");
    }
}
