//! Construction of the key tree ([`super::tree::Tree::build_with`]): two streaming passes over a
//! node's key rows per level.
//!
//! * The node's rows sit contiguously, in position order, in one of two buffers. Its centre
//!   z = (Σ_j k_j)/m and bounding box come from its parent's partition pass ([`Summary`]; the root's
//!   from a pass over K).
//! * **Pass 1** ([`radius_pass`]): r² = max_j ‖k_j − z‖² (rounded up to r by
//!   [`crate::theory::solver::radius_up`]) and, unless the node is a leaf by size, the values of its
//!   widest coordinate (bounding box) as order-preserving integer keys.
//! * **Split** ([`split_threshold`], on that compact array only): the largest gap between consecutive
//!   distinct values among the middle half of the sorted values (so tight clusters are not cut and
//!   each side keeps ≥ ¼ of the keys), found in O(m) by two selections and the pigeonhole bucketing
//!   of the maximum-gap problem (m/2 buckets over [v_{m/4}, v_{3m/4}]: a gap inside one bucket is
//!   narrower than the bucket, so the largest gap lies between buckets); when every middle value is
//!   equal (duplicate keys), the median of (value, position).
//! * **Pass 2** (`partition_pass`): a *stable* partition of the rows into the other buffer (left
//!   side first), which also sums the children's keys and bounding boxes. Stability keeps every node's
//!   rows, and so every leaf's, in position order: the leaf order needs no sort, and the buffer the
//!   leaves end in is the tree's `kperm`.
//!
//! Trees over ≥ [`super::skeleton::SKELETON_MIN`] keys get their top levels from a sample
//! ([`super::skeleton`]) and run this recursion per bucket.
//!
//! Only the split rule and the radii matter for the solver's work; soundness needs only r ≥ ‖k_j − z‖
//! for every key j of the node. Every sum is in position order and every choice is a function of the
//! node's keys, so the tree is the same whatever the thread count (nodes of ≥ [`PAR_BUILD_MIN`] keys
//! build their two subtrees in parallel, numbered in preorder as the serial recursion would).
use super::tree::{NONE, Node};
use crate::theory::solver::radius_up;

/// Nodes with at least this many keys build their two subtrees in parallel.
pub const PAR_BUILD_MIN: usize = 16384;

/// Σ_j k_j (f64, position order) and the bounding box of a node's keys.
#[derive(Debug, Clone)]
pub struct Summary {
    pub sum: Vec<f64>,
    pub mn: Vec<f32>,
    pub mx: Vec<f32>,
}

impl Summary {
    fn empty(d: usize) -> Summary {
        Summary { sum: vec![0.0; d], mn: vec![f32::INFINITY; d], mx: vec![f32::NEG_INFINITY; d] }
    }
    #[inline(always)]
    fn add(&mut self, row: &[f32]) {
        let d = self.sum.len();
        let (s, a, b, row) = (&mut self.sum[..d], &mut self.mn[..d], &mut self.mx[..d], &row[..d]);
        // f32::min/max (finite inputs: the values of the comparisons, up to the sign of a zero,
        // which `widest` does not see); a select of the loaded value compiles to masked stores
        // (vmaskmovps), microcoded and slow on AMD Zen 1.
        for l in 0..d {
            let x = row[l];
            s[l] += x as f64;
            a[l] = a[l].min(x);
            b[l] = b[l].max(x);
        }
    }
    /// The coordinate of widest range (the first one on ties).
    pub(super) fn widest(&self) -> usize {
        let (mut best, mut wbest) = (0usize, -1.0f64);
        for (t, (a, b)) in self.mn.iter().zip(&self.mx).enumerate() {
            let w = (*b as f64) - (*a as f64);
            if w > wbest {
                wbest = w;
                best = t;
            }
        }
        best
    }
}

/// f32 → i32 with the same order as `f32::total_cmp` (so −0 < +0; inputs are finite).
#[inline(always)]
pub(super) fn order_key(x: f32) -> i32 {
    let b = x.to_bits() as i32;
    b ^ ((((b >> 31) as u32) >> 1) as i32)
}

/// Inverse of [`order_key`].
#[inline(always)]
pub(super) fn key_value(k: i32) -> f32 {
    f32::from_bits((k ^ ((((k >> 31) as u32) >> 1) as i32)) as u32)
}

#[inline(always)]
fn summary_pass_body(rows: &[f32], d: usize) -> Summary {
    let mut s = Summary::empty(d);
    for row in rows.chunks_exact(d) {
        s.add(row);
    }
    s
}

per_isa! {
    /// The [`Summary`] of the rows `rows` (m × d), summed in row order.
    pub fn summary_pass(rows: &[f32], d: usize) -> Summary = summary_pass_body;
}

#[inline(always)]
fn radius_pass_body(rows: &[f32], d: usize, c: &[f64], coord: Option<usize>, keys: &mut Vec<i32>) -> f64 {
    let mut r2 = 0.0f64;
    keys.clear();
    match coord {
        Some(l) => {
            for row in rows.chunks_exact(d) {
                let e = super::lanes::lanes_sum_pairs(c, row, |c, x| (x as f64 - c) * (x as f64 - c));
                r2 = if e > r2 { e } else { r2 };
                keys.push(order_key(row[l]));
            }
        }
        None => {
            for row in rows.chunks_exact(d) {
                let e = super::lanes::lanes_sum_pairs(c, row, |c, x| (x as f64 - c) * (x as f64 - c));
                r2 = if e > r2 { e } else { r2 };
            }
        }
    }
    r2
}

per_isa! {
    /// max_j ‖k_j − c‖² over the rows (f64, lane-split sums: [`radius_up`]'s γ_{d+5} holds for any
    /// order) and, for `coord = Some(l)`, the [`order_key`]s of coordinate l into `keys`.
    pub fn radius_pass(rows: &[f32], d: usize, c: &[f64], coord: Option<usize>, keys: &mut Vec<i32>) -> f64 = radius_pass_body;
}

/// Where a node splits: row t (key `keys[t]`, position `pos[t]`) goes left iff
/// (keys[t], pos[t]) < (key, pos) lexicographically; `left` rows do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub key: i32,
    pub pos: u32,
    pub left: usize,
    /// For a gap split: the key of the largest value below the gap (`key` is the smallest above).
    pub below: Option<i32>,
}

/// The split of a node of m ≥ 2 keys (module doc): `keys` are the [`order_key`]s of its widest
/// coordinate, `pos` the key positions (distinct), `sel` a scratch buffer.
pub fn split_threshold(keys: &[i32], pos: &[u32], sel: &mut Vec<i32>) -> Threshold {
    let m = keys.len();
    debug_assert!(m >= 2 && pos.len() == m);
    // Sorted indices a < b bound the middle half: the old rule's candidate split points t ∈
    // [max(m/4, 1), min(3m/4, m − 1)] compare sorted values t − 1 and t.
    let a = (m / 4).max(1) - 1;
    let b = (3 * m / 4).min(m - 1);
    sel.clear();
    sel.extend_from_slice(keys);
    let (_, &mut ka, rest) = sel.select_nth_unstable(a);
    let kb = if b > a { *rest.select_nth_unstable(b - a - 1).1 } else { ka };
    if ka < kb {
        let (va, vb) = (key_value(ka) as f64, key_value(kb) as f64);
        let inside = keys.iter().filter(|&&k| k >= ka && k <= kb).count();
        // Buckets over [va, vb]; the index is monotone in the value (monotone roundings), so buckets
        // keep the order and the gap between consecutive non-empty buckets is exact.
        let nb = inside.max(2);
        let scale = nb as f64 / (vb - va);
        let mut lo = vec![i32::MAX; nb];
        let mut hi = vec![i32::MIN; nb];
        for &k in keys {
            if k < ka || k > kb {
                continue;
            }
            let t = (((key_value(k) as f64 - va) * scale) as usize).min(nb - 1);
            lo[t] = lo[t].min(k);
            hi[t] = hi[t].max(k);
        }
        let (mut prev, mut gap, mut right_key, mut left_key) = (None::<i32>, -1.0f64, kb, ka);
        for t in 0..nb {
            if lo[t] > hi[t] {
                continue;
            }
            if let Some(p) = prev {
                let g = key_value(lo[t]) as f64 - key_value(p) as f64;
                if g > gap {
                    gap = g;
                    right_key = lo[t];
                    left_key = p;
                }
            }
            prev = Some(hi[t]);
        }
        if gap > 0.0 {
            // Left: every value below the gap's upper end.
            let left = keys.iter().filter(|&&k| k < right_key).count();
            return Threshold { key: right_key, pos: 0, left, below: Some(left_key) };
        }
    }
    // No positive gap among the middle values (ties): the median of (value, position).
    let mut pairs: Vec<(i32, u32)> = keys.iter().copied().zip(pos.iter().copied()).collect();
    let mid = m / 2;
    let (_, &mut (key, p), _) = pairs.select_nth_unstable(mid);
    Threshold { key, pos: p, left: mid, below: None }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn partition_pass_body(
    src: &[f32],
    psrc: &[u32],
    keys: &[i32],
    th: Threshold,
    d: usize,
    dst: &mut [f32],
    pdst: &mut [u32],
    sides: &mut (Summary, Summary),
) {
    let (mut li, mut ri) = (0usize, th.left);
    for (t, row) in src.chunks_exact(d).enumerate() {
        let (k, p) = (keys[t], psrc[t]);
        let left = k < th.key || (k == th.key && p < th.pos);
        let at = if left { &mut li } else { &mut ri };
        copy_row(&mut dst[*at * d..(*at + 1) * d], row);
        pdst[*at] = p;
        *at += 1;
        if left { sides.0.add(row) } else { sides.1.add(row) }
    }
    debug_assert_eq!((li, ri), (th.left, src.len() / d));
}

per_isa! {
    /// Stable partition of the rows `src` (positions `psrc`) into `dst`/`pdst` by `th` (left rows
    /// first), summing each side into `sides`.
    #[allow(clippy::too_many_arguments)]
    fn partition_pass(src: &[f32], psrc: &[u32], keys: &[i32], th: Threshold, d: usize, dst: &mut [f32], pdst: &mut [u32], sides: &mut (Summary, Summary)) = partition_pass_body;
}

/// `dst.copy_from_slice(src)`, inlined for the common head dimensions (a `memcpy` call per 256-byte
/// row costs as much as the row's statistics).
#[inline(always)]
pub(super) fn copy_row(dst: &mut [f32], src: &[f32]) {
    match (dst.len(), <&[f32; 64]>::try_from(src), <&mut [f32; 64]>::try_from(&mut *dst)) {
        (64, Ok(s), Ok(t)) => *t = *s,
        _ => {
            for (a, &b) in dst.iter_mut().zip(src) {
                *a = b;
            }
        }
    }
}

/// Leaf rule: ≤ `leaf` keys, or radius ≤ `tight_r`.
#[derive(Debug, Clone, Copy)]
pub struct LeafRule {
    pub leaf: usize,
    pub tight_r: f64,
}

/// One node's rows: `cur`/`pcur` where they are now (position order), `other`/`pother` the same
/// range of the other buffers; `cur_is_out` says whether `cur` is the output buffer.
pub(super) struct Rows<'a> {
    pub cur: &'a mut [f32],
    pub other: &'a mut [f32],
    pub pcur: &'a mut [u32],
    pub pother: &'a mut [u32],
    pub cur_is_out: bool,
}

/// The tree over keys `k` (n × d, n ≥ 1): nodes in preorder, centres (nodes × d), the leaf order
/// `perm` and the keys in leaf order.
pub type Built = (Vec<Node>, Vec<f64>, Vec<u32>, Vec<f32>);

/// See [`Built`]; the top levels come from a sample ([`super::skeleton`]) for n ≥ `skeleton_min`.
pub fn build_nodes(k: &[f32], n: usize, d: usize, rule: LeafRule, skeleton_min: usize) -> Built {
    let k = &k[..n * d];
    let mut out = vec![0.0f32; n * d];
    let mut pout = vec![0u32; n];
    if n >= skeleton_min {
        let (nodes, z) = super::skeleton::build(k, n, d, rule, &mut out, &mut pout);
        return (nodes, z, pout, out);
    }
    let mut scratch = vec![0.0f32; n * d];
    let mut pscratch: Vec<u32> = (0..n as u32).collect();
    let mut nodes = Vec::with_capacity(2 * n / rule.leaf.max(1) + 2);
    let mut z = Vec::new();
    let sm = summary_pass(k, d);
    // The root reads K itself; its children live in `out`.
    root(k, &mut out, &mut scratch, &mut pout, &mut pscratch, d, rule, sm, &mut nodes, &mut z);
    (nodes, z, pout, out)
}

#[allow(clippy::too_many_arguments)]
fn root(
    k: &[f32],
    out: &mut [f32],
    scratch: &mut [f32],
    pout: &mut [u32],
    pident: &mut [u32],
    d: usize,
    rule: LeafRule,
    sm: Summary,
    nodes: &mut Vec<Node>,
    z: &mut Vec<f64>,
) {
    let rows = Rows { cur: scratch, other: out, pcur: pident, pother: pout, cur_is_out: false };
    node(Some(k), rows, 0, d, rule, sm, NONE, nodes, z);
}

/// Build the node of `rows` (global offset `lo`; `src` overrides `rows.cur` as the source of its
/// rows — the root reads K); returns its id.
#[allow(clippy::too_many_arguments)]
pub(super) fn node(
    src: Option<&[f32]>,
    rows: Rows<'_>,
    lo: usize,
    d: usize,
    rule: LeafRule,
    sm: Summary,
    parent: u32,
    nodes: &mut Vec<Node>,
    z: &mut Vec<f64>,
) -> u32 {
    let Rows { cur, other, pcur, pother, cur_is_out } = rows;
    let m = pcur.len();
    let src: &[f32] = match src {
        Some(s) => s,
        None => cur,
    };
    let c: Vec<f64> = sm.sum.iter().map(|s| s / m as f64).collect();
    let by_size = m <= rule.leaf;
    let coord = if by_size { None } else { Some(sm.widest()) };
    let mut keys = Vec::new();
    let r2 = radius_pass(src, d, &c, coord, &mut keys);
    let r = radius_up(r2.sqrt(), d);
    let id = nodes.len() as u32;
    nodes.push(Node { lo: lo as u32, hi: (lo + m) as u32, left: NONE, right: NONE, parent, r });
    z.extend_from_slice(&c);
    if by_size || r <= rule.tight_r {
        if !cur_is_out {
            other.copy_from_slice(src);
            pother.copy_from_slice(pcur);
        }
        return id;
    }
    let th = split_threshold(&keys, pcur, &mut Vec::new());
    let mut sides = (Summary::empty(d), Summary::empty(d));
    partition_pass(src, pcur, &keys, th, d, other, pother, &mut sides);
    drop(keys);
    let nl = th.left;
    let (ol, or) = other.split_at_mut(nl * d);
    let (cl, cr) = cur.split_at_mut(nl * d);
    let (pol, por) = pother.split_at_mut(nl);
    let (pcl, pcr) = pcur.split_at_mut(nl);
    let left = Rows { cur: ol, other: cl, pcur: pol, pother: pcl, cur_is_out: !cur_is_out };
    let right = Rows { cur: or, other: cr, pcur: por, pother: pcr, cur_is_out: !cur_is_out };
    let (sl, sr) = sides;
    if m < PAR_BUILD_MIN {
        let l = node(None, left, lo, d, rule, sl, id, nodes, z);
        let r = node(None, right, lo + nl, d, rule, sr, id, nodes, z);
        nodes[id as usize].left = l;
        nodes[id as usize].right = r;
        return id;
    }
    // Large node: both subtrees in parallel into their own arrays (ids local, ranges global), then
    // appended in preorder — the numbering of the serial recursion.
    let sub = |rows: Rows<'_>, a: usize, s: Summary| {
        let (mut nn, mut zz) = (Vec::new(), Vec::new());
        node(None, rows, a, d, rule, s, NONE, &mut nn, &mut zz);
        (nn, zz)
    };
    let ((ln, lz), (rn, rz)) = rayon::join(|| sub(left, lo, sl), || sub(right, lo + nl, sr));
    let l = append_subtree(nodes, z, ln, lz, id);
    let r = append_subtree(nodes, z, rn, rz, id);
    nodes[id as usize].left = l;
    nodes[id as usize].right = r;
    id
}

/// Append a subtree built with local ids (root 0, parent NONE; key ranges already global);
/// returns its root's global id.
pub(super) fn append_subtree(
    nodes: &mut Vec<Node>,
    z: &mut Vec<f64>,
    sub: Vec<Node>,
    subz: Vec<f64>,
    parent: u32,
) -> u32 {
    let off = nodes.len() as u32;
    let fix = |x: u32| if x == NONE { NONE } else { x + off };
    for (t, mut nd) in sub.into_iter().enumerate() {
        nd.left = fix(nd.left);
        nd.right = fix(nd.right);
        nd.parent = if t == 0 { parent } else { fix(nd.parent) };
        nodes.push(nd);
    }
    z.extend_from_slice(&subz);
    off
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_follow_total_cmp() {
        let xs = [-f32::MAX, -3.5, -1e-40, -0.0, 0.0, 1e-40, 2.0, f32::MAX];
        for w in xs.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]), "{} {}", w[0], w[1]);
        }
        for &x in &xs {
            assert_eq!(key_value(order_key(x)).to_bits(), x.to_bits());
        }
    }

    /// The split is the largest gap of the sorted middle half (checked against a sort), or the
    /// (value, position) median when the middle half is constant; both sides keep ≥ ¼ of the keys.
    #[test]
    fn split_is_the_largest_middle_gap() {
        let mut rng = crate::rng::seeded(9);
        use rand::RngExt;
        for case in 0..400 {
            let m = 2 + case % 97;
            let levels = 1 + case % 7;
            let vals: Vec<f32> = (0..m)
                .map(|_| {
                    (rng.random_range(0..levels) as f32) * 0.37
                        + if case % 3 == 0 { rng.random_range(0.0..1e-3f32) } else { 0.0 }
                })
                .collect();
            let keys: Vec<i32> = vals.iter().map(|&x| order_key(x)).collect();
            let pos: Vec<u32> = (0..m as u32).map(|p| p * 3 + 1).collect();
            let th = split_threshold(&keys, &pos, &mut Vec::new());
            let left = keys.iter().zip(&pos).filter(|(k, p)| (**k, **p) < (th.key, th.pos)).count();
            assert_eq!(left, th.left, "case {case}");
            assert!(th.left >= (m / 4).max(1) && th.left <= (3 * m / 4).min(m - 1), "case {case}: {} of {m}", th.left);
            let mut s = vals.clone();
            s.sort_by(f32::total_cmp);
            let (a, b) = ((m / 4).max(1), (3 * m / 4).min(m - 1));
            let best = (a..=b).map(|t| s[t] as f64 - s[t - 1] as f64).fold(0.0f64, f64::max);
            if best > 0.0 {
                let got = s[th.left] as f64 - s[th.left - 1] as f64;
                assert_eq!(got, best, "case {case}: gap {got} vs largest {best}");
            } else {
                assert_eq!(th.left, m / 2, "case {case}");
            }
        }
    }
}
