//! Tensor input and output: safetensors ([`safetensors_io`]) and `.npy` ([`npy`]), with dtype,
//! shape and finiteness checks whose errors name the file and the tensor.
pub mod npy;
pub mod safetensors_io;

use crate::{Error, Result};
use std::path::Path;

/// The element data of a tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
}

/// A named dense row-major tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Tensor {
    pub fn f32(name: &str, shape: Vec<usize>, data: Vec<f32>) -> Self {
        Tensor { name: name.into(), shape, data: Data::F32(data) }
    }
    pub fn f64(name: &str, shape: Vec<usize>, data: Vec<f64>) -> Self {
        Tensor { name: name.into(), shape, data: Data::F64(data) }
    }
    pub fn dtype(&self) -> &'static str {
        match self.data {
            Data::F32(_) => "F32",
            Data::F64(_) => "F64",
            Data::I64(_) => "I64",
        }
    }
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Check the rank and, where given, each extent (`None` = any).
    pub fn expect_shape(&self, file: &Path, dims: &[Option<usize>]) -> Result<()> {
        let ok = self.shape.len() == dims.len() && self.shape.iter().zip(dims).all(|(s, d)| d.is_none_or(|d| *s == d));
        if ok {
            Ok(())
        } else {
            let want: Vec<String> = dims.iter().map(|d| d.map_or("*".into(), |d| d.to_string())).collect();
            Err(Error::tensor(
                file,
                format!("tensor `{}`: expected shape [{}], found {:?}", self.name, want.join(", "), self.shape),
            ))
        }
    }
    /// First non-finite element, as an error naming its multi-index.
    pub fn expect_finite(&self, file: &Path) -> Result<()> {
        let pos = match &self.data {
            Data::F32(v) => v.iter().position(|x| !x.is_finite()),
            Data::F64(v) => v.iter().position(|x| !x.is_finite()),
            Data::I64(_) => None,
        };
        match pos {
            None => Ok(()),
            Some(p) => Err(Error::tensor(
                file,
                format!("tensor `{}`: non-finite value at index {:?}", self.name, unravel(p, &self.shape)),
            )),
        }
    }
    /// The data as f64 (f32 widened exactly), or an error if the dtype is integer.
    pub fn to_f64(&self, file: &Path) -> Result<Vec<f64>> {
        match &self.data {
            Data::F32(v) => Ok(v.iter().map(|&x| x as f64).collect()),
            Data::F64(v) => Ok(v.clone()),
            Data::I64(_) => {
                Err(Error::tensor(file, format!("tensor `{}`: expected a float dtype, found I64", self.name)))
            }
        }
    }
    /// The data as f32; F64 is refused (narrowing would hide precision loss).
    pub fn to_f32(&self, file: &Path) -> Result<Vec<f32>> {
        match &self.data {
            Data::F32(v) => Ok(v.clone()),
            _ => Err(Error::tensor(file, format!("tensor `{}`: expected F32, found {}", self.name, self.dtype()))),
        }
    }
}

/// Row-major multi-index of flat position `p`.
pub fn unravel(mut p: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &s) in shape.iter().enumerate().rev() {
        if s > 0 {
            idx[i] = p % s;
            p /= s;
        }
    }
    idx
}

/// Load every tensor of a `.safetensors` or `.npy` file, by extension.
pub fn load_any(path: &Path) -> Result<Vec<Tensor>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => safetensors_io::load(path),
        Some("npy") => Ok(vec![npy::load(path)?]),
        _ => Err(Error::tensor(path, "expected a .safetensors or .npy file")),
    }
}
