//! A small GGUF (v2/v3) reader: header, metadata, tensor infos, and dequantisation of the three
//! tensor types SmolLM2-135M-Instruct uses (F32, Q4_1, Q8_0), following the block layouts of
//! `../shared/reference/causal-lm.md` (ggml `block_q4_1`, `block_q8_0`). Every malformed input is
//! a one-line [`Error`], never a panic.
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U64(x) => Some(*x),
            Value::I64(x) if *x >= 0 => Some(*x as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(x) => Some(*x),
            Value::U64(x) => Some(*x as f64),
            Value::I64(x) => Some(*x as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// ggml tensor types this reader decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_1,
    Q8_0,
}

impl GgmlType {
    fn from_code(c: u32) -> Option<Self> {
        match c {
            0 => Some(GgmlType::F32),
            1 => Some(GgmlType::F16),
            3 => Some(GgmlType::Q4_1),
            8 => Some(GgmlType::Q8_0),
            _ => None,
        }
    }
    /// (elements per block, bytes per block).
    fn block(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 => (1, 2),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q8_0 => (32, 34),
        }
    }
}

/// One tensor's info: ggml dims (ne0 first = the contiguous, input dimension), type, byte range.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<usize>,
    pub ty: GgmlType,
    pub offset: usize,
    pub bytes: usize,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file held in memory.
pub struct Gguf {
    pub path: PathBuf,
    pub version: u32,
    pub meta: BTreeMap<String, Value>,
    pub tensors: BTreeMap<String, TensorInfo>,
    data: Vec<u8>,
    data_start: usize,
}

struct Cursor<'a> {
    b: &'a [u8],
    p: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.p.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| {
            Error::tensor(self.path, format!("GGUF truncated: wanted {n} bytes at offset {}", self.p))
        })?;
        let s = &self.b[self.p..end];
        self.p = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn len(&mut self, what: &str) -> Result<usize> {
        let n = self.u64()?;
        // every element takes at least one byte: a length beyond the file is corrupt
        if n as usize > self.b.len() {
            return Err(Error::tensor(self.path, format!("GGUF {what} length {n} exceeds the file size")));
        }
        Ok(n as usize)
    }
    fn string(&mut self) -> Result<String> {
        let n = self.len("string")?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| Error::tensor(self.path, "GGUF string is not UTF-8"))
    }
    fn value(&mut self, ty: u32, depth: usize) -> Result<Value> {
        Ok(match ty {
            0 => Value::U64(self.u8()? as u64),
            1 => Value::I64(self.u8()? as i8 as i64),
            2 => Value::U64(self.u16()? as u64),
            3 => Value::I64(self.u16()? as i16 as i64),
            4 => Value::U64(self.u32()? as u64),
            5 => Value::I64(self.u32()? as i32 as i64),
            6 => Value::F64(f32::from_bits(self.u32()?) as f64),
            7 => Value::Bool(self.u8()? != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth > 2 {
                    return Err(Error::tensor(self.path, "GGUF arrays nested too deeply"));
                }
                let et = self.u32()?;
                let n = self.len("array")?;
                let mut v = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    v.push(self.value(et, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.u64()? as i64),
            12 => Value::F64(f64::from_bits(self.u64()?)),
            t => return Err(Error::tensor(self.path, format!("GGUF metadata value type {t} is unknown"))),
        })
    }
}

/// IEEE half → single (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if man == 0 {
            sign
        } else {
            // subnormal: value = man · 2^-24
            return f32::from_bits(sign) + (if sign != 0 { -1.0 } else { 1.0 }) * man as f32 * (2f32).powi(-24);
        }
    } else if exp == 31 {
        sign | 0x7f80_0000 | (man << 13)
    } else {
        sign | ((exp + 112) << 23) | (man << 13)
    };
    f32::from_bits(bits)
}

impl Gguf {
    /// Read and parse a GGUF file.
    pub fn open(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(data, path)
    }

    pub fn parse(data: Vec<u8>, path: &Path) -> Result<Self> {
        let mut c = Cursor { b: &data, p: 0, path };
        if c.take(4)? != b"GGUF" {
            return Err(Error::tensor(path, "not a GGUF file (bad magic)"));
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::tensor(path, format!("GGUF version {version} is not supported (2 or 3)")));
        }
        let nt = c.len("tensor count")?;
        let nkv = c.len("metadata count")?;
        let mut meta = BTreeMap::new();
        for _ in 0..nkv {
            let k = c.string()?;
            let ty = c.u32()?;
            let v = c.value(ty, 0)?;
            meta.insert(k, v);
        }
        let mut infos = Vec::with_capacity(nt);
        for _ in 0..nt {
            let name = c.string()?;
            let nd = c.u32()? as usize;
            if nd == 0 || nd > 4 {
                return Err(Error::tensor(path, format!("tensor `{name}`: {nd} dimensions (expected 1..4)")));
            }
            let dims = (0..nd).map(|_| c.u64().map(|x| x as usize)).collect::<Result<Vec<_>>>()?;
            let code = c.u32()?;
            let ty = GgmlType::from_code(code).ok_or_else(|| {
                Error::tensor(
                    path,
                    format!("tensor `{name}`: ggml type {code} is not supported (F32, F16, Q4_1, Q8_0)"),
                )
            })?;
            let offset = c.u64()? as usize;
            let el = dims
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| Error::tensor(path, format!("tensor `{name}`: dims overflow")))?;
            let (be, bb) = ty.block();
            if el % be != 0 {
                return Err(Error::tensor(
                    path,
                    format!("tensor `{name}`: {el} elements is not a multiple of the block size {be}"),
                ));
            }
            infos.push(TensorInfo { name, dims, ty, offset, bytes: el / be * bb });
        }
        let align = meta.get("general.alignment").and_then(|v| v.as_u64()).unwrap_or(32) as usize;
        if align == 0 {
            return Err(Error::tensor(path, "GGUF general.alignment is 0"));
        }
        let data_start = c.p.div_ceil(align) * align;
        let mut tensors = BTreeMap::new();
        for t in infos {
            let end = data_start.checked_add(t.offset).and_then(|s| s.checked_add(t.bytes));
            if end.is_none_or(|e| e > data.len()) {
                return Err(Error::tensor(path, format!("tensor `{}` lies outside the file", t.name)));
            }
            tensors.insert(t.name.clone(), t);
        }
        Ok(Gguf { path: path.to_path_buf(), version, meta, tensors, data, data_start })
    }

    pub fn meta_u64(&self, key: &str) -> Result<u64> {
        self.meta
            .get(key)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| Error::tensor(&self.path, format!("GGUF metadata `{key}` is missing or not an integer")))
    }
    pub fn meta_f64(&self, key: &str) -> Result<f64> {
        self.meta
            .get(key)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| Error::tensor(&self.path, format!("GGUF metadata `{key}` is missing or not a number")))
    }
    pub fn meta_str(&self, key: &str) -> Result<&str> {
        self.meta
            .get(key)
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::tensor(&self.path, format!("GGUF metadata `{key}` is missing or not a string")))
    }
    pub fn meta_array(&self, key: &str) -> Result<&[Value]> {
        match self.meta.get(key) {
            Some(Value::Array(a)) => Ok(a),
            _ => Err(Error::tensor(&self.path, format!("GGUF metadata `{key}` is missing or not an array"))),
        }
    }

    pub fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors.get(name).ok_or_else(|| Error::tensor(&self.path, format!("GGUF tensor `{name}` is missing")))
    }

    /// Dequantise tensor `name` to f32 (ggml order: ne0 contiguous), checking its dims.
    pub fn dequant(&self, name: &str, dims: &[usize]) -> Result<Vec<f32>> {
        let t = self.info(name)?;
        if t.dims != dims {
            return Err(Error::tensor(
                &self.path,
                format!("tensor `{name}` has dims {:?}, expected {:?}", t.dims, dims),
            ));
        }
        let raw = &self.data[self.data_start + t.offset..self.data_start + t.offset + t.bytes];
        Ok(dequantize(t.ty, raw, t.elements()))
    }
}

/// Dequantise `n` elements of type `ty` (raw must hold exactly their blocks).
pub fn dequantize(ty: GgmlType, raw: &[u8], n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    match ty {
        GgmlType::F32 => out.extend(raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap()))),
        GgmlType::F16 => out.extend(raw.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes(b.try_into().unwrap())))),
        GgmlType::Q4_1 => {
            for b in raw.chunks_exact(20) {
                let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
                let m = f16_to_f32(u16::from_le_bytes([b[2], b[3]]));
                let qs = &b[4..20];
                out.extend(qs.iter().map(|&q| d * (q & 0xF) as f32 + m));
                out.extend(qs.iter().map(|&q| d * (q >> 4) as f32 + m));
            }
        }
        GgmlType::Q8_0 => {
            for b in raw.chunks_exact(34) {
                let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
                out.extend(b[2..34].iter().map(|&q| d * (q as i8) as f32));
            }
        }
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    }

    #[test]
    fn q4_1_and_q8_0_blocks() {
        // d = 0.5 (0x3800), m = -1 (0xbc00); qs[j] = j | (15 - j) << 4
        let mut b = vec![0x00, 0x38, 0x00, 0xbc];
        b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let v = dequantize(GgmlType::Q4_1, &b, 32);
        for j in 0..16 {
            assert_eq!(v[j], 0.5 * j as f32 - 1.0);
            assert_eq!(v[j + 16], 0.5 * (15 - j) as f32 - 1.0);
        }
        let mut b = vec![0x00, 0x40]; // d = 2
        b.extend((0..32).map(|j| (j as i8 - 16) as u8));
        let v = dequantize(GgmlType::Q8_0, &b, 32);
        for j in 0..32 {
            assert_eq!(v[j], 2.0 * (j as f32 - 16.0));
        }
    }

    #[test]
    fn bad_files_are_errors() {
        let p = Path::new("x.gguf");
        assert!(Gguf::parse(b"GGUX".to_vec(), p).is_err());
        assert!(Gguf::parse(b"GGUF\x03\x00\x00\x00".to_vec(), p).is_err());
        let mut h = b"GGUF".to_vec();
        h.extend(3u32.to_le_bytes());
        h.extend(u64::MAX.to_le_bytes());
        h.extend(0u64.to_le_bytes());
        assert!(Gguf::parse(h, p).is_err());
    }
}
