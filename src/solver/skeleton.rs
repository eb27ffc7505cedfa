//! The top levels of a large key tree from a sample ([`super::build`] for n ≥ [`SKELETON_MIN`]).
//!
//! Building level by level costs two passes over all n key rows per level, out of cache for the top
//! levels. Instead:
//! 1. a **skeleton** is built by the same rules ([`super::build`]: widest coordinate, largest middle
//!    gap) over a strided sample of [`SAMPLES`] keys (positions ⌊(t + ½)·n/S⌋), down to nodes of at
//!    most [`SKELETON_LEAF`] samples (or tight ones); it records each split (coordinate, threshold),
//!    a gap split at the gap's midpoint (unsampled keys of a tight cluster lie on both sides of its
//!    sampled extremes), and partitions the sample by the recorded threshold itself;
//! 2. every key is **routed** down the skeleton (one comparison per level, reading one coordinate) to
//!    a bucket, and the positions are placed bucket after bucket by a stable counting sort (position
//!    order inside a bucket); each bucket then gathers its rows (in parallel over buckets);
//! 3. each bucket's subtree is built by the level-by-level recursion, in cache, in parallel over
//!    buckets; the bucket's root gets its exact centre and radius;
//! 4. the skeleton's own nodes are assembled bottom-up in preorder: key sums add up (Σ over the
//!    children, so the centre is the mean of all the node's keys), bounding boxes merge, and the radius
//!    is the triangle-inequality bound r_p = max_c (‖z_p − z_c‖ + r_c), rounded up
//!    ([`crate::theory::solver::radius_up`] for the distance, 1 + 4u for the sum), which is ≥
//!    ‖k_j − z_p‖ for every key j of the node — all the bounds of [`crate::theory::solver`] need.
//!
//! Every routing decision is a comparison of the key's own (value, position) with a threshold that
//! depends on the sample only, so the tree is the same whatever the thread count. Sample keys route
//! exactly as the skeleton split them, so no bucket is empty.
use super::build::{
    LeafRule, Rows, Summary, append_subtree, copy_row, key_value, node, order_key, radius_pass, split_threshold,
    summary_pass,
};
use super::tree::{NONE, Node};
use crate::theory::fp::U64;
use crate::theory::solver::radius_up;
use rayon::prelude::*;

/// Trees over at least this many keys get a skeleton (the solve's trees; the planner's stage-1
/// probe trees from [`crate::solver::planner::PROBE_SKELETON_MIN`]).
pub const SKELETON_MIN: usize = 1 << 15;
/// Sample size.
pub const SAMPLES: usize = 4096;
/// Skeleton nodes with at most this many samples are buckets.
pub const SKELETON_LEAF: usize = 16;

enum Skel {
    Split { coord: usize, key: i32, pos: u32, left: Box<Skel>, right: Box<Skel> },
    Bucket(usize),
}

/// The skeleton over the sample rows `rows` (m × d, positions `pos`, both in position order).
fn skeleton(rows: &[f32], pos: &[u32], d: usize, rule: LeafRule, buckets: &mut usize) -> Skel {
    let m = pos.len();
    let leaf = |b: &mut usize| {
        *b += 1;
        Skel::Bucket(*b - 1)
    };
    if m <= SKELETON_LEAF {
        return leaf(buckets);
    }
    let sm = summary_pass(rows, d);
    let c: Vec<f64> = sm.sum.iter().map(|s| s / m as f64).collect();
    let coord = sm.widest();
    let mut keys = Vec::new();
    let r = radius_up(radius_pass(rows, d, &c, Some(coord), &mut keys).sqrt(), d);
    if r <= rule.tight_r {
        return leaf(buckets);
    }
    let mut th = split_threshold(&keys, pos, &mut Vec::new());
    if let Some(below) = th.below {
        // Unsampled keys lie anywhere in the gap: cut in its middle (the largest f32 value below the
        // midpoint goes left), never at a sampled end.
        let mid = ((key_value(below) as f64 + key_value(th.key) as f64) * 0.5) as f32;
        let km = order_key(mid);
        if km > below {
            th.key = km;
        }
    }
    let (mut lr, mut rr, mut lp, mut rp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (t, row) in rows.chunks_exact(d).enumerate() {
        if (keys[t], pos[t]) < (th.key, th.pos) {
            lr.extend_from_slice(row);
            lp.push(pos[t]);
        } else {
            rr.extend_from_slice(row);
            rp.push(pos[t]);
        }
    }
    let left = Box::new(skeleton(&lr, &lp, d, rule, buckets));
    let right = Box::new(skeleton(&rr, &rp, d, rule, buckets));
    Skel::Split { coord, key: th.key, pos: th.pos, left, right }
}

/// The bucket of key j (row `row`).
#[inline(always)]
fn route(s: &Skel, row: &[f32], j: u32) -> u32 {
    let mut s = s;
    loop {
        match s {
            Skel::Bucket(b) => return *b as u32,
            Skel::Split { coord, key, pos, left, right } => {
                s = if (order_key(row[*coord]), j) < (*key, *pos) { left } else { right };
            }
        }
    }
}

/// One bucket's subtree: nodes (local ids, global ranges), centres, the root's summary.
struct Sub {
    nodes: Vec<Node>,
    z: Vec<f64>,
    sum: Summary,
    m: usize,
}

/// See the module doc. Writes the keys in leaf order into `out` and their positions into `pout`
/// (each bucket's recursion uses its worker's bucket-sized scratch buffers).
pub fn build(
    k: &[f32],
    n: usize,
    d: usize,
    rule: LeafRule,
    out: &mut [f32],
    pout: &mut [u32],
) -> (Vec<Node>, Vec<f64>) {
    let step = n as f64 / SAMPLES as f64;
    let spos: Vec<u32> = (0..SAMPLES).map(|t| (((t as f64 + 0.5) * step) as usize).min(n - 1) as u32).collect();
    let mut srows = Vec::with_capacity(SAMPLES * d);
    for &j in &spos {
        srows.extend_from_slice(&k[j as usize * d..(j as usize + 1) * d]);
    }
    let mut nb = 0;
    let skel = skeleton(&srows, &spos, d, rule, &mut nb);
    // Route (parallel, per key), then a stable counting sort by bucket.
    let bucket: Vec<u32> =
        k.par_chunks_exact(d).enumerate().with_min_len(4096).map(|(j, row)| route(&skel, row, j as u32)).collect();
    let mut count = vec![0usize; nb + 1];
    for &b in &bucket {
        count[b as usize + 1] += 1;
    }
    for b in 0..nb {
        count[b + 1] += count[b];
    }
    let start = count.clone();
    // Positions only here (n u32); each bucket gathers its own rows below, in parallel (a serial
    // scatter of the n × d rows into fresh pages took ≈ 1/3 of the build at n = 2^17).
    for (j, &b) in bucket.iter().enumerate() {
        let at = &mut count[b as usize];
        pout[*at] = j as u32;
        *at += 1;
    }
    // Bucket subtrees, in parallel (disjoint ranges of `out`, `pout`).
    let mut parts = Vec::with_capacity(nb);
    {
        let (mut o, mut po) = (out, pout);
        for b in 0..nb {
            let m = start[b + 1] - start[b];
            let (o1, o2) = std::mem::take(&mut o).split_at_mut(m * d);
            let (po1, po2) = std::mem::take(&mut po).split_at_mut(m);
            (o, po) = (o2, po2);
            parts.push((start[b], o1, po1));
        }
    }
    let subs: Vec<Sub> = parts
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(sk, sp): &mut (Vec<f32>, Vec<u32>), (lo, cur, pcur)| {
                let m = pcur.len();
                for (row, &j) in cur.chunks_exact_mut(d).zip(pcur.iter()) {
                    copy_row(row, &k[j as usize * d..(j as usize + 1) * d]);
                }
                sk.resize(sk.len().max(m * d), 0.0);
                sp.resize(sp.len().max(m), 0);
                let sum = summary_pass(cur, d);
                let rows = Rows { cur, other: &mut sk[..m * d], pcur, pother: &mut sp[..m], cur_is_out: true };
                let (mut nodes, mut z) = (Vec::new(), Vec::new());
                node(None, rows, lo, d, rule, sum.clone(), NONE, &mut nodes, &mut z);
                Sub { nodes, z, sum, m }
            },
        )
        .collect();
    let mut subs: Vec<Option<Sub>> = subs.into_iter().map(Some).collect();
    let (mut nodes, mut z) = (Vec::new(), Vec::new());
    assemble(&skel, &mut subs, d, NONE, &mut nodes, &mut z);
    (nodes, z)
}

/// Append the subtree of `s` in preorder under `parent`; returns (id, summary, m).
fn assemble(
    s: &Skel,
    subs: &mut [Option<Sub>],
    d: usize,
    parent: u32,
    nodes: &mut Vec<Node>,
    z: &mut Vec<f64>,
) -> (u32, Summary, usize) {
    match s {
        Skel::Bucket(b) => {
            let sub = subs[*b].take().expect("each bucket is assembled once");
            let id = append_subtree(nodes, z, sub.nodes, sub.z, parent);
            (id, sub.sum, sub.m)
        }
        Skel::Split { left, right, .. } => {
            let id = nodes.len() as u32;
            nodes.push(Node { lo: 0, hi: 0, left: NONE, right: NONE, parent, r: 0.0 });
            z.extend(std::iter::repeat_n(0.0, d));
            let (l, sl, ml) = assemble(left, subs, d, id, nodes, z);
            let (r, sr, mr) = assemble(right, subs, d, id, nodes, z);
            let m = ml + mr;
            let sum = Summary {
                sum: sl.sum.iter().zip(&sr.sum).map(|(a, b)| a + b).collect(),
                mn: sl.mn.iter().zip(&sr.mn).map(|(a, b)| a.min(*b)).collect(),
                mx: sl.mx.iter().zip(&sr.mx).map(|(a, b)| a.max(*b)).collect(),
            };
            let c: Vec<f64> = sum.sum.iter().map(|s| s / m as f64).collect();
            let bound = |child: u32| {
                let zc = &z[child as usize * d..(child as usize + 1) * d];
                let dist = c.iter().zip(zc).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
                (radius_up(dist, d) + nodes[child as usize].r) * (1.0 + 4.0 * U64)
            };
            let rad = bound(l).max(bound(r));
            let (lo, hi) = (nodes[l as usize].lo, nodes[r as usize].hi);
            nodes[id as usize] = Node { lo, hi, left: l, right: r, parent, r: rad };
            z[id as usize * d..(id as usize + 1) * d].copy_from_slice(&c);
            (id, sum, m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solver::tree::Tree;

    /// Radii cover every key of every node (bucket roots exact, skeleton nodes by the triangle
    /// inequality), leaves are in position order, the tree is deterministic, and the sample-based
    /// splits cut no tight cluster: 80 clusters of spread 1e-4 give exactly 80 leaves.
    #[test]
    fn skeleton_tree_covers_its_keys_and_keeps_clusters_whole() {
        let (n, d, dv, c) = (SKELETON_MIN + 5000, 6, 2, 80);
        let mut rng = crate::rng::seeded(17);
        let centres: Vec<Vec<f32>> = (0..c).map(|_| crate::data::synthetic::vector(&mut rng, d, 1.0)).collect();
        let mut k = Vec::with_capacity(n * d);
        for j in 0..n {
            let noise = crate::data::synthetic::vector(&mut rng, d, 1e-4);
            k.extend(centres[(j * 7919) % c].iter().zip(&noise).map(|(a, b)| a + b));
        }
        let t = Tree::build_with(&k, n, d, dv, 16, 0.01);
        let mut seen = vec![false; n];
        for (id, nd) in t.nodes.iter().enumerate() {
            for p in nd.lo..nd.hi {
                let kk = &t.kperm[p as usize * d..(p as usize + 1) * d];
                let dist: f64 =
                    kk.iter().zip(t.centre(id)).map(|(&a, b)| (a as f64 - b) * (a as f64 - b)).sum::<f64>().sqrt();
                assert!(dist <= nd.r, "node {id}: {dist} > {}", nd.r);
                assert_eq!(&k[t.perm[p as usize] as usize * d..][..d], kk);
            }
            if nd.is_leaf() {
                let pos: Vec<u32> = (nd.lo..nd.hi).map(|p| t.perm[p as usize]).collect();
                assert!(pos.windows(2).all(|w| w[0] < w[1]), "leaf {id} not in position order");
                pos.iter().for_each(|&p| seen[p as usize] = true);
            } else {
                assert_eq!(nd.left, id as u32 + 1, "preorder at {id}");
            }
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(t.nodes.iter().filter(|x| x.is_leaf()).count(), c);
        let t2 = Tree::build_with(&k, n, d, dv, 16, 0.01);
        assert_eq!((t.perm.clone(), t.z.clone()), (t2.perm, t2.z));
    }
}
