//! safetensors reading and writing through the `safetensors` crate.
use super::{Data, Tensor};
use crate::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// Read every tensor of a file (F32, F64 and I64 supported; others are a clear error).
pub fn load(path: &Path) -> Result<Vec<Tensor>> {
    parse(&read_file(path)?, path)
}

/// The bytes of a regular file: a device, a pipe or a folder is refused before reading (reading
/// `/dev/zero` would never end).
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::tensor(path, "not a regular file: expected a safetensors file"));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Parse safetensors bytes; `path` names the source in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Tensor>> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| invalid_file(bytes, path, &e))?;
    let mut names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let view = st.tensor(&name).map_err(|e| Error::tensor(path, format!("tensor `{name}`: {e}")))?;
        let raw = view.data();
        let data = match view.dtype() {
            Dtype::F32 => Data::F32(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
            Dtype::F64 => Data::F64(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()),
            Dtype::I64 => Data::I64(raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()),
            other => {
                return Err(Error::tensor(
                    path,
                    format!("tensor `{name}`: dtype {other:?} not supported (expected F32, F64 or I64)"),
                ));
            }
        };
        out.push(Tensor { name, shape: view.shape().to_vec(), data });
    }
    Ok(out)
}

/// The one-line error for bytes the `safetensors` crate refused: its message, made specific where it
/// names no tensor (a size that does not match the shape, data not covered by the header) by
/// [`header_fault`].
fn invalid_file(bytes: &[u8], path: &Path, e: &safetensors::SafeTensorError) -> Error {
    let why = header_fault(bytes).unwrap_or_else(|| e.to_string());
    Error::tensor(path, format!("not a valid safetensors file: {why}"))
}

/// The first fault of a safetensors header (8-byte little-endian length, then a JSON map of name →
/// {dtype, shape, data_offsets}) that names its tensor: a byte span other than Π shape × dtype size,
/// spans that leave a gap or overlap, or a data section longer or shorter than the spans. `None`
/// when the header cannot be read this far or no such fault is found (the crate's message then stands).
pub fn header_fault(bytes: &[u8]) -> Option<String> {
    let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = 8usize.checked_add(usize::try_from(len).ok()?)?;
    let hdr: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes.get(8..end)?).ok()?;
    let mut spans = Vec::new();
    for (name, info) in hdr.iter().filter(|(n, _)| n.as_str() != "__metadata__") {
        let size = match info.get("dtype")?.as_str()? {
            "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" | "F8_E4M3FNUZ" | "F8_E5M2FNUZ" => 1u128,
            "I16" | "U16" | "F16" | "BF16" => 2,
            "I32" | "U32" | "F32" => 4,
            "F64" | "I64" | "U64" | "C64" => 8,
            _ => return None,
        };
        let shape: Vec<u64> = info.get("shape")?.as_array()?.iter().map(|x| x.as_u64()).collect::<Option<_>>()?;
        let offs: Vec<u64> = info.get("data_offsets")?.as_array()?.iter().map(|x| x.as_u64()).collect::<Option<_>>()?;
        let [a, b] = offs[..] else { return None };
        let want = shape.iter().try_fold(size, |acc, &x| acc.checked_mul(x as u128));
        if b < a || want != Some((b - a) as u128) {
            let want = want.map_or("more than 2^128".to_string(), |w| w.to_string());
            return Some(format!(
                "tensor `{name}`: shape {shape:?} of {} needs {want} bytes, but data_offsets [{a}, {b}] span {}",
                info["dtype"].as_str().unwrap_or("?"),
                b as i128 - a as i128
            ));
        }
        spans.push((a, b, name.as_str()));
    }
    spans.sort();
    let mut at = 0u64;
    for &(a, b, name) in &spans {
        if a != at {
            let what = if a < at { "overlaps the previous tensor" } else { "leaves a gap after the previous tensor" };
            return Some(format!("tensor `{name}`: data_offsets [{a}, {b}] {what} (expected to start at byte {at})"));
        }
        at = b;
    }
    let data = (bytes.len() - end) as u64;
    (data != at)
        .then(|| format!("the header's tensors cover {at} data bytes, but the file holds {data} after the header"))
}

/// The metadata map of a file's header (empty when absent).
pub fn metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let bytes = read_file(path)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| invalid_file(&bytes, path, &e))?;
    Ok(meta.metadata().clone().map(|m| m.into_iter().collect()).unwrap_or_default())
}

/// Write tensors with metadata; written to a temporary file and renamed, so a reader never sees a
/// half-written file.
pub fn save(path: &Path, tensors: &[Tensor], meta: &BTreeMap<String, String>) -> Result<()> {
    let bufs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            let (dt, bytes) = match &t.data {
                Data::F32(v) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                Data::F64(v) => (Dtype::F64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                Data::I64(v) => (Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            };
            (t.name.clone(), dt, t.shape.clone(), bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bufs
        .iter()
        .map(|(n, dt, s, b)| {
            safetensors::tensor::TensorView::new(*dt, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::tensor(path, format!("tensor `{n}`: {e}")))
        })
        .collect::<Result<_>>()?;
    let meta: std::collections::HashMap<String, String> = meta.clone().into_iter().collect();
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| Error::tensor(path, e.to_string()))?;
    crate::out_file::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::{header_fault, parse};
    use std::path::Path;

    /// A file of `data` bytes after a header of (name, dtype, shape, offsets) entries.
    fn file(entries: &[(&str, &str, &[u64], [u64; 2])], data: usize) -> Vec<u8> {
        let map: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(n, t, s, o)| (n.to_string(), serde_json::json!({"dtype": t, "shape": s, "data_offsets": o})))
            .collect();
        let hdr = serde_json::to_vec(&map).unwrap();
        let mut b = (hdr.len() as u64).to_le_bytes().to_vec();
        b.extend(hdr);
        b.extend(std::iter::repeat_n(0u8, data));
        b
    }

    #[test]
    fn header_faults_name_the_tensor_and_the_byte_counts() {
        let p = Path::new("x.safetensors");
        let ok = file(&[("a", "F32", &[4, 2], [0, 32]), ("b", "F64", &[2], [32, 48])], 48);
        assert_eq!(header_fault(&ok), None);
        assert_eq!(parse(&ok, p).unwrap().len(), 2);
        let cases: [(Vec<u8>, &str); 4] = [
            (
                file(&[("a", "F32", &[4, 2], [0, 32]), ("b", "F32", &[4, 2], [32, 60])], 60),
                "tensor `b`: shape [4, 2] of F32 needs 32 bytes, but data_offsets [32, 60] span 28",
            ),
            (
                file(&[("a", "F32", &[4, 2], [0, 32]), ("b", "F32", &[4, 2], [0, 32])], 32),
                "tensor `b`: data_offsets [0, 32] overlaps the previous tensor (expected to start at byte 32)",
            ),
            (
                file(&[("a", "F32", &[2], [8, 16])], 16),
                "tensor `a`: data_offsets [8, 16] leaves a gap after the previous tensor (expected to start at byte 0)",
            ),
            (
                file(&[("a", "F32", &[4, 2], [0, 32])], 40),
                "the header's tensors cover 32 data bytes, but the file holds 40 after the header",
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(header_fault(&bytes).as_deref(), Some(want));
            let e = parse(&bytes, p).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("x.safetensors") && !e.contains('\n'), "{e}");
        }
        // Faults the crate words itself (unknown dtype, bad JSON, short file) keep its message.
        assert_eq!(header_fault(b"\x05\0\0\0\0\0\0\0{"), None);
        assert_eq!(header_fault(b"\x01"), None);
    }
}
