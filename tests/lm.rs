//! Validation of the SmolLM2 forward pass (feature `lm`). Needs the GGUF from
//! `scripts/fetch-lm.sh`; each test skips with a one-line message when it is absent, unless
//! `REQUIRE_LM=1` (CI), where absence fails. The q/k/v test also needs the independent extraction
//! `../shared/data/smollm2/gpl3_n4096.safetensors` (or `$ATTNPROOF_SMOLLM2_DATA`).
#![cfg(feature = "lm")]
use attnproof::lm::eval;
use attnproof::lm::model::{self, Exact, Model};
use attnproof::lm::tokenizer::Tokenizer;
use attnproof::tensor::{Data, safetensors_io};
use std::path::PathBuf;
use std::sync::OnceLock;

/// `lm-eval`'s peak-memory column needs the counting allocator.
#[global_allocator]
static ALLOC: attnproof::alloc_count::Counting = attnproof::alloc_count::Counting;

const PROMPT: [u32; 5] = [504, 3575, 282, 4649, 314];

fn require() -> bool {
    std::env::var("REQUIRE_LM").is_ok_and(|v| v == "1")
}

fn lm() -> Option<&'static (Model, Tokenizer)> {
    static M: OnceLock<Option<(Model, Tokenizer)>> = OnceLock::new();
    M.get_or_init(|| {
        let p = attnproof::lm::default_model_path();
        if !p.exists() {
            assert!(!require(), "REQUIRE_LM=1 but {} is absent (run scripts/fetch-lm.sh)", p.display());
            eprintln!("skipped: {} is absent (run scripts/fetch-lm.sh)", p.display());
            return None;
        }
        let (m, g) = Model::load(&p).expect("load the GGUF");
        let t = Tokenizer::from_gguf(&g).expect("tokenizer");
        Some((m, t))
    })
    .as_ref()
}

fn data_file() -> Option<PathBuf> {
    let p = std::env::var("ATTNPROOF_SMOLLM2_DATA").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/smollm2/gpl3_n4096.safetensors")
    });
    if p.exists() {
        Some(p)
    } else {
        // The independent extraction lives outside the repository (../shared); a clean clone on a CI
        // machine may not have it, so its absence skips even under REQUIRE_LM=1 (which is about the
        // model file only).
        eprintln!("SKIP q/k/v comparison: {} is absent (set ATTNPROOF_SMOLLM2_DATA)", p.display());
        None
    }
}

#[test]
fn capital_of_france_is_paris() {
    let Some((m, tok)) = lm() else { return };
    assert_eq!(tok.encode("The capital of France is"), PROMPT);
    let paris = tok.encode(" Paris");
    assert_eq!(paris.len(), 1, "\" Paris\" is one token");
    let fw = m.forward(&PROMPT, &Exact, &[]).unwrap();
    let v = m.cfg.vocab;
    let last = &fw.logits[4 * v..5 * v];
    let (arg, &top) = last.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
    eprintln!(
        "argmax {arg} {:?} logit {top}; \" the\" {:?}, \" London\" {:?}",
        tok.decode(&[arg as u32]).unwrap(),
        last[tok.encode(" the")[0] as usize],
        last[tok.encode(" London")[0] as usize]
    );
    assert_eq!(arg as u32, paris[0]);
    assert_eq!(tok.decode(&[arg as u32]).unwrap(), " Paris");
    // reference value 17.37 (2 decimals, ±0.005) from an independent f32 forward pass; f32 rounding
    // of two implementations differs far less (measured |Δ| in docs/lm.md)
    assert!((top - 17.37).abs() <= 0.01, "logit {top} vs 17.37");
    assert!((last[tok.encode(" the")[0] as usize] - 14.89).abs() <= 0.01);
    assert!((last[tok.encode(" London")[0] as usize] - 13.24).abs() <= 0.01);
}

fn tokens_of(p: &std::path::Path) -> Vec<u32> {
    let t = safetensors_io::load(p).unwrap().into_iter().find(|t| t.name == "tokens").unwrap();
    match t.data {
        Data::I64(v) => v.iter().map(|&x| x as u32).collect(),
        _ => panic!("tokens must be i64"),
    }
}

#[test]
fn tokenizer_matches_the_independent_extraction_on_gpl3() {
    let Some((_, tok)) = lm() else { return };
    let Some(p) = data_file() else { return };
    let gpl = PathBuf::from("/usr/share/common-licenses/GPL-3");
    if !gpl.exists() {
        assert!(!require(), "REQUIRE_LM=1 but {} is absent", gpl.display());
        eprintln!("skipped: {} is absent", gpl.display());
        return;
    }
    let want = tokens_of(&p);
    let got = tok.encode(&std::fs::read_to_string(&gpl).unwrap());
    assert!(got.len() >= want.len());
    let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "first differing token");
    assert_eq!(tok.decode(&got).unwrap(), std::fs::read_to_string(&gpl).unwrap(), "decode ∘ encode = id");
}

#[test]
fn qkv_match_the_independent_extraction() {
    let Some((m, _)) = lm() else { return };
    let Some(p) = data_file() else { return };
    let n = 512;
    let full = 4096;
    let tokens = tokens_of(&p);
    let ts: std::collections::BTreeMap<String, _> =
        safetensors_io::load(&p).unwrap().into_iter().map(|t| (t.name.clone(), t)).collect();
    let fw = m.forward(&tokens[..n], &Exact, &[2, 15, 28]).unwrap();
    let hd = 64;
    for cap in &fw.captured {
        for (name, mine, heads) in [("q", &cap.q, 9), ("k", &cap.k, 3), ("v", &cap.v, 3)] {
            let t = ts[&format!("layer{}.{name}", cap.layer)].to_f32(&p).unwrap();
            let (mut maxd, mut maxa) = (0f64, 0f64);
            for h in 0..heads {
                for i in 0..n * hd {
                    let a = t[h * full * hd + i] as f64;
                    maxd = maxd.max((a - mine[h * n * hd + i] as f64).abs());
                    maxa = maxa.max(a.abs());
                }
            }
            eprintln!(
                "layer{}.{name}: max |Δ| = {maxd:.3e}, max |x| = {maxa:.3e}, ratio {:.3e}",
                cap.layer,
                maxd / maxa
            );
            // Same tokens, same dequantised weights (Q4_1 decoding is exact in f32), both f32: the
            // passes differ only by rounding (summation order of gemm vs the reference's BLAS,
            // cos/sin/exp implementations), propagated through up to 28 residual layers. No a-priori
            // bound through the network is derived; measured max |Δ|/max|x| ≤ 2.0e-6 (≈ 33 u,
            // u = 2⁻²⁴) on layers 2/15/28 (docs/lm.md); the assertion allows 10× that, far below
            // what a wrong RoPE layout, GQA map or dequantisation would give (O(1) relative).
            assert!(maxd <= 2e-5 * maxa, "layer{}.{name}: max |Δ| {maxd:.3e} > 2e-5 · {maxa:.3e}", cap.layer);
        }
    }
}

#[test]
fn replaced_attention_moves_the_distribution_by_what_it_drops() {
    let Some((m, tok)) = lm() else { return };
    let text = "The GNU General Public License is a free, copyleft license for software and other kinds of works. \
        The licenses for most software and other practical works are designed to take away your freedom to share and change the works.";
    let tokens = tok.encode(text);
    let base = eval::base(m, &tokens).unwrap();
    let same = eval::compare(m, &tokens, &base, eval::parse_method("exact-f64", 1).unwrap().as_ref(), None).unwrap();
    let last = eval::compare(m, &tokens, &base, eval::parse_method("last:4", 1).unwrap().as_ref(), None).unwrap();
    let solver =
        eval::compare(m, &tokens, &base, eval::parse_method("solver:1e-3", 1).unwrap().as_ref(), None).unwrap();
    eprintln!("{}\n{}\n{}\n{}", eval::Row::header(), same.line(), last.line(), solver.line());
    assert!(same.kl_max < 1e-6, "f64 vs f32 exact attention: {}", same.kl_max);
    assert!(solver.kl_max < 1e-3);
    assert!(last.kl_mean > 1e-2, "dropping all but 4 keys must change the model: {}", last.kl_mean);
    assert!((same.ppl - same.ppl_base).abs() < 1e-3 * same.ppl_base);
    // Attention-probability MSE: 0 for the f64 oracle, positive for a 4-key window, n/a (with the
    // reason) for the solver, which returns outputs only.
    assert_eq!((same.prob_mse, same.prob_mse_max), (Some(0.0), Some(0.0)));
    assert!(last.prob_mse.is_some_and(|x| x > 0.0) && last.prob_mse_max >= last.prob_mse);
    assert!(solver.prob_mse.is_none() && solver.prob_mse_na.as_deref().is_some_and(|r| r.contains("solver")));
    // Peak memory of one head's call, measured: at least the f64 output and its f32 copy (n × 64 ×
    // 12 bytes) for the methods, at least the f32 output for the exact kernel.
    let n = tokens.len() as u64;
    for r in [&same, &last, &solver] {
        let (p, e) = (r.peak_bytes.unwrap(), r.peak_exact_bytes.unwrap());
        assert!(p >= n * 64 * 12 && e >= n * 64 * 4, "{}: peak {p} B, exact {e} B", r.method);
    }
    // One layer at a time: only that layer's heads are measured.
    let one = eval::compare(m, &tokens, &base, eval::parse_method("last:4", 1).unwrap().as_ref(), Some(&[3])).unwrap();
    assert!(one.kl_mean > 0.0 && one.kl_mean < last.kl_mean, "{} vs {}", one.kl_mean, last.kl_mean);
    assert_eq!((one.layers.as_str(), one.peak_head.as_str()), ("[3]", "layer 3 head 0"));
    let _ = model::perplexity;
}

#[test]
fn the_learned_mask_trains_on_one_text_and_runs_on_another() {
    let Some((m, tok)) = lm() else { return };
    let train = tok.encode("Everyone is permitted to copy and distribute verbatim copies of this license document, but changing it is not allowed. The precise terms and conditions for copying, distribution and modification follow.");
    let eval_toks = tok.encode("Licensed under the Apache License, Version 2.0; you may not use this file except in compliance with the License. You may obtain a copy of the License at the address below.");
    let (b, o) = eval::parse_learned("learned:4:5:0.05", 7).unwrap();
    let l = eval::train_learned(m, &train, b, o, "a test sentence").unwrap();
    assert_eq!(l.models.len(), m.cfg.n_layer * m.cfg.n_head);
    let base = eval::base(m, &eval_toks).unwrap();
    let r = eval::compare(m, &eval_toks, &base, &l, None).unwrap();
    assert!(r.kl_mean > 0.0 && r.kl_mean.is_finite() && r.prob_mse.is_some_and(|x| x > 0.0), "{}", r.line());
    assert!(r.note.as_deref().is_some_and(|n| n.contains("trained on a test sentence")));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let Some((m, _)) = lm() else { return };
    assert!(m.forward(&[], &Exact, &[]).is_err());
    assert!(m.forward(&[60000], &Exact, &[]).is_err());
    assert!(m.forward(&[1, 2], &Exact, &[30]).is_err());
    assert!(eval::parse_method("topk:x", 1).is_err());
    assert!(eval::parse_method("solver:-1", 1).is_err());
}

#[test]
fn extract_writes_a_file_check_reference_accepts() {
    let Some((m, tok)) = lm() else { return };
    let text = "The GNU General Public License is a free, copyleft license for software and other kinds of works, \
        specifically designed to ensure cooperation with the community in the case of network server software.";
    let tokens = tok.encode(text);
    let n = tokens.len();
    let dir = std::env::temp_dir().join(format!("attnproof-lm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("x.safetensors");
    attnproof::lm::extract::extract(m, &tokens, &[0, 29], &out, &Default::default()).unwrap();
    let rep = attnproof::check_reference::check_file(&out).unwrap();
    assert_eq!(rep.layers.keys().copied().collect::<Vec<_>>(), vec![0, 29]);
    assert!(rep.layers.values().all(|l| l.heads == 9));
    assert!(rep.max_f64_err() <= 1e-10, "{}", rep.table());
    let heads = attnproof::data::load_heads(&out).unwrap();
    assert_eq!((heads[0].n, heads[0].d), (n, 64));
    // the file's q, k are those of the forward pass: re-running gives the same bits
    let fw = m.forward(&tokens, &Exact, &[29]).unwrap();
    assert_eq!(heads[9 + 4].q, fw.captured[0].q[4 * n * 64..5 * n * 64]);
    assert_eq!(heads[9 + 4].k, fw.captured[0].k[n * 64..2 * n * 64]);
    assert!(attnproof::lm::extract::extract(m, &tokens, &[], &out, &Default::default()).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
