//! Special values (quickcheck's 10 % of NaN, ±∞, ±0, ±MAX): the reference never panics; non-finite
//! inputs and inputs whose scores would overflow are rejected with an error naming the argument;
//! everything it accepts gives finite outputs.
use attnproof::reference::{Head, Mask, attention_f64, fast_f32};
use quickcheck::{QuickCheck, TestResult};

fn prop_f64(q: Vec<f64>, k: Vec<f64>, v: Vec<f64>) -> TestResult {
    let d = 2;
    let n = q.len().min(k.len()).min(v.len()) / d;
    if n == 0 {
        return TestResult::discard();
    }
    let (q, k, v) = (&q[..n * d], &k[..n * d], &v[..n]);
    match Head::new(q, k, v, n, d, 1) {
        Err(e) => TestResult::from_bool(!e.to_string().is_empty() && e.to_string().lines().count() == 1),
        Ok(h) => {
            let ok = [Mask::Full, Mask::Causal, Mask::StrictPrefix]
                .iter()
                .all(|&m| attention_f64(&h, m).out.iter().all(|x| x.is_finite()));
            TestResult::from_bool(ok)
        }
    }
}

fn prop_f32(q: Vec<f32>, k: Vec<f32>, v: Vec<f32>) -> TestResult {
    let d = 2;
    let n = q.len().min(k.len()).min(v.len()) / d;
    if n == 0 {
        return TestResult::discard();
    }
    let (q, k, v) = (&q[..n * d], &k[..n * d], &v[..n]);
    match Head::new(q, k, v, n, d, 1) {
        Err(e) => TestResult::from_bool(e.to_string().lines().count() == 1),
        Ok(h) => {
            let ok = [Mask::Full, Mask::Causal, Mask::StrictPrefix]
                .iter()
                .all(|&m| fast_f32::attention_f32(&h, m).iter().all(|x| x.is_finite()));
            TestResult::from_bool(ok)
        }
    }
}

#[test]
fn reference_f64_special_values() {
    QuickCheck::new().tests(300).quickcheck(prop_f64 as fn(Vec<f64>, Vec<f64>, Vec<f64>) -> TestResult);
}

#[test]
fn fast_f32_special_values() {
    QuickCheck::new().tests(300).quickcheck(prop_f32 as fn(Vec<f32>, Vec<f32>, Vec<f32>) -> TestResult);
}
