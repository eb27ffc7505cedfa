//! The command line, as a library module so that tests (and the fuzz tests) can parse argument
//! vectors without spawning the binary: [`parse_args`] turns an argument vector into a [`Cli`] or a
//! one-line error naming the argument; [`run`] executes a command; [`main_with`] is `main`.
use crate::checks::Ctx;
use crate::registry;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// What parsing an argument vector gave.
#[derive(Debug)]
pub enum Parsed {
    /// A command to run.
    Run(Cli),
    /// `--help` or `--version`: text to print on stdout, exit 0.
    Print(String),
}

/// Parse an argument vector (the first element is the program name). A rejection is one line,
/// `error: …`, naming the offending argument (clap's message with its usage block dropped).
pub fn parse_args<I, T>(args: I) -> Result<Parsed, String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => Ok(Parsed::Run(cli)),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                Ok(Parsed::Print(e.render().to_string()))
            }
            _ => Err(one_line_clap(&e.render().to_string())),
        },
    }
}

/// clap's multi-line rendering as one line: every non-empty line before `Usage:` joined by spaces.
fn one_line_clap(rendered: &str) -> String {
    let mut parts = Vec::new();
    for l in rendered.lines() {
        let t = l.trim();
        if t.starts_with("Usage:") || t.starts_with("For more information") {
            break;
        }
        if !t.is_empty() {
            parts.push(t.to_string());
        }
    }
    let s = crate::error::one_line(&parts.join(" "));
    if s.starts_with("error:") { s } else { format!("error: {s}") }
}

/// The whole program: parse, run, print errors on one line, map to an exit code (2 for errors).
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match parse_args(args) {
        Ok(Parsed::Run(cli)) => cli,
        Ok(Parsed::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(line) => {
            eprintln!("{line}");
            return ExitCode::from(2);
        }
    };
    match run(cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[derive(Parser, Debug)]
#[command(name = "attnproof", version, about = "Put the claims of research notes on fast attention to the test")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List every theorem: id, kind, expected verdict, title.
    List,
    /// Show one theorem file's content.
    Show { id: String },
    /// Run the checks and print a verdict table; non-zero exit if a verdict differs from the registry.
    Verify {
        /// Fewer trials and the shipped data slice (CI).
        #[arg(long)]
        quick: bool,
        /// Base seed of every random draw.
        #[arg(long, default_value_t = 20261125)]
        seed: u64,
        /// Real-data safetensors files to use instead of the shipped slice (repeatable).
        #[arg(long = "data")]
        data: Vec<PathBuf>,
        /// Write the reports as JSON lines here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Theorem ids (default: all).
        ids: Vec<String>,
    },
    /// Recompute every head of a file and compare with its stored float64 outputs.
    CheckReference {
        file: PathBuf,
        /// Exit non-zero when float64 disagrees beyond this.
        #[arg(long, default_value_t = 1e-10)]
        tol: f64,
    },
    /// Benchmarks measured side by side in one run.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Run (or resume) a YAML parameter sweep; one JSON line per finished point.
    Sweep {
        file: PathBuf,
        /// Run the sweep's `quick:` subset.
        #[arg(long)]
        quick: bool,
        /// Run shard I of N (points whose index ≡ I mod N), e.g. `--shard 0/4`.
        #[arg(long)]
        shard: Option<String>,
        /// Results file (default results/<name>[.quick][.shard-I-of-N].jsonl).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Refuse points whose estimated peak memory exceeds this (bytes, or 512M, 8G, …; default:
        /// env ATTNPROOF_MEM_BUDGET, else none).
        #[arg(long, value_parser = crate::sweep::measure::parse_bytes)]
        mem_budget: Option<u64>,
        /// Safetensors file (extract layout) replacing the file of every `real_causal` dataset
        /// (those points are skipped when their file is absent).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Run only the points of `real_causal` datasets.
        #[arg(long)]
        real_causal_only: bool,
    },
    /// Join shard result files of a sweep, reporting duplicate, conflicting and missing points.
    Merge {
        /// The sweep file the shards ran.
        #[arg(long)]
        sweep: PathBuf,
        #[arg(long)]
        quick: bool,
        /// Merged results; when points are missing or conflicting they go to `<out>.partial` instead.
        #[arg(long)]
        out: PathBuf,
        /// The `--data` file the shards ran their `real_causal` datasets with.
        #[arg(long)]
        data: Option<PathBuf>,
        inputs: Vec<PathBuf>,
    },
    /// Generate docs/index.md and docs/theorems/<id>.md (+ SVG plots) from the registry and quick runs.
    Docs {
        /// Do not write; exit non-zero if the committed pages are stale.
        #[arg(long)]
        check: bool,
    },
    /// Certified causal attention of the heads of a real-data file: time vs exact, certificate,
    /// true error vs float64, plan.
    Solve {
        file: PathBuf,
        #[arg(long)]
        tol: f64,
        /// Read --tol relative to each head's max|v| (the convention of `bench solver`).
        #[arg(long)]
        tol_rel: bool,
        #[arg(long)]
        layer: Option<usize>,
        #[arg(long)]
        head: Option<usize>,
        /// causal | strict-prefix
        #[arg(long, default_value = "causal")]
        mask: String,
        /// Exact and solver are timed alternately this many times (more for short runs: up to ~0.5 s of
        /// pairs, at most 1000); the fastest of each is kept.
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// Write a slice of a real-data file (chosen layers and heads) with provenance metadata.
    Slice {
        input: PathBuf,
        output: PathBuf,
        /// Layers to keep, e.g. `0,5`.
        #[arg(long, value_delimiter = ',', required = true)]
        layers: Vec<usize>,
        /// Heads to keep, e.g. `0,3`.
        #[arg(long, value_delimiter = ',', required = true)]
        heads: Vec<usize>,
    },
    /// (feature `lm`) Q/K/V of chosen SmolLM2 layers on a text, plus exact float64 causal outputs,
    /// in the MiniLM/SmolLM2 layout that `check-reference` and the sweeps read.
    #[cfg(feature = "lm")]
    Extract {
        /// Text file to tokenise with the model's tokenizer.
        #[arg(long, conflicts_with = "tokens_from")]
        text: Option<PathBuf>,
        /// Safetensors file with a `tokens` i64 tensor.
        #[arg(long)]
        tokens_from: Option<PathBuf>,
        /// Number of tokens (the first n).
        #[arg(long)]
        n: usize,
        #[arg(long, value_delimiter = ',', default_value = "2,15,28")]
        layers: Vec<usize>,
        #[arg(long)]
        out: PathBuf,
        /// GGUF file (default: the cache of scripts/fetch-lm.sh).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// (feature `lm`) Note 004 on SmolLM2: next-token KL(P_exact ‖ P_method) per token (mean, max),
    /// perplexity and top-1 agreement with attention replaced in all layers (or `--layer`).
    #[cfg(feature = "lm")]
    LmEval {
        #[arg(long, conflicts_with = "tokens_from")]
        text: Option<PathBuf>,
        #[arg(long)]
        tokens_from: Option<PathBuf>,
        #[arg(long, default_value_t = 512)]
        n: usize,
        /// Methods: exact-f64, last:W, topk:K, longformer:HALF:GLOBAL, performer:M, linear,
        /// sparsemax, solver:TOL, learned:B[:STEPS:LR[:content|offsets]] (the learned mask of
        /// `mask.learned` with B keys per query, trained on --train-text; default 100 steps,
        /// lr 0.05, content term on).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "exact-f64,last:10,topk:32,longformer:32:2,performer:256,solver:1e-2,solver:1e-3"
        )]
        methods: Vec<String>,
        /// Replace attention in these layers only, one at a time (default: all layers at once).
        #[arg(long, value_delimiter = ',')]
        layer: Vec<usize>,
        /// Text the learned mask (`learned:B`) is trained on (the evaluation text is --text /
        /// --tokens-from).
        #[arg(long)]
        train_text: Option<PathBuf>,
        /// Tokens of --train-text used for training (the first ones).
        #[arg(long, default_value_t = 1024)]
        train_n: usize,
        #[arg(long, default_value_t = 20261125)]
        seed: u64,
        /// Append one JSON line per row here.
        #[arg(long)]
        json: Option<PathBuf>,
        #[arg(long)]
        model: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// Fast exact f32 causal attention vs a same-run f32 GEMM of equal FLOP count.
    Exact {
        /// Sequence lengths (default 1024 … 65536 in powers of 2).
        #[arg(long, value_delimiter = ',')]
        n: Vec<usize>,
        #[arg(long, default_value_t = 64)]
        d: usize,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Repetitions per point (best time is reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// cpu (default), wgpu (Vulkan/Metal/DX12/GL; needs --features wgpu) or cuda (--features cuda).
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "wgpu", "cuda"])]
        backend: String,
    },
    /// The certified solver vs the exact f32 causal kernel, same run, per regime.
    Solver {
        /// Sequence lengths (default 1024 … 16384).
        #[arg(long, value_delimiter = ',')]
        n: Vec<usize>,
        /// Tolerance relative to max|v|.
        #[arg(long, default_value_t = 1e-3)]
        tol: f64,
        /// clustered | lowdim | peaked | bounded | real-stats
        #[arg(long, default_value = "clustered")]
        regime: String,
        /// Head dimension (dv = d); default 64, and for real-stats the fitted head's (32)
        #[arg(long)]
        d: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Largest n at which the exact kernel is timed (beyond: extrapolated ∝ n², marked *).
        #[arg(long, default_value_t = 1 << 15)]
        exact_max: usize,
        /// Write a log-log SVG of time vs n (solver and exact kernel, fitted slopes in the legend).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Exact and solver are timed alternately this many times (more for short runs: up to ~0.5 s of
        /// pairs, at most 1000); the fastest of each is kept.
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// Error/time Pareto front of the solver and the approximate methods on one causal head: errors
    /// vs float64, time relative to the exact f32 kernel timed alternately in the same run.
    Pareto(Box<ParetoArgs>),
}

/// Arguments of `bench pareto` (boxed: they are most of the command's size).
#[derive(clap::Args, Debug)]
pub struct ParetoArgs {
    /// Real-data file (MiniLM/SmolLM2 layout); without it, a synthetic --regime (whose --d the
    /// file's dimension replaces).
    #[arg(long, conflicts_with_all = ["regime", "d"])]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub layer: usize,
    #[arg(long, default_value_t = 0)]
    pub head: usize,
    /// Synthetic regime (clustered | lowdim | peaked | bounded | real-stats; default clustered).
    #[arg(long)]
    pub regime: Option<String>,
    /// Tokens (synthetic: default 4096; file: the first n, default all).
    #[arg(long)]
    pub n: Option<usize>,
    /// Head dimension of synthetic data (dv = d); default 64, and for real-stats the fitted head's (32)
    #[arg(long)]
    pub d: Option<usize>,
    /// Methods to run.
    #[arg(long, value_delimiter = ',', default_value = "exact,solver,performer,nystrom,topk,window,longformer")]
    pub methods: Vec<String>,
    /// Solver tolerances, relative to max|v|.
    #[arg(long, value_delimiter = ',', default_value = "1e-1,1e-2,1e-3,1e-4")]
    pub tol: Vec<f64>,
    /// Tolerances of solver-tree (default: those of --tol).
    #[arg(long, value_delimiter = ',')]
    pub tree_tol: Vec<f64>,
    /// Performer feature counts.
    #[arg(long, value_delimiter = ',', default_value = "64,128,256,512,1024")]
    pub performer: Vec<usize>,
    /// Nyström landmark counts.
    #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
    pub nystrom: Vec<usize>,
    /// Oracle top-k key counts.
    #[arg(long, value_delimiter = ',', default_value = "8,32,128,256")]
    pub topk: Vec<usize>,
    /// Causal window widths (last w tokens).
    #[arg(long, value_delimiter = ',', default_value = "16,64,256,1024")]
    pub window: Vec<usize>,
    /// Longformer settings HALF:GLOBAL (window ±HALF, GLOBAL first tokens).
    #[arg(long, value_delimiter = ',', default_value = "32:2,128:8,512:16")]
    pub longformer: Vec<String>,
    /// Timed (method, exact) pairs per setting (more for short runs); medians are reported.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the table as markdown here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Write the log-log SVG (max error vs time/exact, front highlighted) here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

#[allow(unused_variables, unreachable_code)]
fn gpu_bench(b: &impl GpuBench, n: &[usize], d: usize, reps: usize) -> crate::Result<()> {
    b.bench(n, d, reps)
}

/// Bench entry for a backend type (the stubs, without the feature, are never constructed).
trait GpuBench {
    fn bench(&self, n: &[usize], d: usize, reps: usize) -> crate::Result<()>;
}
#[cfg(feature = "wgpu")]
impl GpuBench for crate::gpu::wgpu::WgpuBackend {
    fn bench(&self, n: &[usize], d: usize, reps: usize) -> crate::Result<()> {
        crate::gpu::bench::bench_backend(self, n, d, reps, |l| println!("{l}"))
    }
}
#[cfg(not(feature = "wgpu"))]
impl GpuBench for crate::gpu::wgpu::WgpuBackend {
    fn bench(&self, _: &[usize], _: usize, _: usize) -> crate::Result<()> {
        Ok(())
    }
}
#[cfg(feature = "cuda")]
impl GpuBench for crate::gpu::cuda::CudaBackend {
    fn bench(&self, n: &[usize], d: usize, reps: usize) -> crate::Result<()> {
        crate::gpu::bench::bench_backend(self, n, d, reps, |l| println!("{l}"))
    }
}
#[cfg(not(feature = "cuda"))]
impl GpuBench for crate::gpu::cuda::CudaBackend {
    fn bench(&self, _: &[usize], _: usize, _: usize) -> crate::Result<()> {
        Ok(())
    }
}

pub fn run(cmd: Cmd) -> crate::Result<ExitCode> {
    match cmd {
        Cmd::List => {
            for t in registry::load_all(&registry::theorems_dir())? {
                println!(
                    "{:<26} {:<20} {:<16} {}",
                    t.id,
                    format!("{:?}", t.kind),
                    t.expected.verdict.to_string(),
                    t.title
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Show { id } => {
            let path = registry::theorems_dir().join(format!("{id}.yaml"));
            // Registry ids only (`dist.decomposition`): no path may lead outside theorems/.
            let is_id = !id.is_empty()
                && !id.contains("..")
                && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
            if !is_id || !path.is_file() {
                return Err(crate::Error::invalid("ID", format!("no theorem `{id}` (see `attnproof list`)")));
            }
            let thm = registry::load_file(&path)?;
            print!("{}", std::fs::read_to_string(&path).map_err(|e| crate::Error::io(&path, e))?);
            println!("# check: src/checks/{}.rs", thm.snake());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify { quick, seed, data, json, ids } => {
            let all = registry::load_all(&registry::theorems_dir())?;
            let selected = crate::verify::select(&all, &ids)?;
            // Arguments first, so that a typo fails in a second with exit 2, not after the checks
            // as a theorem that "differs from the registry".
            for f in &data {
                if !f.is_file() {
                    return Err(crate::Error::invalid(
                        "--data",
                        format!("{}: expected an existing safetensors file", f.display()),
                    ));
                }
            }
            if let Some(path) = &json {
                crate::out_file::check_out_path("--json", path)?;
            }
            let ctx = Ctx::new(quick, seed, data);
            let outcomes = crate::verify::run_all(&selected, &ctx, |line| println!("{line}"));
            if let Some(path) = json {
                crate::verify::write_json(&path, &outcomes)?;
            }
            let bad = outcomes.iter().filter(|(_, o)| !o.agrees()).count();
            println!("{}", crate::verify::summary(&outcomes));
            Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Cmd::CheckReference { file, tol } => {
            if !(tol.is_finite() && tol >= 0.0) {
                return Err(crate::Error::invalid("--tol", format!("expected a finite tolerance ≥ 0, got {tol}")));
            }
            let rep = crate::check_reference::check_file(&file)?;
            print!("{}", rep.table());
            let missing = rep.missing_comparisons();
            if !missing.is_empty() {
                eprintln!("error: {}: not every layer could be compared: {}", file.display(), missing.join("; "));
                return Ok(ExitCode::FAILURE);
            }
            Ok(if rep.max_f64_err() <= tol {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "error: {}: float64 disagrees with the stored outputs by {:.3e} > {tol:.1e}",
                    file.display(),
                    rep.max_f64_err()
                );
                ExitCode::FAILURE
            })
        }
        Cmd::Bench { what: BenchWhat::Exact { n, d, threads, reps, backend } } => {
            let n = if n.is_empty() { (10..=16).map(|p| 1usize << p).collect() } else { n };
            let unavailable = |e: crate::gpu::GpuUnavailable| crate::Error::invalid("--backend", e.to_string());
            match backend.as_str() {
                "wgpu" => {
                    let b = crate::gpu::wgpu::WgpuBackend::new().map_err(unavailable)?;
                    gpu_bench(&b, &n, d, reps)?;
                }
                "cuda" => {
                    let b = crate::gpu::cuda::CudaBackend::new().map_err(unavailable)?;
                    gpu_bench(&b, &n, d, reps)?;
                }
                _ => crate::bench::exact_vs_gemm(&n, d, threads, reps, |line| println!("{line}"))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what: BenchWhat::Solver { n, tol, regime, d, seed, exact_max, plot, reps } } => {
            let n = if n.is_empty() { (10..=14).map(|p| 1usize << p).collect() } else { n };
            if let Some(p) = &plot {
                crate::out_file::check_out_path("--plot", p)?;
            }
            let pts = crate::bench::solver_vs_exact(&n, d, tol, &regime, seed, exact_max, reps, |l| println!("{l}"))?;
            if let Some(p) = plot {
                crate::bench::pareto::write(&p, &crate::bench::solver_svg(&pts, &regime, tol)?)?;
                println!("wrote {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what: BenchWhat::Pareto(args) } => {
            let ParetoArgs {
                data,
                layer,
                head,
                regime,
                n,
                d,
                methods,
                tol,
                tree_tol,
                performer,
                nystrom,
                topk,
                window,
                longformer,
                reps,
                seed,
                json,
                markdown,
                plot,
            } = *args;
            use crate::bench::pareto;
            let grid = pareto::Grid { methods, tol, tree_tol, performer, nystrom, topk, window, longformer };
            let settings = grid.settings()?;
            for (flag, p) in [("--json", &json), ("--markdown", &markdown), ("--plot", &plot)] {
                if let Some(p) = p {
                    crate::out_file::check_out_path(flag, p)?;
                }
            }
            let src = match data {
                Some(path) => pareto::Source::File { path, layer, head, n },
                None => pareto::Source::Regime {
                    name: regime.unwrap_or_else(|| "clustered".into()),
                    n: n.unwrap_or(4096),
                    d,
                },
            };
            let head = pareto::load(&src, seed)?;
            // Progress (one line per setting, as measured) on stderr; the table with the front on stdout.
            let rep = pareto::run(&head, &settings, reps, seed, |l| eprintln!("{l}"))?;
            println!(
                "# {} (n = {}, d = {}, dv = {}), seed {seed}, {} thread(s)",
                rep.dataset, rep.n, rep.d, rep.dv, rep.threads
            );
            println!("{}", rep.table());
            println!("{}", rep.front_summary());
            if let Some(p) = json {
                let text =
                    serde_json::to_string_pretty(&rep).map_err(|e| crate::Error::invalid("--json", e.to_string()))?;
                pareto::write(&p, &text)?;
            }
            if let Some(p) = markdown {
                pareto::write(&p, &rep.markdown())?;
            }
            if let Some(p) = plot {
                pareto::write(&p, &rep.svg()?)?;
                println!("wrote {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Solve { file, tol, tol_rel, layer, head, mask, reps } => {
            let mask = match mask.as_str() {
                "causal" => crate::reference::Mask::Causal,
                "strict-prefix" => crate::reference::Mask::StrictPrefix,
                m => {
                    return Err(crate::Error::invalid(
                        "--mask",
                        format!("expected causal or strict-prefix, got `{m}`"),
                    ));
                }
            };
            let tol = if tol_rel { crate::bench::Tol::RelativeToMaxV(tol) } else { crate::bench::Tol::Absolute(tol) };
            crate::bench::solve_file(&file, tol, layer, head, mask, reps, |l| println!("{l}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Sweep { file, quick, shard, out, threads, mem_budget, data, real_causal_only } => {
            let spec = crate::sweep::load_spec(&file)?;
            let shard = shard.map(|s| crate::sweep::run::parse_shard(&s)).transpose()?;
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let opts =
                crate::sweep::RunOptions { quick, shard, out, threads, progress, mem_budget, data, real_causal_only };
            let sum = crate::sweep::run_sweep(&spec, &opts, |l| eprintln!("{l}"))?;
            println!("{}", crate::sweep::run::summary_text(&spec, &sum));
            Ok(if sum.findings.iter().all(|f| f.ok()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Cmd::Merge { sweep, quick, out, data, inputs } => {
            let spec = crate::sweep::load_spec(&sweep)?;
            let rep = crate::sweep::run::merge_with(&spec, quick, data.as_deref(), &inputs, &out)?;
            if rep.out != out {
                eprintln!(
                    "merge incomplete: wrote {} instead of {} (points missing or conflicting)",
                    rep.out.display(),
                    out.display()
                );
            }
            println!(
                "merged {} points into {}; {} duplicates, {} conflicts, {} missing",
                rep.written,
                rep.out.display(),
                rep.duplicates.len(),
                rep.conflicts.len(),
                rep.missing.len()
            );
            for k in rep.conflicts.iter().take(10) {
                println!("conflict: {k}");
            }
            for k in rep.missing.iter().take(10) {
                println!("missing: {k}");
            }
            Ok(if rep.conflicts.is_empty() && rep.missing.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Cmd::Docs { check } => {
            let pages = crate::docs::render_all()?;
            let dir = crate::docs::docs_dir();
            if check {
                let stale = crate::docs::stale_pages(&dir, &pages);
                if stale.is_empty() {
                    println!("{} pages up to date", pages.len());
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!("error: stale pages (run `cargo run --release -- docs`): {}", stale.join(", "));
                return Ok(ExitCode::FAILURE);
            }
            crate::docs::write_pages(&dir, &pages)?;
            println!("wrote {} pages under {}", pages.len(), dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Slice { input, output, layers, heads } => {
            crate::data::write_slice(&input, &output, &layers, &heads)?;
            println!("wrote {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "lm")]
        Cmd::Extract { text, tokens_from, n, layers, out, model } => {
            lm_cmd::extract(text, tokens_from, n, layers, out, model)
        }
        #[cfg(feature = "lm")]
        Cmd::LmEval { text, tokens_from, n, methods, layer, train_text, train_n, seed, json, model } => {
            lm_cmd::eval(lm_cmd::EvalArgs {
                text,
                tokens_from,
                n,
                methods,
                layer,
                train_text,
                train_n,
                seed,
                json,
                model,
            })
        }
    }
}

#[cfg(feature = "lm")]
mod lm_cmd {
    use crate::lm::{self, eval, extract, model::Model, tokenizer::Tokenizer};
    use crate::{Error, Result};
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::process::ExitCode;

    fn load(model: Option<PathBuf>) -> Result<(Model, Tokenizer, PathBuf)> {
        let path = model.unwrap_or_else(lm::default_model_path);
        if !path.exists() {
            return Err(Error::invalid(
                "--model",
                format!("{} does not exist: run scripts/fetch-lm.sh", path.display()),
            ));
        }
        let (m, g) = Model::load(&path)?;
        let t = Tokenizer::from_gguf(&g)?;
        Ok((m, t, path))
    }

    fn source(text: &Option<PathBuf>, tokens_from: &Option<PathBuf>) -> String {
        match (text, tokens_from) {
            (Some(p), _) => format!("text {}", p.display()),
            (_, Some(p)) => format!("tokens of {}", p.display()),
            _ => String::new(),
        }
    }

    pub fn extract(
        text: Option<PathBuf>,
        tokens_from: Option<PathBuf>,
        n: usize,
        layers: Vec<usize>,
        out: PathBuf,
        model: Option<PathBuf>,
    ) -> Result<ExitCode> {
        let (m, tok, path) = load(model)?;
        let tokens = extract::tokens_for(text.as_deref(), tokens_from.as_deref(), &tok, n)?;
        let mut meta = BTreeMap::new();
        meta.insert("model".to_string(), format!("SmolLM2-135M-Instruct GGUF Q4_1 ({})", path.display()));
        meta.insert("source".to_string(), source(&text, &tokens_from));
        meta.insert("n".to_string(), n.to_string());
        meta.insert("layers".to_string(), format!("{layers:?}"));
        meta.insert(
            "producer".to_string(),
            format!("attnproof {} extract (f32 forward, exact f64 causal outputs)", env!("CARGO_PKG_VERSION")),
        );
        extract::extract(&m, &tokens, &layers, &out, &meta)?;
        println!("wrote {} (n = {n}, layers {layers:?})", out.display());
        Ok(ExitCode::SUCCESS)
    }

    pub struct EvalArgs {
        pub text: Option<PathBuf>,
        pub tokens_from: Option<PathBuf>,
        pub n: usize,
        pub methods: Vec<String>,
        pub layer: Vec<usize>,
        pub train_text: Option<PathBuf>,
        pub train_n: usize,
        pub seed: u64,
        pub json: Option<PathBuf>,
        pub model: Option<PathBuf>,
    }

    pub fn eval(a: EvalArgs) -> Result<ExitCode> {
        let EvalArgs { text, tokens_from, n, methods, layer, train_text, train_n, seed, json, model } = a;
        // learned:B needs the model and the training text: parsed after loading.
        let mut learned = Vec::new();
        let mut attns: Vec<(usize, Box<dyn crate::lm::model::Attention>)> = Vec::new();
        for (i, s) in methods.iter().enumerate() {
            if s.starts_with("learned:") {
                let opts = eval::parse_learned(s, seed)?;
                if train_text.is_none() {
                    return Err(Error::invalid("--train-text", format!("`{s}` needs a training text")));
                }
                learned.push((i, opts));
            } else {
                attns.push((i, eval::parse_method(s, seed)?));
            }
        }
        let (m, tok, _) = load(model)?;
        if let Some(l) = layer.iter().find(|&&l| l >= m.cfg.n_layer) {
            return Err(Error::invalid("--layer", format!("layer {l} is outside 0..{}", m.cfg.n_layer)));
        }
        let tokens = extract::tokens_for(text.as_deref(), tokens_from.as_deref(), &tok, n)?;
        if !learned.is_empty() {
            let tp = train_text.as_deref().expect("checked above");
            if text.as_deref() == Some(tp) {
                eprintln!("warning: the learned mask is trained and evaluated on the same text");
            }
            let train = extract::tokens_for(Some(tp), None, &tok, train_n)
                .map_err(|e| Error::invalid("--train-n", format!("{e} (training text {})", tp.display())))?;
            for (i, (b, opts)) in learned {
                let what = format!("the first {train_n} tokens of {}", tp.display());
                attns.push((i, Box::new(eval::train_learned(&m, &train, b, opts, &what)?)));
            }
            attns.sort_by_key(|x| x.0);
        }
        let src = source(&text, &tokens_from);
        println!("# {src} , n = {n} tokens, seed {seed}");
        let command =
            std::iter::once("attnproof".to_string()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ");
        let base = eval::base(&m, &tokens)?;
        println!("{}", eval::Row::header());
        let mut out = String::new();
        for (_, a) in &attns {
            let sets: Vec<Option<Vec<usize>>> =
                if layer.is_empty() { vec![None] } else { layer.iter().map(|&l| Some(vec![l])).collect() };
            for ls in sets {
                let r = eval::compare(&m, &tokens, &base, a.as_ref(), ls.as_deref())?;
                println!("{}", r.line());
                let mut v = serde_json::to_value(&r).map_err(|e| Error::invalid("json", e.to_string()))?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("source".into(), src.clone().into());
                    o.insert("seed".into(), seed.into());
                    o.insert("command".into(), command.clone().into());
                }
                out += &v.to_string();
                out.push('\n');
            }
        }
        if let Some(p) = json {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| Error::io(&p, e))?;
            f.write_all(out.as_bytes()).map_err(|e| Error::io(&p, e))?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
