//! The key tree: one tree over all n keys of a head, built once; its per-node sums are *inserted*
//! key by key in position order, so that at any time a node summarises exactly the keys of a prefix.
//!
//! * Split: along the coordinate of widest range (bounding box), at the largest gap among the middle
//!   half of the sorted values;
//!   leaves hold ≤ `leaf` keys, stored contiguously in position order (`perm`, `kperm`), so the
//!   inserted keys of a leaf are a prefix of its range.
//! * Per node: the centre z = mean of *all* its keys (any fixed point is valid for the bounds of
//!   [`crate::theory::solver`]), the radius r ≥ max_j ‖k_j − z‖ over all its keys (rounded up with
//!   [`crate::theory::solver::radius_up`]), so it bounds every subset too.
//! * Aggregates over inserted keys: count m, S_c = Σ v_jc, A_c = Σ |v_jc|, max_c A_c. Inserting
//!   key j walks from its leaf up to its frontier node ([`Tree::set_frontier`]; the root by
//!   default): O(depth · dv).

pub const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
pub struct Node {
    /// Range in leaf order (`perm`, `kperm`).
    pub lo: u32,
    pub hi: u32,
    pub left: u32,
    pub right: u32,
    pub parent: u32,
    /// Upper bound of ‖k_j − z‖ over all keys of the node.
    pub r: f64,
}

impl Node {
    pub fn is_leaf(&self) -> bool {
        self.left == NONE
    }
}

#[derive(Debug, Clone)]
pub struct Tree {
    pub d: usize,
    pub dv: usize,
    pub nodes: Vec<Node>,
    /// Centres, nodes × d.
    pub z: Vec<f64>,
    /// Leaf order → key position.
    pub perm: Vec<u32>,
    /// Keys in leaf order (the f32 inputs; widened exactly where used). Values are read by position
    /// (`v[perm[t]]`) where a walked leaf needs them.
    pub kperm: Vec<f32>,
    /// Key position → its leaf.
    pub leaf_of: Vec<u32>,
    /// Inserted count per node.
    pub count: Vec<u32>,
    /// S and A per node, nodes × dv.
    pub s: Vec<f64>,
    pub a: Vec<f64>,
    pub amax: Vec<f64>,
    /// Keys inserted so far (positions 0..inserted).
    pub inserted: usize,
    /// Where row traversals start: the highest nodes with r ≤ `frontier_r` (or leaves); nodes above
    /// them are never evaluated (a pure work choice — every key is still covered exactly once).
    pub frontier: Vec<u32>,
    /// Per node: is it on the frontier? Insertion stops at the frontier (nodes above it are never
    /// evaluated, so their sums are not kept).
    pub on_frontier: Vec<bool>,
    /// Per node: its index in `frontier`, or NONE.
    pub frontier_index: Vec<u32>,
    /// Key position → the frontier node above its leaf.
    pub frontier_of: Vec<u32>,
    /// First-order moments of the frontier nodes over their inserted keys (when enabled):
    /// D = Σ_j (k_j − z) (F × d, float64) and M = Σ_j (k_j − z) v_jᵀ (F × d × dv, row l of node f
    /// at `(f·d + l)·dv`, float32: its rounding, γ₃₂ relative to Σ_j |k_jl − z_l||v_jc|, is part of
    /// [`crate::theory::solver::first_order_rounding`]).
    pub moments: Option<(Vec<f64>, Vec<f32>)>,
}

impl Tree {
    /// Build over keys `k` (n × d), for values of dimension dv, leaves of at most `leaf` keys.
    pub fn build(k: &[f32], n: usize, d: usize, dv: usize, leaf: usize) -> Tree {
        Tree::build_with(k, n, d, dv, leaf, 0.0)
    }
    /// [`Tree::build`], and a node whose radius is ≤ `tight_r` is a leaf whatever its size.
    pub fn build_with(k: &[f32], n: usize, d: usize, dv: usize, leaf: usize, tight_r: f64) -> Tree {
        Tree::build_with_skeleton_from(k, n, d, dv, leaf, tight_r, super::skeleton::SKELETON_MIN)
    }
    /// [`Tree::build_with`], with the top levels from a sample from `skeleton_min` keys on.
    pub fn build_with_skeleton_from(
        k: &[f32],
        n: usize,
        d: usize,
        dv: usize,
        leaf: usize,
        tight_r: f64,
        skeleton_min: usize,
    ) -> Tree {
        let leaf = leaf.max(1);
        let (nodes, z, perm, kperm) = if n > 0 {
            super::build::build_nodes(k, n, d, super::build::LeafRule { leaf, tight_r }, skeleton_min)
        } else {
            (Vec::new(), Vec::new(), Vec::new(), Vec::new())
        };
        let mut leaf_of = vec![NONE; n];
        for (id, nd) in nodes.iter().enumerate() {
            if nd.is_leaf() {
                for t in nd.lo..nd.hi {
                    leaf_of[perm[t as usize] as usize] = id as u32;
                }
            }
        }
        let nn = nodes.len();
        Tree {
            d,
            dv,
            nodes,
            z,
            perm,
            kperm,
            leaf_of,
            count: vec![0; nn],
            s: vec![0.0; nn * dv],
            a: vec![0.0; nn * dv],
            amax: vec![0.0; nn],
            inserted: 0,
            frontier: if nn > 0 { vec![0] } else { vec![] },
            on_frontier: (0..nn).map(|i| i == 0).collect(),
            frontier_index: (0..nn).map(|i| if i == 0 { 0 } else { NONE }).collect(),
            frontier_of: vec![0; n],
            moments: None,
        }
    }

    /// Keep first-order moments of the frontier nodes if they fit in `max_entries` f64 values
    /// (F·(d + d·dv)); returns whether they are kept. Call after [`Tree::set_frontier`], before
    /// inserting.
    pub fn enable_moments(&mut self, max_entries: usize) -> bool {
        assert_eq!(self.inserted, 0, "enable_moments after insertion");
        let f = self.frontier.len();
        let need = f * self.d * (1 + self.dv);
        if need == 0 || need > max_entries {
            self.moments = None;
            return false;
        }
        self.moments = Some((vec![0.0; f * self.d], vec![0.0f32; f * self.d * self.dv]));
        true
    }

    /// D and M of frontier node `id` (if moments are kept and `id` is on the frontier).
    pub fn node_moments(&self, id: usize) -> Option<(&[f64], &[f32])> {
        let (d1, m1) = self.moments.as_ref()?;
        let fi = self.frontier_index[id];
        if fi == NONE {
            return None;
        }
        let (fi, d, dv) = (fi as usize, self.d, self.dv);
        Some((&d1[fi * d..(fi + 1) * d], &m1[fi * d * dv..(fi + 1) * d * dv]))
    }

    /// Set the frontier to the highest nodes with radius ≤ `r_max` (leaves otherwise).
    /// Call before inserting keys: sums are kept only up to the frontier.
    pub fn set_frontier(&mut self, r_max: f64) {
        assert_eq!(self.inserted, 0, "set_frontier after insertion");
        self.frontier.clear();
        self.on_frontier.iter_mut().for_each(|f| *f = false);
        if self.nodes.is_empty() {
            return;
        }
        self.frontier_index.iter_mut().for_each(|f| *f = NONE);
        self.moments = None;
        let mut st = vec![0u32];
        while let Some(id) = st.pop() {
            let nd = self.nodes[id as usize];
            if nd.is_leaf() || nd.r <= r_max {
                self.frontier_index[id as usize] = self.frontier.len() as u32;
                self.frontier.push(id);
                self.on_frontier[id as usize] = true;
                for t in nd.lo..nd.hi {
                    self.frontier_of[self.perm[t as usize] as usize] = id;
                }
            } else {
                st.push(nd.right);
                st.push(nd.left);
            }
        }
    }

    /// Insert the next key (position `self.inserted`): key row `k`, value row `v` (f32), key by key
    /// and written independently of [`Tree::insert_range`] — the tests' reference for it.
    #[cfg(test)]
    pub fn insert_next(&mut self, k: &[f32], v: &[f32]) {
        if let Some((d1, m1)) = self.moments.as_mut() {
            let (d, dv) = (self.d, self.dv);
            let f = self.frontier_of[self.inserted] as usize;
            let fi = self.frontier_index[f] as usize;
            let z = &self.z[f * d..(f + 1) * d];
            let dd = &mut d1[fi * d..(fi + 1) * d];
            let mm = &mut m1[fi * d * dv..(fi + 1) * d * dv];
            for l in 0..d {
                let dl = k[l] as f64 - z[l];
                dd[l] += dl;
                for (m, &vc) in mm[l * dv..(l + 1) * dv].iter_mut().zip(v) {
                    *m += (dl as f32) * vc;
                }
            }
        }
        let j = self.inserted;
        let dv = self.dv;
        let mut vw = [0.0f64; 256];
        let mut vv = Vec::new();
        let x: &mut [f64] = if dv <= 256 {
            &mut vw[..dv]
        } else {
            vv.resize(dv, 0.0);
            &mut vv
        };
        for (a, &b) in x.iter_mut().zip(v) {
            *a = b as f64;
        }
        let mut id = self.leaf_of[j];
        while id != NONE {
            let i = id as usize;
            self.count[i] += 1;
            for (s, &xc) in self.s[i * dv..(i + 1) * dv].iter_mut().zip(x.iter()) {
                *s += xc;
            }
            let a = &mut self.a[i * dv..(i + 1) * dv];
            for (a, &xc) in a.iter_mut().zip(x.iter()) {
                *a += xc.abs();
            }
            // Sums of absolute values are ≥ 0 and not NaN (finite inputs): a plain comparison max.
            self.amax[i] = a.iter().fold(0.0f64, |m, &y| if y > m { y } else { m });
            if self.on_frontier[i] {
                break;
            }
            id = self.nodes[i].parent;
        }
        self.inserted += 1;
    }

    /// Insert the keys self.inserted..end of the head (`k`: n × d, `v`: n × dv rows), in parallel
    /// over frontier nodes: a key's sums stop at its frontier node, frontier subtrees are disjoint
    /// ranges of preorder ids, and each node receives its keys in position order — counts, value
    /// sums, D and M are bitwise those of inserting key by key (`Tree::insert_next`, the tests'
    /// reference), whatever the thread count and the chunking of the calls. Returns the frontier
    /// indices of the nodes that received keys (increasing).
    pub fn insert_range(&mut self, k: &[f32], v: &[f32], end: usize) -> Vec<u32> {
        self.insert_range_with(k, v, end, true)
    }

    /// [`Tree::insert_range`] on this thread only (the same bits). Without first-order moments the
    /// keys go straight up their paths in position order ([`insert_direct`]): each node still
    /// receives its keys in position order, so the sums are the same bits, without grouping the
    /// keys by frontier node first (the solve's chunks insert 64 keys at a time, most of them to
    /// different nodes: clustered 2^17, 2.7 µs of 5.4 µs per chunk was that grouping).
    pub fn insert_range_serial(&mut self, k: &[f32], v: &[f32], end: usize) -> Vec<u32> {
        if self.moments.is_some() {
            return self.insert_range_with(k, v, end, false);
        }
        let start = self.inserted;
        if end <= start {
            return Vec::new();
        }
        let mut cx = DirectCtx {
            nodes: &self.nodes,
            leaf_of: &self.leaf_of,
            frontier_of: &self.frontier_of,
            frontier_index: &self.frontier_index,
            count: &mut self.count,
            s: &mut self.s,
            a: &mut self.a,
            amax: &mut self.amax,
            dv: self.dv,
        };
        let mut touched = Vec::with_capacity(end - start);
        insert_direct(&mut cx, v, start, end, &mut touched);
        self.inserted = end;
        touched
    }

    fn insert_range_with(&mut self, k: &[f32], v: &[f32], end: usize, allow_parallel: bool) -> Vec<u32> {
        use rayon::prelude::*;
        let (d, dv, start) = (self.d, self.dv, self.inserted);
        if end <= start {
            return Vec::new();
        }
        let mut keys: Vec<(u32, u32)> =
            (start..end).map(|j| (self.frontier_index[self.frontier_of[j] as usize], j as u32)).collect();
        keys.sort_unstable();
        let mut parts: Vec<Part<'_>> = Vec::new();
        let mut touched = Vec::new();
        let has_moments = self.moments.is_some();
        {
            let (mut count, mut s, mut a, mut amax) =
                (&mut self.count[..], &mut self.s[..], &mut self.a[..], &mut self.amax[..]);
            let (mut d1, mut m1) = match self.moments.as_mut() {
                Some((d1, m1)) => (&mut d1[..], &mut m1[..]),
                None => (&mut [][..], &mut [][..]),
            };
            let (mut off, mut foff) = (0usize, 0usize);
            let mut t = 0;
            while t < keys.len() {
                let fi = keys[t].0 as usize;
                touched.push(fi as u32);
                let t1 = t + keys[t..].iter().take_while(|x| x.0 as usize == fi).count();
                let root = self.frontier[fi] as usize;
                let hi = subtree_end(&self.nodes, root);
                debug_assert!(root >= off, "frontier in preorder");
                let c = take(&mut count, 1, off, root, hi);
                let (ps, pa, pm) = (
                    take(&mut s, dv, off, root, hi),
                    take(&mut a, dv, off, root, hi),
                    take(&mut amax, 1, off, root, hi),
                );
                let moments = if has_moments {
                    Some((take(&mut d1, d, foff, fi, fi + 1), take(&mut m1, d * dv, foff, fi, fi + 1)))
                } else {
                    None
                };
                parts.push(Part { root, base: root, keys: &keys[t..t1], count: c, s: ps, a: pa, amax: pm, moments });
                off = hi;
                foff = fi + 1;
                t = t1;
            }
        }
        // In parallel over parts: the planner's probes insert n/8 or n/2 keys in one call. The solve's
        // chunks insert on one thread (`insert_range_serial`, [`super::workers`]).
        let serial = !allow_parallel || end - start < PAR_INSERT_MIN;
        let cx = InsertCtx { nodes: &self.nodes, leaf_of: &self.leaf_of, z: &self.z, k, v, d, dv };
        let run = |sc: &mut PartScratch, part: Part<'_>| insert_part(&cx, part, sc);
        if serial {
            let mut sc = PartScratch::default();
            parts.into_iter().for_each(|part| run(&mut sc, part));
        } else {
            parts.into_par_iter().with_min_len(8).for_each_init(PartScratch::default, run);
        }
        self.inserted = end;
        touched
    }

    /// Forget every inserted key (keeps the structure).
    pub fn reset(&mut self) {
        self.count.iter_mut().for_each(|c| *c = 0);
        self.s.iter_mut().for_each(|c| *c = 0.0);
        self.a.iter_mut().for_each(|c| *c = 0.0);
        self.amax.iter_mut().for_each(|c| *c = 0.0);
        if let Some((d1, m1)) = self.moments.as_mut() {
            d1.fill(0.0);
            m1.fill(0.0);
        }
        self.inserted = 0;
    }

    pub fn centre(&self, id: usize) -> &[f64] {
        &self.z[id * self.d..(id + 1) * self.d]
    }
}

/// One frontier subtree's share of the work: its keys and its slices of the node arrays.
struct Part<'a> {
    root: usize,
    base: usize,
    keys: &'a [(u32, u32)],
    count: &'a mut [u32],
    s: &'a mut [f64],
    a: &'a mut [f64],
    amax: &'a mut [f64],
    moments: Option<(&'a mut [f64], &'a mut [f32])>,
}

/// What every [`Part`] of one insertion reads: the tree's structure, the centres and the head's rows.
struct InsertCtx<'a> {
    nodes: &'a [Node],
    leaf_of: &'a [u32],
    z: &'a [f64],
    k: &'a [f32],
    v: &'a [f32],
    d: usize,
    dv: usize,
}

/// What [`insert_direct`] reads and updates.
struct DirectCtx<'a> {
    nodes: &'a [Node],
    leaf_of: &'a [u32],
    frontier_of: &'a [u32],
    frontier_index: &'a [u32],
    count: &'a mut [u32],
    s: &'a mut [f64],
    a: &'a mut [f64],
    amax: &'a mut [f64],
    dv: usize,
}

per_isa! {
    /// Keys start..end (no first-order moments): each key's value row added to the sums of the nodes
    /// from its leaf up to its frontier node, key after key; then Â of every touched node. Writes the
    /// touched frontier indices (increasing, once each) into `touched`.
    fn insert_direct(cx: &mut DirectCtx<'_>, v: &[f32], start: usize, end: usize, touched: &mut Vec<u32>) = insert_direct_body;
}

#[inline(always)]
fn insert_direct_body(cx: &mut DirectCtx<'_>, v: &[f32], start: usize, end: usize, touched: &mut Vec<u32>) {
    let dv = cx.dv;
    let mut nodes_touched: Vec<u32> = Vec::with_capacity(2 * (end - start));
    touched.clear();
    for j in start..end {
        let root = cx.frontier_of[j] as usize;
        let vr = &v[j * dv..(j + 1) * dv];
        let mut id = cx.leaf_of[j] as usize;
        loop {
            cx.count[id] += 1;
            for ((sc, ac), &x) in cx.s[id * dv..(id + 1) * dv].iter_mut().zip(&mut cx.a[id * dv..(id + 1) * dv]).zip(vr)
            {
                let x = x as f64;
                *sc += x;
                *ac += x.abs();
            }
            nodes_touched.push(id as u32);
            if id == root {
                break;
            }
            id = cx.nodes[id].parent as usize;
        }
        touched.push(cx.frontier_index[root]);
    }
    nodes_touched.sort_unstable();
    nodes_touched.dedup();
    for &i in &nodes_touched {
        let i = i as usize;
        // As in insert_part_body: the lane-split max of sums of absolute values (never NaN).
        cx.amax[i] = super::lanes::lanes_max(&cx.a[i * dv..(i + 1) * dv]).max(0.0);
    }
    touched.sort_unstable();
    touched.dedup();
}

/// Buffers of [`insert_part`], kept per worker across the parts of an insertion.
#[derive(Default)]
struct PartScratch {
    /// Nodes whose sums changed.
    touched: Vec<u32>,
    /// fl₃₂(K − z) (m × d) of the part's keys, and their V (m × dv).
    dt32: Vec<f32>,
    vf: Vec<f32>,
}

per_isa! {
    /// Insert one frontier subtree's keys: path sums, then Â of the touched nodes, then the frontier
    /// node's first-order moments; compiled for the best instruction set (same bits on every path).
    fn insert_part(cx: &InsertCtx<'_>, part: Part<'_>, sc: &mut PartScratch) = insert_part_body;
}

#[inline(always)]
fn insert_part_body(cx: &InsertCtx<'_>, part: Part<'_>, sc: &mut PartScratch) {
    let InsertCtx { nodes, leaf_of, z, k, v, d, dv } = *cx;
    let Part { root, base, keys, count, s, a, amax, moments } = part;
    let PartScratch { touched, dt32, vf } = sc;
    touched.clear();
    for &(_, j) in keys {
        let j = j as usize;
        let vr = &v[j * dv..(j + 1) * dv];
        let mut id = leaf_of[j] as usize;
        loop {
            let i = id - base;
            count[i] += 1;
            for ((sc, ac), &x) in s[i * dv..(i + 1) * dv].iter_mut().zip(&mut a[i * dv..(i + 1) * dv]).zip(vr) {
                let x = x as f64;
                *sc += x;
                *ac += x.abs();
            }
            touched.push(i as u32);
            if id == root {
                break;
            }
            id = nodes[id].parent as usize;
        }
    }
    touched.sort_unstable();
    touched.dedup();
    for &i in touched.iter() {
        let i = i as usize;
        // Sums of absolute values are +0 or positive, never NaN (finite inputs): their maximum is
        // one value whatever the order, so the lane-split max (vectorised) gives the bits of the
        // key-by-key fold of `insert_next`.
        amax[i] = super::lanes::lanes_max(&a[i * dv..(i + 1) * dv]).max(0.0);
    }
    if let Some((dd, mm)) = moments {
        // D += Σ_j (k_j − z) in position order (f64). M += Σ_j fl₃₂(k_j − z)·v_jᵀ: each entry a
        // float32 sum of the m products fl₃₂(fl₃₂(fl(k_jl − z_l))·v_jc) added one by one in position
        // order (the γ₃₂ of crate::theory::solver::first_order_rounding), a separate multiply and
        // add — the bits of `insert_next` on every instruction set. Row l of M is updated by all the
        // part's keys while it sits in registers (tiles of MTILE columns).
        let zc = &z[root * d..(root + 1) * d];
        let m = keys.len();
        dt32.clear();
        dt32.resize(m * d, 0.0);
        vf.clear();
        for (&(_, j), xt) in keys.iter().zip(dt32.chunks_exact_mut(d)) {
            let j = j as usize;
            for (((&x, &c), dl), xl) in k[j * d..(j + 1) * d].iter().zip(zc).zip(dd.iter_mut()).zip(xt) {
                let x = x as f64 - c;
                *dl += x;
                *xl = x as f32;
            }
            vf.extend_from_slice(&v[j * dv..(j + 1) * dv]);
        }
        let tiles = dv / MTILE * MTILE;
        for l in 0..d {
            let row = &mut mm[l * dv..(l + 1) * dv];
            for c0 in (0..tiles).step_by(MTILE) {
                let tile: &mut [f32; MTILE] = (&mut row[c0..c0 + MTILE]).try_into().expect("MTILE columns");
                let mut acc = *tile;
                for t in 0..m {
                    let x = dt32[t * d + l];
                    let vt: &[f32; MTILE] = vf[t * dv + c0..t * dv + c0 + MTILE].try_into().expect("MTILE columns");
                    for q in 0..MTILE {
                        acc[q] += x * vt[q];
                    }
                }
                *tile = acc;
            }
            for c in tiles..dv {
                for t in 0..m {
                    row[c] += dt32[t * d + l] * vf[t * dv + c];
                }
            }
        }
    }
}

/// Columns of M kept in registers while [`insert_part`] adds a part's keys to one of its rows.
const MTILE: usize = 64;

/// The next `(hi − lo)·w` entries after skipping to `lo·w` of the slice `x` that starts at entry
/// `o·w`; `x` keeps the rest.
fn take<'a, T>(x: &mut &'a mut [T], w: usize, o: usize, lo: usize, hi: usize) -> &'a mut [T] {
    let rest = std::mem::take(x);
    let (_, rest) = rest.split_at_mut((lo - o) * w);
    let (mine, rest) = rest.split_at_mut((hi - lo) * w);
    *x = rest;
    mine
}

/// One past the last preorder id of the subtree rooted at `id` (its rightmost leaf + 1).
fn subtree_end(nodes: &[Node], mut id: usize) -> usize {
    while !nodes[id].is_leaf() {
        id = nodes[id].right as usize;
    }
    id + 1
}

/// [`Tree::insert_range`] runs in parallel from this many keys on.
const PAR_INSERT_MIN: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radii_cover_keys_and_insertion_sums_match() {
        let mut rng = crate::rng::seeded(3);
        let h = crate::data::synthetic::gaussian(&mut rng, 300, 5, 3, 2.0);
        let mut t = Tree::build(&h.k, 300, 5, 3, 7);
        for (id, nd) in t.nodes.iter().enumerate() {
            for p in nd.lo..nd.hi {
                let kk = &t.kperm[p as usize * 5..(p as usize + 1) * 5];
                let dist: f64 =
                    kk.iter().zip(t.centre(id)).map(|(&a, b)| (a as f64 - b) * (a as f64 - b)).sum::<f64>().sqrt();
                assert!(dist <= nd.r, "node {id}");
            }
            if nd.is_leaf() {
                assert!(nd.hi - nd.lo <= 7);
            }
        }
        for j in 0..150 {
            t.insert_next(&h.k[j * 5..(j + 1) * 5], &h.v[j * 3..(j + 1) * 3]);
        }
        // Root sums equal the plain sums of the first 150 values.
        for c in 0..3 {
            let s: f64 = (0..150).map(|j| h.v[j * 3 + c] as f64).sum();
            assert!((t.s[c] - s).abs() < 1e-9, "{} {s}", t.s[c]);
        }
        assert_eq!(t.count[0], 150);
        // Leaves: inserted keys are a prefix of the leaf range.
        for nd in t.nodes.iter().filter(|n| n.is_leaf()) {
            let pos: Vec<u32> = (nd.lo..nd.hi).map(|p| t.perm[p as usize]).collect();
            assert!(pos.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn tight_nodes_become_leaves_whatever_their_size() {
        // 20 tight clusters of 50 keys (spread 1e-4) among 300 spread keys: with tight_r = 0.01 each
        // cluster ends in a leaf of up to 50 keys; every leaf has ≤ leaf keys or r ≤ tight_r, radii
        // still cover their keys, and insertion sums still match the plain sums.
        let mut rng = crate::rng::seeded(6);
        let (n, d, dv) = (1300, 4, 2);
        let spread = crate::data::synthetic::gaussian(&mut rng, 300, d, dv, 2.0);
        let mut k = spread.k.clone();
        let mut v = spread.v.clone();
        for c in 0..20 {
            for j in 0..50 {
                for l in 0..d {
                    k.push(c as f32 + 1e-4 * ((j * 7 + l * 3) % 11) as f32);
                }
                v.extend((0..dv).map(|x| (c * 50 + j + x) as f32 * 0.01));
            }
        }
        let mut t = Tree::build_with(&k, n, d, dv, 6, 0.01);
        let mut big = 0;
        for (id, nd) in t.nodes.iter().enumerate() {
            if nd.is_leaf() {
                assert!(nd.hi - nd.lo <= 6 || nd.r <= 0.01, "leaf {id}: {} keys, r = {}", nd.hi - nd.lo, nd.r);
                big += (nd.hi - nd.lo > 6) as usize;
            }
            for p in nd.lo..nd.hi {
                let kk = &t.kperm[p as usize * d..(p as usize + 1) * d];
                let dist: f64 =
                    kk.iter().zip(t.centre(id)).map(|(&a, b)| (a as f64 - b) * (a as f64 - b)).sum::<f64>().sqrt();
                assert!(dist <= nd.r, "node {id}");
            }
        }
        assert!(big >= 20, "{big} tight leaves above the size limit");
        t.insert_range(&k, &v, n);
        for c in 0..dv {
            let s: f64 = (0..n).map(|j| v[j * dv + c] as f64).sum();
            assert!((t.s[c] - s).abs() < 1e-9 * s.abs().max(1.0), "{} {s}", t.s[c]);
        }
    }

    #[test]
    fn parallel_build_keeps_the_tree_invariants() {
        // n above PAR_BUILD_MIN: the top levels are built by rayon::join and appended.
        let n = 3 * super::super::build::PAR_BUILD_MIN;
        let mut rng = crate::rng::seeded(5);
        let h = crate::data::synthetic::gaussian(&mut rng, n, 3, 1, 1.0);
        let t = Tree::build(&h.k, n, 3, 1, 8);
        let mut seen = vec![false; n];
        for (id, nd) in t.nodes.iter().enumerate() {
            if id == 0 {
                assert_eq!(nd.parent, NONE);
                assert_eq!((nd.lo, nd.hi), (0, n as u32));
            } else {
                let p = &t.nodes[nd.parent as usize];
                assert!(p.left == id as u32 || p.right == id as u32, "node {id}");
            }
            if nd.is_leaf() {
                for q in nd.lo..nd.hi {
                    let pos = t.perm[q as usize] as usize;
                    assert!(!seen[pos]);
                    seen[pos] = true;
                    assert_eq!(t.leaf_of[pos], id as u32);
                }
            } else {
                let (l, r) = (&t.nodes[nd.left as usize], &t.nodes[nd.right as usize]);
                assert_eq!((l.lo, l.hi, r.lo, r.hi), (nd.lo, r.lo, l.hi, nd.hi), "node {id}");
                assert!(nd.left == id as u32 + 1, "preorder numbering at node {id}");
            }
            for q in nd.lo..nd.hi {
                let kk = &t.kperm[q as usize * 3..(q as usize + 1) * 3];
                let dist: f64 =
                    kk.iter().zip(t.centre(id)).map(|(&a, b)| (a as f64 - b) * (a as f64 - b)).sum::<f64>().sqrt();
                assert!(dist <= nd.r, "node {id}");
            }
        }
        assert!(seen.iter().all(|&x| x));
        // Deterministic whatever the scheduling.
        let t2 = Tree::build(&h.k, n, 3, 1, 8);
        assert_eq!(t.perm, t2.perm);
        assert_eq!(t.z, t2.z);
    }

    /// First-order moments of two insertions (`insert_range` by parts, `insert_next` key by key):
    /// both sum D (f64) and M (f32, a multiply then an add per product) in position order, so they
    /// agree bit for bit.
    fn assert_moments_equal(a: &Tree, b: &Tree, what: &str) {
        let ((da, ma), (db, mb)) = (a.moments.as_ref().unwrap(), b.moments.as_ref().unwrap());
        assert_eq!(da, db, "{what}: D");
        let bits = |x: &[f32]| x.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(ma), bits(mb), "{what}: M");
    }

    #[test]
    fn parallel_insertion_is_bitwise_the_key_by_key_insertion() {
        // Bitwise for counts, value sums and the first-order moments D and M.
        let (n, d, dv) = (5000, 4, 3);
        let mut rng = crate::rng::seeded(11);
        let h = crate::data::synthetic::gaussian(&mut rng, n, d, dv, 1.5);
        for r_max in [f64::INFINITY, 0.8, 0.0] {
            let mut serial = Tree::build(&h.k, n, d, dv, 6);
            serial.set_frontier(r_max);
            assert!(serial.enable_moments(1 << 24));
            let mut par = serial.clone();
            for j in 0..n {
                serial.insert_next(&h.k[j * d..(j + 1) * d], &h.v[j * dv..(j + 1) * dv]);
                if j % 997 == 0 || j == 2500 {
                    par.insert_range(&h.k, &h.v, j + 1);
                    assert_eq!(par.count, serial.count, "r_max {r_max}, after key {j}");
                    assert_eq!(par.s, serial.s);
                    assert_eq!(par.a, serial.a);
                    assert_eq!(par.amax, serial.amax);
                    assert_moments_equal(&par, &serial, &format!("r_max {r_max}, after key {j}"));
                }
            }
            par.insert_range(&h.k, &h.v, n);
            assert_moments_equal(&par, &serial, "all keys");
            assert_eq!((par.s, par.amax, par.inserted), (serial.s, serial.amax, n));
        }
    }

    #[test]
    fn direct_serial_insertion_is_bitwise_the_insertion_by_parts() {
        // Without moments `insert_range_serial` adds key by key up the paths; `insert_range` groups
        // the keys by frontier node. Same sums, same touched frontier indices, chunk after chunk.
        let (n, d, dv) = (5000, 4, 3);
        let mut rng = crate::rng::seeded(12);
        let h = crate::data::synthetic::gaussian(&mut rng, n, d, dv, 1.5);
        for r_max in [f64::INFINITY, 0.8, 0.3, 0.0] {
            let mut parts = Tree::build(&h.k, n, d, dv, 6);
            parts.set_frontier(r_max);
            let mut direct = parts.clone();
            let mut end = 0;
            for step in [1usize, 63, 64, 700, 5, 64, 2000, 3000] {
                end = (end + step).min(n);
                let (tp, td) = (parts.insert_range(&h.k, &h.v, end), direct.insert_range_serial(&h.k, &h.v, end));
                assert_eq!(tp, td, "r_max {r_max}: touched, up to key {end}");
                assert_eq!(parts.count, direct.count, "r_max {r_max}: counts");
                let bits = |x: &[f64]| x.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&parts.s), bits(&direct.s), "r_max {r_max}: S");
                assert_eq!(bits(&parts.a), bits(&direct.a), "r_max {r_max}: A");
                assert_eq!(bits(&parts.amax), bits(&direct.amax), "r_max {r_max}: Â");
                assert_eq!(parts.inserted, direct.inserted);
            }
        }
    }
}
