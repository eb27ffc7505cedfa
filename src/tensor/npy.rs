//! `.npy` reading through `npyz` (f4, f8 and i8 little-endian, C order).
use super::{Data, Tensor};
use crate::{Error, Result};
use std::path::Path;

/// Read a `.npy` file; the tensor is named after the file stem.
pub fn load(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, path)
}

pub fn parse(bytes: &[u8], path: &Path) -> Result<Tensor> {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("array").to_string();
    let npy = npyz::NpyFile::new(bytes).map_err(|e| Error::tensor(path, format!("not a valid .npy file: {e}")))?;
    if npy.order() != npyz::Order::C {
        return Err(Error::tensor(path, "expected C (row-major) order, found Fortran order"));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let descr = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => {
            return Err(Error::tensor(path, format!("expected a plain dtype (<f4, <f8, <i8), found {other:?}")));
        }
    };
    // The header's shape must fit the bytes present before anything is allocated from it (a
    // header claiming [2^40] values made `into_vec` reserve terabytes and abort).
    let width = match descr.as_str() {
        "<f4" => 4u128,
        "<f8" | "<i8" => 8,
        _ => 1,
    };
    let count = shape.iter().try_fold(1u128, |acc, &s| acc.checked_mul(s as u128));
    match count {
        Some(c) if c.saturating_mul(width) <= bytes.len() as u128 => {}
        _ => {
            return Err(Error::tensor(
                path,
                format!("header shape {shape:?} needs more data than the file's {} bytes", bytes.len()),
            ));
        }
    }
    let bad = |e: std::io::Error| Error::tensor(path, format!("reading data: {e}"));
    let data = match descr.as_str() {
        "<f4" => Data::F32(npy.into_vec::<f32>().map_err(bad)?),
        "<f8" => Data::F64(npy.into_vec::<f64>().map_err(bad)?),
        "<i8" => Data::I64(npy.into_vec::<i64>().map_err(bad)?),
        d => {
            return Err(Error::tensor(path, format!("dtype {d} not supported (expected <f4, <f8 or <i8)")));
        }
    };
    let t = Tensor { name, shape, data };
    let count: usize = t.shape.iter().product();
    if count != t.len() {
        return Err(Error::tensor(
            path,
            format!("header shape {:?} needs {count} values, data has {}", t.shape, t.len()),
        ));
    }
    Ok(t)
}
