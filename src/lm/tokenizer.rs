//! Byte-level BPE tokenizer rebuilt from the GGUF metadata (`tokenizer.ggml.tokens`,
//! `tokenizer.ggml.merges`), with the `smollm` pre-tokenizer: every numeric character is its own
//! piece (HF `Digits(individual_digits=true)`), then the GPT-2 split
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, hand-written
//! (Rust's `char::is_alphabetic` / `is_numeric` / `is_whitespace` stand for \p{L}, \p{N}, \s; they
//! agree on ASCII and differ only on rare marks). No special tokens are parsed from the text and no
//! BOS is added (`add_bos = false`).
use super::gguf::{Gguf, Value};
use crate::{Error, Result};
use std::collections::HashMap;

pub struct Tokenizer {
    tokens: Vec<String>,
    /// Token of each byte (unk where the vocabulary has none).
    byte_id: Vec<u32>,
    /// (left id, right id) → (rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    char_byte: HashMap<char, u8>,
}

/// GPT-2's reversible byte → printable-character map.
fn bytes_to_unicode() -> [char; 256] {
    let mut m = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..256u32 {
        let keep = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        m[b as usize] = if keep {
            char::from_u32(b).unwrap()
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap()
        };
    }
    m
}

#[derive(PartialEq, Clone, Copy)]
enum Class {
    L,
    N,
    S,
    O,
}

fn class(c: char) -> Class {
    if c.is_whitespace() {
        Class::S
    } else if c.is_alphabetic() {
        Class::L
    } else if c.is_numeric() {
        Class::N
    } else {
        Class::O
    }
}

/// The pre-tokenizer: pieces of `text` (byte ranges).
pub fn pre_tokenize(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    // 1. digits isolated
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_numeric() {
            if start < i {
                gpt2_split(&text[start..i], &mut out);
            }
            out.push(&text[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < text.len() {
        gpt2_split(&text[start..], &mut out);
    }
    out
}

fn gpt2_split<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    let cs: Vec<(usize, char)> = s.char_indices().collect();
    let n = cs.len();
    let at = |k: usize| if k < n { cs[k].0 } else { s.len() };
    let run = |mut k: usize, cl: Class| {
        while k < n && class(cs[k].1) == cl {
            k += 1;
        }
        k
    };
    let mut i = 0;
    while i < n {
        let c = cs[i].1;
        // contractions
        if c == '\'' && i + 1 < n {
            let next: String = cs[i + 1..n.min(i + 3)].iter().map(|x| x.1).collect();
            let len = if next.starts_with("re") || next.starts_with("ve") || next.starts_with("ll") {
                3
            } else if matches!(cs[i + 1].1, 's' | 't' | 'm' | 'd') {
                2
            } else {
                0
            };
            if len > 0 {
                out.push(&s[at(i)..at(i + len)]);
                i += len;
                continue;
            }
        }
        // ' ?X+' for X in L, N, other
        let (body, j) = if c == ' ' && i + 1 < n && class(cs[i + 1].1) != Class::S { (i + 1, i + 1) } else { (i, i) };
        let cl = class(cs[body].1);
        if cl != Class::S {
            let e = run(j, cl);
            out.push(&s[at(i)..at(e)]);
            i = e;
            continue;
        }
        // whitespace: \s+(?!\S) then \s+
        let e = run(i, Class::S);
        let e = if e == n || e - i == 1 { e } else { e - 1 };
        out.push(&s[at(i)..at(e)]);
        i = e;
    }
}

impl Tokenizer {
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let model = g.meta_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::tensor(
                &g.path,
                format!("tokenizer model `{model}` is not supported (gpt2 byte-level BPE only)"),
            ));
        }
        let strs = |key: &str| -> Result<Vec<String>> {
            g.meta_array(key)?
                .iter()
                .map(|v| match v {
                    Value::Str(s) => Ok(s.clone()),
                    _ => Err(Error::tensor(&g.path, format!("`{key}` holds a non-string"))),
                })
                .collect()
        };
        let tokens = strs("tokenizer.ggml.tokens")?;
        let ids: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let mut merges = HashMap::new();
        for (r, m) in strs("tokenizer.ggml.merges")?.iter().enumerate() {
            let (a, b) =
                m.split_once(' ').ok_or_else(|| Error::tensor(&g.path, format!("merge `{m}` has no space")))?;
            let (Some(&ia), Some(&ib), Some(&im)) = (ids.get(a), ids.get(b), ids.get(&format!("{a}{b}"))) else {
                return Err(Error::tensor(&g.path, format!("merge `{m}` names a token not in the vocabulary")));
            };
            merges.entry((ia, ib)).or_insert((r as u32, im));
        }
        let byte_char = bytes_to_unicode();
        // Some control bytes have no token (SmolLM2's vocabulary lacks a few): they encode as unk.
        let unk = g.meta_u64("tokenizer.ggml.unknown_token_id").unwrap_or(0) as u32;
        let byte_id: Vec<u32> = byte_char.iter().map(|c| ids.get(&c.to_string()).copied().unwrap_or(unk)).collect();
        let char_byte = byte_char.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        Ok(Tokenizer { tokens, byte_id, merges, char_byte })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    fn bpe(&self, piece: &str, out: &mut Vec<u32>) {
        let mut sym: Vec<u32> = piece.bytes().map(|b| self.byte_id[b as usize]).collect();
        loop {
            let best = sym
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| self.merges.get(&(w[0], w[1])).map(|&(r, m)| (r, i, m)))
                .min();
            let Some((_, i, m)) = best else { break };
            sym[i] = m;
            sym.remove(i + 1);
        }
        out.extend(sym);
    }

    /// Token ids of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut cache: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut out = Vec::new();
        for p in pre_tokenize(text) {
            let ids = cache.entry(p).or_insert_with(|| {
                let mut v = Vec::new();
                self.bpe(p, &mut v);
                v
            });
            out.extend_from_slice(ids);
        }
        out
    }

    /// Text of token ids (invalid UTF-8 replaced); an id outside the vocabulary is an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::new();
        for &i in ids {
            let t = self
                .tokens
                .get(i as usize)
                .ok_or_else(|| Error::invalid("token id", format!("{i} is outside 0..{}", self.tokens.len())))?;
            for c in t.chars() {
                match self.char_byte.get(&c) {
                    Some(&b) => bytes.push(b),
                    None => bytes.extend(c.to_string().as_bytes()),
                }
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_tokenizer_splits_like_gpt2_with_single_digits() {
        assert_eq!(pre_tokenize("The capital of France is"), vec!["The", " capital", " of", " France", " is"]);
        assert_eq!(
            pre_tokenize("in 2007, it's  ok\n\n  x"),
            vec!["in", " ", "2", "0", "0", "7", ",", " it", "'s", " ", " ok", "\n\n ", " x"]
        );
        assert_eq!(pre_tokenize("a!!'s b  "), vec!["a", "!!'", "s", " b", "  "]);
    }
}
