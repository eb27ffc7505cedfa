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
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::tensor(path, format!("not a valid safetensors file: {e}")))?;
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

/// The metadata map of a file's header (empty when absent).
pub fn metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let bytes = read_file(path)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::tensor(path, format!("not a valid safetensors file: {e}")))?;
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
