//! The float64 reference against the independent exact outputs shipped in the MiniLM files
//! (a slice is in `tests/data/`), and the tensor loaders' error paths.
use attnproof::check_reference;
use attnproof::data;
use attnproof::reference::{Head, Mask, attention_f64};
use attnproof::tensor::{self, Tensor, safetensors_io};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Agreement required of our float64 paths with the independent float64 outputs (issue [A]).
const F64_AGREEMENT: f64 = 1e-12;

#[test]
fn float64_reference_agrees_with_shipped_outputs() {
    let heads = data::load_heads(&data::shipped_slice()).unwrap();
    assert_eq!(heads.len(), 6);
    for h in &heads {
        let (q, k, v) = h.widen();
        let head = Head::new(&q, &k, &v, h.n, h.d, h.dv()).unwrap();
        for (mask, want) in [(Mask::Full, h.out_full.as_ref().unwrap()), (Mask::Causal, h.out_causal.as_ref().unwrap())]
        {
            let got = attention_f64(&head, mask).out;
            let err = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(err <= F64_AGREEMENT, "{} {mask:?}: max error {err:e}", h.label);
        }
    }
}

#[test]
fn check_reference_reports_every_layer_of_the_slice() {
    let rep = check_reference::check_file(&data::shipped_slice()).unwrap();
    assert_eq!(rep.layers.keys().copied().collect::<Vec<_>>(), vec![0, 5]);
    assert!(rep.max_f64_err() <= F64_AGREEMENT, "{}", rep.table());
    for l in rep.layers.values() {
        assert_eq!(l.heads, 3);
        assert!(l.f32_causal.is_finite() && l.f32_full.is_finite());
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("attnproof-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn truncated_safetensors_is_a_one_line_error_naming_the_file() {
    let bytes = std::fs::read(data::shipped_slice()).unwrap();
    let p = tmp("truncated.safetensors");
    std::fs::write(&p, &bytes[..1000]).unwrap();
    let e = data::load_heads(&p).unwrap_err().to_string();
    assert!(e.contains("truncated.safetensors") && e.lines().count() == 1, "{e}");
}

#[test]
fn nan_and_wrong_shapes_are_rejected_with_the_tensor_named() {
    let mut t: BTreeMap<String, Tensor> = BTreeMap::new();
    let (n, d) = (4, 2);
    let mut q = vec![0.5f32; n * d];
    q[5] = f32::NAN;
    t.insert("layer0.q".into(), Tensor::f32("layer0.q", vec![1, n, d], q));
    t.insert("layer0.k".into(), Tensor::f32("layer0.k", vec![1, n, d], vec![0.1; n * d]));
    t.insert("layer0.v".into(), Tensor::f32("layer0.v", vec![1, n, d], vec![0.1; n * d]));
    let p = tmp("nan.safetensors");
    safetensors_io::save(&p, &t.values().cloned().collect::<Vec<_>>(), &BTreeMap::new()).unwrap();
    let e = data::load_heads(&p).unwrap_err().to_string();
    assert!(
        e.contains("nan.safetensors") && e.contains("layer0.q") && e.contains("non-finite") && e.contains("[0, 2, 1]"),
        "{e}"
    );

    t.insert("layer0.k".into(), Tensor::f32("layer0.k", vec![1, n + 1, d], vec![0.1; (n + 1) * d]));
    t.insert("layer0.q".into(), Tensor::f32("layer0.q", vec![1, n, d], vec![0.5; n * d]));
    let p = tmp("shape.safetensors");
    safetensors_io::save(&p, &t.values().cloned().collect::<Vec<_>>(), &BTreeMap::new()).unwrap();
    let e = data::load_heads(&p).unwrap_err().to_string();
    assert!(e.contains("layer0.k") && e.contains("expected shape [*, 4, 2]"), "{e}");
}

#[test]
fn npy_round_trip_and_errors() {
    // A hand-written v1.0 .npy header for a 2×3 little-endian f8 array.
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
    let mut h = header.to_string();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    for x in [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0] {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    let p = tmp("ok.npy");
    std::fs::write(&p, &bytes).unwrap();
    let t = tensor::load_any(&p).unwrap().remove(0);
    assert_eq!(t.shape, vec![2, 3]);
    assert_eq!(t.to_f64(&p).unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let short = tmp("short.npy");
    std::fs::write(&short, &bytes[..bytes.len() - 8]).unwrap();
    let e = tensor::load_any(&short).unwrap_err().to_string();
    assert!(e.contains("short.npy"), "{e}");
    let e = tensor::load_any(Path::new("data.csv")).unwrap_err().to_string();
    assert!(e.contains("expected a .safetensors or .npy file"), "{e}");
}

#[test]
fn head_check_rejects_non_finite_and_bad_shapes() {
    let q = [1.0f64, f64::INFINITY];
    let e = Head::new(&q, &q, &q, 2, 1, 1).unwrap_err().to_string();
    assert!(e.starts_with("q:") && e.contains("row 1"), "{e}");
    let e = Head::new(&[1.0f64], &[1.0, 2.0], &[1.0], 1, 1, 1).unwrap_err().to_string();
    assert!(e.starts_with("k:") && e.contains("expected 1×1"), "{e}");
}
