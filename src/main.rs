//! The `attnproof` command line: everything lives in [`attnproof::cli`]; this only installs the
//! counting allocator (which the library never installs) and calls it.
use std::process::ExitCode;

/// Counts allocations so that `memory.linear` can measure peak memory (the library never installs it).
#[global_allocator]
static ALLOC: attnproof::alloc_count::Counting = attnproof::alloc_count::Counting;

fn main() -> ExitCode {
    attnproof::cli::main_with(std::env::args_os())
}
