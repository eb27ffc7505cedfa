//! The proof-check suite: one trial per theorem file (`verify::<id>`), running the theorem's check
//! in quick mode and asserting that the measured verdict is the one the registry records.
//! `cargo test --test theorems -- dist.rank` runs one theorem.
use attnproof::checks::{self, Ctx};
use attnproof::registry;
use libtest_mimic::{Arguments, Failed, Trial};
use std::sync::Arc;

/// `memory.linear` measures peak allocation with the counting allocator (per thread, so parallel
/// trials do not interfere).
#[global_allocator]
static ALLOC: attnproof::alloc_count::Counting = attnproof::alloc_count::Counting;

fn main() {
    let args = Arguments::from_args();
    let thms = registry::load_all(&registry::theorems_dir()).expect("theorem registry loads");
    let ctx = Arc::new(Ctx::new(true, 20261125, Vec::new()));
    let trials = thms
        .into_iter()
        .map(|t| {
            let ctx = Arc::clone(&ctx);
            Trial::test(format!("verify::{}", t.id), move || {
                let o = checks::run(&t, &ctx);
                match &o.report {
                    Err(e) => Err(Failed::from(format!("check failed to run: {e}"))),
                    Ok(r) if r.verdict != o.expected => Err(Failed::from(format!(
                        "measured verdict {} differs from the registry's {}\n{}",
                        r.verdict,
                        o.expected,
                        attnproof::verify::row(&t.id, &o, 0.0)
                    ))),
                    Ok(_) => Ok(()),
                }
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
