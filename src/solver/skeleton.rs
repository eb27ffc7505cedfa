//! The top levels of a large key tree from a sample ([`super::build`] for n ≥ [`SKELETON_MIN`]).
//!
//! Building level by level costs two passes over all n key rows per level, out of cache for the top
//! levels. Instead:
//! 1. a **skeleton** is built by the same rules ([`super::build`]: widest coordinate, largest middle
//!    gap) over a strided sample of [`SAMPLES`] keys (positions ⌊(t + ½)·n/S⌋), down to nodes of at
//!    most [`SKELETON_LEAF`] samples (or tight ones); it records each split (coordinate, threshold),
//!    a gap split at the gap's midpoint (unsampled keys of a tight cluster lie on both sides of its
//!    sampled extremes), and partitions the sample by the recorded threshold itself;
//!    Halves of ≥ 512 samples are built in parallel and the buckets numbered afterwards in preorder
//!    (the skeleton of the serial recursion);
//! 2. every key is **routed** down the skeleton (one comparison per level, reading one coordinate) to
//!    a bucket — eight keys at a time, branch-free, on a flattened copy — and the positions are
//!    placed bucket after bucket by a stable counting sort (position order inside a bucket); each
//!    bucket then gathers its rows (in parallel over buckets);
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

/// Skeleton nodes with at least this many samples build their two halves in parallel (buckets are
/// numbered afterwards, in preorder, so the skeleton is the same as the serial recursion's).
const PAR_SKELETON_MIN: usize = 512;

/// The skeleton over the sample rows `rows` (m × d, positions `pos`, both in position order); its
/// buckets are numbered by [`number_buckets`].
fn skeleton(rows: &[f32], pos: &[u32], d: usize, rule: LeafRule) -> Skel {
    let m = pos.len();
    if m <= SKELETON_LEAF {
        return Skel::Bucket(0);
    }
    let sm = summary_pass(rows, d);
    let c: Vec<f64> = sm.sum.iter().map(|s| s / m as f64).collect();
    let coord = sm.widest();
    let mut keys = Vec::with_capacity(m);
    let r = radius_up(radius_pass(rows, d, &c, Some(coord), &mut keys).sqrt(), d);
    if r <= rule.tight_r {
        return Skel::Bucket(0);
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
    // th.left samples go left (the midpoint cut moves no sampled key across the gap).
    let (nl, nr) = (th.left, m - th.left);
    let (mut lr, mut rr) = (Vec::with_capacity(nl * d), Vec::with_capacity(nr * d));
    let (mut lp, mut rp) = (Vec::with_capacity(nl), Vec::with_capacity(nr));
    for (t, row) in rows.chunks_exact(d).enumerate() {
        if (keys[t], pos[t]) < (th.key, th.pos) {
            lr.extend_from_slice(row);
            lp.push(pos[t]);
        } else {
            rr.extend_from_slice(row);
            rp.push(pos[t]);
        }
    }
    let (left, right) = if m >= PAR_SKELETON_MIN {
        rayon::join(|| skeleton(&lr, &lp, d, rule), || skeleton(&rr, &rp, d, rule))
    } else {
        (skeleton(&lr, &lp, d, rule), skeleton(&rr, &rp, d, rule))
    };
    Skel::Split { coord, key: th.key, pos: th.pos, left: Box::new(left), right: Box::new(right) }
}

/// Number the buckets of `s` in preorder from `*next` on.
fn number_buckets(s: &mut Skel, next: &mut usize) {
    match s {
        Skel::Bucket(b) => {
            *b = *next;
            *next += 1;
        }
        Skel::Split { left, right, .. } => {
            number_buckets(left, next);
            number_buckets(right, next);
        }
    }
}

/// The skeleton as an array for routing: split t sends key j (value x of its coordinate) to
/// `next[1]` iff (order_key(x), j) ≥ (key, pos), else to `next[0]`; a bucket points to itself on
/// both sides, so every route can take the skeleton's depth in steps whatever its bucket's depth.
#[derive(Clone, Copy)]
struct Flat {
    coord: u32,
    key: i32,
    pos: u32,
    next: [u32; 2],
}

/// Append `s` flattened in preorder (with each entry's bucket, `u32::MAX` for splits); returns its
/// depth (splits on the longest path).
fn flatten(s: &Skel, flat: &mut Vec<Flat>, bucket_of: &mut Vec<u32>) -> usize {
    let id = flat.len() as u32;
    flat.push(Flat { coord: 0, key: 0, pos: 0, next: [id, id] });
    bucket_of.push(u32::MAX);
    match s {
        Skel::Bucket(b) => {
            bucket_of[id as usize] = *b as u32;
            0
        }
        Skel::Split { coord, key, pos, left, right } => {
            let dl = flatten(left, flat, bucket_of);
            let r = flat.len() as u32;
            let dr = flatten(right, flat, bucket_of);
            flat[id as usize] = Flat { coord: *coord as u32, key: *key, pos: *pos, next: [id + 1, r] };
            1 + dl.max(dr)
        }
    }
}

/// Keys routed together: their descents are independent, so their loads and comparisons overlap
/// (one descent alone is a chain of dependent loads with a hard-to-predict branch per level).
const ROUTE_GROUP: usize = 8;

/// Keys per parallel piece of the routing.
const ROUTE_PIECE: usize = 4096;

/// The buckets of the key rows `rows` (positions j0, j0 + 1, …) into `out`: [`ROUTE_GROUP`] keys at
/// a time, `depth` branch-free steps each — the bucket a descent stopping at its bucket reaches.
fn route_rows(flat: &[Flat], bucket_of: &[u32], depth: usize, rows: &[f32], d: usize, j0: u32, out: &mut [u32]) {
    let step = |at: u32, row: &[f32], j: u32| {
        let f = &flat[at as usize];
        let right = (order_key(row[f.coord as usize]), j) >= (f.key, f.pos);
        f.next[right as usize]
    };
    let mut groups = rows.chunks_exact(ROUTE_GROUP * d);
    let mut outs = out.chunks_exact_mut(ROUTE_GROUP);
    let mut j = j0;
    for (g, o) in (&mut groups).zip(&mut outs) {
        let mut at = [0u32; ROUTE_GROUP];
        for _ in 0..depth {
            for (t, a) in at.iter_mut().enumerate() {
                *a = step(*a, &g[t * d..(t + 1) * d], j + t as u32);
            }
        }
        for (o, a) in o.iter_mut().zip(at) {
            *o = bucket_of[a as usize];
        }
        j += ROUTE_GROUP as u32;
    }
    for (row, o) in groups.remainder().chunks_exact(d).zip(outs.into_remainder()) {
        let mut a = 0u32;
        for _ in 0..depth {
            a = step(a, row, j);
        }
        *o = bucket_of[a as usize];
        j += 1;
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
    let mut skel = skeleton(&srows, &spos, d, rule);
    let mut nb = 0;
    number_buckets(&mut skel, &mut nb);
    let (mut flat, mut bucket_of) = (Vec::new(), Vec::new());
    let depth = flatten(&skel, &mut flat, &mut bucket_of);
    // Route (parallel, per piece of keys), then a stable counting sort by bucket.
    let mut bucket = vec![0u32; n];
    bucket.par_chunks_mut(ROUTE_PIECE).zip(k.par_chunks(ROUTE_PIECE * d)).enumerate().for_each(|(c, (b, rows))| {
        route_rows(&flat, &bucket_of, depth, rows, d, (c * ROUTE_PIECE) as u32, b)
    });
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

    /// The plain descent: compare, go left or right, stop at the bucket.
    fn descend(s: &Skel, row: &[f32], j: u32) -> u32 {
        match s {
            Skel::Bucket(b) => *b as u32,
            Skel::Split { coord, key, pos, left, right } => {
                descend(if (order_key(row[*coord]), j) < (*key, *pos) { left } else { right }, row, j)
            }
        }
    }

    /// The grouped branch-free routing gives every key the bucket of the plain descent (groups of
    /// 8 and a remainder, keys equal to a split's value, duplicates deciding by position), and the
    /// parallel skeleton numbers its buckets in preorder, 0 … nb − 1.
    #[test]
    fn grouped_routing_is_the_plain_descent() {
        let mut rng = crate::rng::seeded(31);
        for (n, d, spread) in [(3001usize, 5usize, 1.0f64), (1000, 3, 1e-3), (777, 64, 0.5)] {
            let mut k: Vec<f32> = crate::data::synthetic::vector(&mut rng, n * d, spread);
            // Duplicates and a coarse grid: many keys tie with split values.
            for j in (0..n).step_by(7) {
                let src = (j * 13) % n;
                let row: Vec<f32> = k[src * d..(src + 1) * d].to_vec();
                k[j * d..(j + 1) * d].copy_from_slice(&row);
            }
            for x in k.iter_mut().step_by(3) {
                *x = (*x * 4.0).round() / 4.0;
            }
            let pos: Vec<u32> = (0..n as u32).step_by(3).collect();
            let rows: Vec<f32> = pos.iter().flat_map(|&j| k[j as usize * d..(j as usize + 1) * d].to_vec()).collect();
            let mut skel = skeleton(&rows, &pos, d, LeafRule { leaf: 4, tight_r: 0.0 });
            let mut nb = 0;
            number_buckets(&mut skel, &mut nb);
            let (mut flat, mut bucket_of) = (Vec::new(), Vec::new());
            let depth = flatten(&skel, &mut flat, &mut bucket_of);
            let mut got = vec![0u32; n];
            route_rows(&flat, &bucket_of, depth, &k, d, 0, &mut got);
            let want: Vec<u32> = (0..n).map(|j| descend(&skel, &k[j * d..(j + 1) * d], j as u32)).collect();
            assert_eq!(got, want, "n = {n}, d = {d}");
            let mut seen: Vec<u32> = bucket_of.iter().copied().filter(|&b| b != u32::MAX).collect();
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "buckets not in preorder");
            seen.dedup();
            assert_eq!(seen, (0..nb as u32).collect::<Vec<_>>());
            assert!(nb > 8, "{nb} buckets");
        }
    }

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
