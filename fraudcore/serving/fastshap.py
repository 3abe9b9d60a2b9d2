"""Exact path-dependent TreeSHAP for one LightGBM model, compiled with numba for one-row latency.

Why not LightGBM's own `pred_contrib`: on a model of the served size it costs milliseconds a row,
which alone breaks the p99 target when a few percent of requests must be explained. Path (Saabas)
attributions are fast but agree with exact SHAP on too few top-3 reason sets to be an honest
substitute. This module computes the *same* values as `pred_contrib` (equal to ~1e-13) in a small
fraction of its time, also when it starts from a cold cache, as it does in a server that explains
only some requests. `pred_contrib` stays the fallback (`fraud serve --no-compiled-reasons`). The
figures, and how each step below changed them, are in
docs/serving.md#where-the-time-goes-in-the-explainer (measured with `benchmarks/treeshap.py`).

How (a Linear-TreeSHAP-style formulation, Yu et al. 2022): for a leaf l with path features U,
cover fractions z_j and "x satisfies the path's conditions on j" indicators o_j, the Shapley weight
sum is a Beta integral,

    phi_i += v_l (o_i - z_i) * integral_0^1 prod_{j in U, j != i} (o_j t + z_j (1 - t)) dt,

a polynomial of degree |U| - 1 in t, so a Gauss-Legendre rule with ceil(|U| / 2) nodes is exact,
and so is any larger rule. Writing (o_i - z_i) / f_i(t) as a telescoping sum over the splits on i
along the path turns the per-leaf sums into one sum per edge of the tree over the subtree's "leaf
value x path polynomial" mass, accumulated bottom-up: O(nodes x quadrature nodes) per tree instead
of TreeSHAP's O(leaves x depth^2). Quadrature is linear, so the per-edge terms (rational functions)
add up to the exact polynomial integral. `_shap_rows` spells out the two passes.

What makes it fast (each step was kept only if it measured faster):
- Every tree uses an 8-point rule (16 for the rare tree whose paths need more than 8), so the
  quadrature axis is exactly one AVX-512 vector of float64. numba runs LLVM without its SLP
  vectorizer and fully unrolls 8-trip loops before the loop vectorizer would see them, so the
  kernel writes the vector operations out (`vload`, `vfma`, ... in `simd.py`: LLVM `<8 x double>`
  values; a CPU without AVX-512 gets them split in halves, still exact). Per-split records are
  packed and read without numba's negative-index checks.
- One step per split handles both children (they share the parent's product and the feature's
  previous split, and their credits reach the feature's accumulator in one update), splits in
  breadth-first order: the pre-order passes waited on each other's stores.
- Routing (LightGBM's split rules) happens inside the down pass, and every store goes to an
  address known before the routing is: a store address that waits on the routing lets later loads
  run ahead of it and be replayed. Splits whose children are both leaves are finished in the down
  pass.
- Each row is first written four ways (`_spread`: NaN, or NaN and zero, mapped to a value that goes
  left or right), so that a numeric split of any missing type is one comparison.

What keeps it fast from a cold cache (the server scores many requests between two it explains,
which evicts the explainer's tables; `benchmarks/treeshap.py` writes 64 MB between rows to
reproduce that):
- Few bytes per row: 1 / f(t), f = z + (o - z) t, is one 8-lane division per child of a split that
  has a split below, kept in scratch for the splits below; the children of a split with two leaves
  need none, as a leaf's H D = G S (o - z). A table of 1 / f for o = 1 would be read from memory
  instead, and it was larger than all the other tables together. A split is 5 float64 (threshold,
  the children's z and scales) and 4 int16 (int32 if a model needs it).
- Records are read in order, so besides the hardware prefetcher the kernel prefetches AHEAD splits
  early. What remains of the cold cost is mostly Python and numba's dispatch.

Split decisions follow LightGBM's `Tree::NumericalDecision` / `CategoricalDecision` (missing types
None / Zero / NaN, default direction, categorical bitsets; NaN and negative categories go right).
`tests/serving/test_serving_fastshap.py` checks leaf routing against `pred_leaf` and values against
`pred_contrib`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from numba import njit

from fraudcore.errors import FraudError
from fraudcore.serving.simd import LANES, get, prefetch, put, vadd, vdiv, vfma, vload, vmul, vsplat, vstore

MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}
ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold
VALUE_LIMIT = 1e300  # LightGBM clamps feature values to +-VALUE_LIMIT


class UnsupportedModelError(FraudError, ValueError):
    """A model this explainer cannot reproduce exactly (e.g. linear trees, multiclass)."""


def supported_dump(booster: lgb.Booster) -> dict[str, Any]:
    """`booster.dump_model()`, refusing what the compiled walks cannot reproduce exactly."""
    dump = booster.dump_model()
    if dump.get("num_tree_per_iteration", 1) != 1:
        raise UnsupportedModelError("only single-output (binary / regression) models are supported; "
                                    f"got num_tree_per_iteration={dump.get('num_tree_per_iteration')}")
    if any(t.get("is_linear") for t in dump["tree_info"]) or dump.get("average_output"):
        raise UnsupportedModelError("linear trees and averaged (random forest) output are not supported")
    return dump


@dataclass(frozen=True)
class _Flat:
    """All trees' nodes in one pre-order array (a parent always precedes its children)."""

    feat: np.ndarray
    thr: np.ndarray
    is_cat: np.ndarray
    default_left: np.ndarray
    missing: np.ndarray
    left: np.ndarray
    value: np.ndarray
    is_leaf: np.ndarray
    cat_ptr: np.ndarray
    cat_vals: np.ndarray
    parent: np.ndarray      # -1 for a root
    prev_same: np.ndarray   # node whose incoming edge is the previous split on the same feature, or -1
    z_cum: np.ndarray       # cover-fraction product for the incoming edge's feature, this edge included
    z_prev: np.ndarray      # the same product before this edge (1.0 when this is the first split on it)
    starts: np.ndarray      # tree t owns nodes starts[t] .. starts[t + 1] - 1
    n_quad: np.ndarray      # Gauss-Legendre nodes each tree needs (exact for its longest path)
    max_nodes: int


def _flatten(dump: dict[str, Any]) -> tuple[_Flat, float]:
    cols: dict[str, list[Any]] = {k: [] for k in ("feat", "thr", "is_cat", "default_left", "missing", "left",
                                                   "value", "is_leaf", "parent", "prev_same", "z_cum", "z_prev")}
    cat_ptr: list[int] = [0]
    cat_vals: list[int] = []
    starts, n_quad = [0], []
    expected = 0.0

    def count_of(node: dict[str, Any]) -> float:
        return float(node.get("internal_count", node.get("leaf_count", 0)))

    def add(node: dict[str, Any], up: int, last: dict[int, int], path: frozenset[int]) -> tuple[int, float]:
        """Append `node`'s subtree; return (max unique features on a path below, sum of value x count)."""
        i = len(cols["feat"])
        f_up = cols["feat"][up] if up >= 0 else -1
        prev = last.get(f_up, -1) if up >= 0 else -1
        z_before = cols["z_cum"][prev] if prev >= 0 else 1.0
        z_here = z_before * (count_of(node) / count_of_node[up]) if up >= 0 else 1.0
        row = {"feat": 0, "thr": 0.0, "is_cat": False, "default_left": False, "missing": 0, "left": -1,
               "value": 0.0, "is_leaf": False, "parent": up, "prev_same": prev, "z_cum": z_here, "z_prev": z_before}
        for k, v in row.items():
            cols[k].append(v)
        count_of_node.append(count_of(node))
        below = dict(last)
        if up >= 0:
            below[f_up] = i
        if "split_feature" not in node:
            cols["value"][i], cols["is_leaf"][i] = float(node.get("leaf_value", 0.0)), True
            cat_ptr.append(len(cat_vals))
            return len(path), cols["value"][i] * count_of(node)
        f = int(node["split_feature"])
        cols["feat"][i] = f
        cols["default_left"][i] = bool(node["default_left"])
        if node["missing_type"] not in MISSING_TYPES:
            raise UnsupportedModelError(f"missing type {node['missing_type']!r} is not supported")
        cols["missing"][i] = MISSING_TYPES[node["missing_type"]]
        if node["decision_type"] == "==":
            cols["is_cat"][i] = True
            cat_vals.extend(int(c) for c in str(node["threshold"]).split("||"))
        elif node["decision_type"] == "<=":
            cols["thr"][i] = float(node["threshold"])
        else:
            raise UnsupportedModelError(f"decision type {node['decision_type']!r} is not supported")
        cat_ptr.append(len(cat_vals))
        sub = path | {f}
        cols["left"][i] = len(cols["feat"])
        lu, lm = add(node["left_child"], i, below, sub)
        ru, rm = add(node["right_child"], i, below, sub)
        return max(lu, ru), lm + rm

    count_of_node: list[float] = []
    for tree in dump["tree_info"]:
        root = tree["tree_structure"]
        unique, mass = add(root, -1, {}, frozenset())
        starts.append(len(cols["feat"]))
        n_quad.append(max(1, math.ceil(unique / 2)))  # exact for degree unique - 1 <= 2K - 1
        total = count_of(root)
        expected += mass / total if "split_feature" in root and total > 0 else float(root.get("leaf_value", 0.0))
    dtypes = {"feat": np.int32, "thr": np.float64, "is_cat": np.bool_, "default_left": np.bool_,
              "missing": np.int8, "left": np.int32, "value": np.float64, "is_leaf": np.bool_,
              "parent": np.int32, "prev_same": np.int32, "z_cum": np.float64, "z_prev": np.float64}
    arrays = {k: np.asarray(v, dtype=dtypes[k]) for k, v in cols.items()}
    starts_a = np.asarray(starts, np.int64)
    flat = _Flat(**arrays, cat_ptr=np.asarray(cat_ptr, np.int32), cat_vals=np.asarray(cat_vals or [0], np.int64),
                 starts=starts_a, n_quad=np.asarray(n_quad, np.int32),
                 max_nodes=int(np.diff(starts_a).max()) if len(starts_a) > 1 else 1)
    return flat, expected


# ---- splits, routing and the SHAP kernel ---------------------------------------------------------
# One record per split (internal node), in the order the kernel reads them: float fields of split m
# are split_f[NF m + F_*], integer fields split_i[NI m + I_*] (int16 when every value fits, else
# int32). In its tree's scratch, split k (k = m - the tree's first split) writes its left and right
# child to slots 2k + 1 and 2k + 2, the root is slot 0 and `sent` the sentinel; I_SELF is the
# split's own slot and I_PREV the slot of the child edge of the previous split on its feature above
# it, or the sentinel, both times LANES (a slot holds one vector). I_X is the split's value in the
# row's `_spread` copy (XV x feature + the way its missing values go), I_CAT a categorical split's
# row of `cat_table`, else -1. Z_* are the children's cover-fraction products (`_Flat.z_cum`), S_*
# their scales: the leaf value for a leaf, 1 for a split.
I_SELF, I_PREV, I_X, I_CAT = range(4)
NI = 4
F_THR, F_Z_L, F_Z_R, F_S_L, F_S_R = range(5)
NF = 5
XV = 4  # per feature: missing goes right, NaN goes left, NaN and zero go right, NaN and zero go left
AHEAD = 48  # splits between a record's software prefetch and its use
# offsets are never negative: a shift, not numba's floor division with its sign fix-ups
LANE_BITS, XV_BITS = LANES.bit_length() - 1, XV.bit_length() - 1


@njit(cache=True, nogil=True)
def _spread(x, xv):  # pragma: no cover - compiled
    """Write each value of row x four ways, so that a numeric split is one comparison, v <= threshold,
    whichever way LightGBM sends its missing values: NaN for "goes right" (NaN <= anything is
    false), -inf for "goes left". Missing types None and NaN only map NaN (None compares it as 0.0,
    which is a fixed side of the split); type Zero also maps |v| <= kZeroThreshold. The first copy
    is the row itself, which categorical splits read. LightGBM predicts with values clamped to
    +-1e300, and a split that separates NaN from every number has threshold 1e300, so +inf goes left
    there: so does it here."""
    for j in range(x.shape[0]):
        v = x[j]
        if v > VALUE_LIMIT:
            v = VALUE_LIMIT
        elif v < -VALUE_LIMIT:
            v = -VALUE_LIMIT
        nan = v != v
        zero = nan or abs(v) <= ZERO_THRESHOLD
        xv[XV * j] = v
        xv[XV * j + 1] = -np.inf if nan else v
        xv[XV * j + 2] = np.nan if zero else v
        xv[XV * j + 3] = -np.inf if zero else v


@njit(cache=True, nogil=True)
def _category(v, width):  # pragma: no cover - compiled
    """The bitset column a categorical split looks up, or -1 to go right: NaN and negatives go
    right, static_cast<int> truncates toward zero, and a category past every bitset goes right."""
    return np.int64(v) if v == v and v > -1.0 and v < width else -1


# The routing lines are repeated in `_route` and in both down loops of `_shap_rows` rather than
# shared: an njit helper that takes an array is not inlined, and costs a call and a reference count
# per split; forced inlining (numba's inline="always") measured slower, not faster
# (docs/serving.md#where-the-time-goes-in-the-explainer).
@njit(cache=True, nogil=True)
def _route(X, split_i, split_f, cat_table, width, nodes, goes):  # pragma: no cover - compiled
    xv = np.empty(XV * X.shape[1])
    for r in range(X.shape[0]):
        _spread(X[r], xv)
        g = goes[r]
        for m in range(split_i.shape[0] // NI):
            v = get(xv, get(split_i, NI * m + I_X))
            code = np.int64(get(split_i, NI * m + I_CAT))
            if code >= 0:
                col = _category(v, width)
                left = col >= 0 and get(cat_table, code * width + col)
            else:
                left = v <= get(split_f, NF * m + F_THR)
            put(g, get(nodes, m), left)
    return goes


@njit(cache=True, nogil=True)
def _aligned_empty(n):  # pragma: no cover - compiled
    """float64 scratch starting on a cache line (numba aligns to 32 bytes), so that no vector
    access straddles two lines."""
    buf = np.empty(n + LANES)
    skip = (-buf.ctypes.data) % 64 // 8
    return buf[skip:skip + n]


@njit(cache=True, nogil=True)
def _scaled_f(o, z, s, T):  # pragma: no cover - compiled
    """S f = (o - z) S t + z S, S the child's scale."""
    return vfma(vsplat((o - z) * s), T, vsplat(z * s))


@njit(cache=True, nogil=True)
def _shap_rows(X, split_i, split_f, cat_table, width, tasks, rules, sent, expected, out):  # pragma: no cover - compiled
    # A task is one tree and one block of LANES quadrature nodes t (weights w).
    # For the child c of a split on feature F: o_c = does the row satisfy every split on F from
    # the root to c, z_c = the product of their cover fractions, f_c = z_c + (o_c - z_c) t, and q
    # the previous edge on F above c (the sentinel, o = 1 and f = 1, if none).
    #   down (breadth-first): G_c = G_parent f_c / f_q, starting from G_root = w; GH_c = G_c x (leaf
    #        value or 1). Each child keeps R_c = 1 / f_c, which the splits below it read as 1 / f_q,
    #        and D_c = (o_c - z_c) / f_c: one vector division per child, its operand ready long
    #        before anything waits for the quotient.
    #   up (reverse): H_parent = H_left + H_right (H = GH at a leaf), and feature F's accumulator
    #        gets H_left D_left + H_right D_right - H_parent D_q: the telescoped credit of both
    #        edges. Summing the accumulator's lanes integrates over t (w is already in G).
    # Splits m0 .. m2 - 1 are the ones with a split below; m2 .. m1 - 1 have two leaves, and the
    # down pass finishes them, as their masses are known there and a leaf's H D = G_parent S (o - z)
    # needs no division. The records stream in order, prefetched AHEAD splits early.
    n = sent + LANES
    GH = _aligned_empty(n)
    R = _aligned_empty(n)
    D = _aligned_empty(n)
    O = np.empty(n // LANES)
    n_feat = out.shape[1] - 1
    acc = _aligned_empty(n_feat * LANES)
    xv = np.empty(XV * n_feat)
    O[sent // LANES] = 1.0
    vstore(R, sent, vsplat(1.0))
    vstore(D, sent, vsplat(0.0))
    one = vsplat(1.0)
    for r in range(X.shape[0]):
        _spread(X[r], xv)
        acc[:] = 0.0
        for task in range(tasks.shape[0] // 4):
            m0 = np.int64(get(tasks, 4 * task))
            m2 = np.int64(get(tasks, 4 * task + 1))
            m1 = np.int64(get(tasks, 4 * task + 2))
            rule = np.int64(get(tasks, 4 * task + 3))
            T = vload(rules, rule)
            vstore(GH, 0, vload(rules, rule + LANES))
            for m in range(m0, m2):
                bi = NI * m
                bf = NF * m
                prefetch(split_f, bf + AHEAD * NF)
                prefetch(split_i, bi + AHEAD * NI)
                q = np.int64(get(split_i, bi + I_PREV))
                o = get(O, q >> LANE_BITS)
                g = vmul(vload(GH, np.int64(get(split_i, bi + I_SELF))), vload(R, q))
                v = get(xv, get(split_i, bi + I_X))
                code = np.int64(get(split_i, bi + I_CAT))
                if code >= 0:
                    col = _category(v, width)
                    left = col >= 0 and get(cat_table, code * width + col)
                else:
                    left = v <= get(split_f, bf + F_THR)
                o_l = o * left
                o_r = o - o_l
                k = 2 * (m - m0) + 1
                lc = k * LANES
                rc = lc + LANES
                z_l = get(split_f, bf + F_Z_L)
                z_r = get(split_f, bf + F_Z_R)
                f_l = vfma(vsplat(o_l - z_l), T, vsplat(z_l))
                f_r = vfma(vsplat(o_r - z_r), T, vsplat(z_r))
                put(O, k, o_l)
                put(O, k + 1, o_r)
                vstore(GH, lc, vmul(vmul(g, vsplat(get(split_f, bf + F_S_L))), f_l))
                vstore(GH, rc, vmul(vmul(g, vsplat(get(split_f, bf + F_S_R))), f_r))
                r_l = vdiv(one, f_l)
                r_r = vdiv(one, f_r)
                vstore(R, lc, r_l)
                vstore(R, rc, r_r)
                vstore(D, lc, vmul(vsplat(o_l - z_l), r_l))
                vstore(D, rc, vmul(vsplat(o_r - z_r), r_r))
            for m in range(m2, m1):
                bi = NI * m
                bf = NF * m
                prefetch(split_f, bf + AHEAD * NF)
                prefetch(split_i, bi + AHEAD * NI)
                q = np.int64(get(split_i, bi + I_PREV))
                o = get(O, q >> LANE_BITS)
                s = np.int64(get(split_i, bi + I_SELF))
                g = vmul(vload(GH, s), vload(R, q))
                i = np.int64(get(split_i, bi + I_X))
                v = get(xv, i)
                code = np.int64(get(split_i, bi + I_CAT))
                if code >= 0:
                    col = _category(v, width)
                    left = col >= 0 and get(cat_table, code * width + col)
                else:
                    left = v <= get(split_f, bf + F_THR)
                o_l = o * left
                o_r = o - o_l
                z_l = get(split_f, bf + F_Z_L)
                z_r = get(split_f, bf + F_Z_R)
                s_l = get(split_f, bf + F_S_L)
                s_r = get(split_f, bf + F_S_R)
                h_l = vmul(g, _scaled_f(o_l, z_l, s_l, T))
                h_r = vmul(g, _scaled_f(o_r, z_r, s_r, T))
                h = vadd(h_l, h_r)
                vstore(GH, s, h)
                a = (i >> XV_BITS) * LANES
                credit = vfma(g, vsplat((o_l - z_l) * s_l + (o_r - z_r) * s_r), vload(acc, a))
                vstore(acc, a, vfma(vmul(vsplat(-1.0), h), vload(D, q), credit))
            for m in range(m2 - 1, m0 - 1, -1):
                bi = NI * m
                lc = (2 * (m - m0) + 1) * LANES
                rc = lc + LANES
                h_l = vload(GH, lc)
                h_r = vload(GH, rc)
                h = vadd(h_l, h_r)
                vstore(GH, np.int64(get(split_i, bi + I_SELF)), h)
                a = (np.int64(get(split_i, bi + I_X)) >> XV_BITS) * LANES
                credit = vfma(h_l, vload(D, lc), vfma(h_r, vload(D, rc), vload(acc, a)))
                d_q = vload(D, np.int64(get(split_i, bi + I_PREV)))
                vstore(acc, a, vfma(vmul(vsplat(-1.0), h), d_q, credit))
        phi = out[r]
        for c in range(n_feat):
            s = 0.0
            for k in range(LANES):
                s += acc[c * LANES + k]
            phi[c] = s
        phi[n_feat] = expected


def _aligned(a: np.ndarray) -> np.ndarray:
    """A float64 copy of `a`, flattened, starting on a cache line."""
    buf = np.empty(a.size + LANES)
    skip = (-buf.ctypes.data) % 64 // 8
    out = buf[skip:skip + a.size]
    out[:] = a.ravel()
    return out


def _rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1.0) / 2.0, w / 2.0


@dataclass(frozen=True)
class _Plan:
    """The kernel's row-independent inputs (see the I_* / F_* fields)."""

    split_i: np.ndarray    # int16 or int32 (splits * NI,)
    split_f: np.ndarray    # float64 (splits * NF,)
    nodes: np.ndarray      # int64 (splits,): each split's node in _Flat, for `decisions`
    cat_table: np.ndarray  # bool (categorical splits * cat_width,): does the category go left
    cat_width: int
    tasks: np.ndarray      # int32 (tasks * 4,): first split, first two-leaf split, end, offset in `rules`
    rules: np.ndarray      # float64: per quadrature rule and block of LANES nodes, t then its weights
    sent: int              # the sentinel's scratch offset (slot x LANES)


def _plan(f: _Flat) -> _Plan:
    """Lay the trees out for `_shap_rows`: split records in the order the kernel reads them, and
    each tree's quadrature rule."""
    n = len(f.feat)
    idx = np.arange(n)
    tree = np.repeat(np.arange(len(f.starts) - 1), np.diff(f.starts))
    child = f.parent >= 0
    par = np.maximum(f.parent, 0)
    right = np.full(n, -1, np.int64)
    is_right = child & (f.left[par] != idx)
    right[par[is_right]] = idx[is_right]
    depth = np.zeros(n, np.int64)
    for _ in range(n):  # a node's depth is final once its parent's is
        d = np.where(child, depth[par] + 1, 0)
        if np.array_equal(d, depth):
            break
        depth = d
    order = np.lexsort((idx, depth, tree))  # breadth-first inside each tree, trees in order

    # per tree: the splits with a split below (breadth-first), then those with two leaves
    splits = order[~f.is_leaf[order]]
    two_leaves = f.is_leaf[f.left[splits]] & f.is_leaf[right[splits]]
    splits = splits[np.lexsort((two_leaves, tree[splits]))]
    two_leaves = f.is_leaf[f.left[splits]] & f.is_leaf[right[splits]]
    s_tree = tree[splits]
    first = np.searchsorted(s_tree, np.arange(len(f.starts)))  # tree t's splits: first[t] .. first[t + 1] - 1
    lc, rc = f.left[splits].astype(np.int64), right[splits]
    local = np.arange(len(splits)) - first[s_tree]
    slot = np.zeros(n, np.int64)  # a node's scratch slot: 0 for a root, else its parent's child slot
    slot[lc], slot[rc] = 2 * local + 1, 2 * local + 2
    sent = 2 * int(np.max(np.diff(first), initial=0)) + 1  # the sentinel, after every tree's slots
    prev = f.prev_same[lc]  # the same for both children

    cat_nodes = np.flatnonzero(f.is_cat & ~f.is_leaf)
    width = int(f.cat_vals.max()) + 2 if len(cat_nodes) else 1
    cat_table = np.zeros((max(len(cat_nodes), 1), width), dtype=np.bool_)
    cat_row = np.full(n, -1, np.int64)
    for r, node in enumerate(cat_nodes):
        cat_table[r, f.cat_vals[f.cat_ptr[node]:f.cat_ptr[node + 1]]] = True
        cat_row[node] = r
    # missing type None compares NaN as 0.0; Zero sends zero and NaN the default way, NaN sends NaN
    way = np.where(f.missing == 0, 0.0 <= f.thr, np.where(f.missing == 1, 2 + f.default_left, f.default_left))
    split_i = np.empty((len(splits), NI), np.int64)
    split_i[:, I_SELF] = slot[splits] * LANES
    split_i[:, I_PREV] = np.where(prev >= 0, slot[np.maximum(prev, 0)], sent) * LANES
    split_i[:, I_X] = XV * f.feat[splits] + np.where(f.is_cat, 0, way)[splits]
    split_i[:, I_CAT] = cat_row[splits]
    small = split_i.size == 0 or (split_i.min() >= -2**15 and split_i.max() < 2**15)
    split_f = np.empty((len(splits), NF))
    split_f[:, F_THR] = f.thr[splits]
    split_f[:, F_Z_L], split_f[:, F_Z_R] = f.z_cum[lc], f.z_cum[rc]
    split_f[:, F_S_L] = np.where(f.is_leaf[lc], f.value[lc], 1.0)
    split_f[:, F_S_R] = np.where(f.is_leaf[rc], f.value[rc], 1.0)

    # A tree needing K quadrature nodes uses the ceil(K / LANES) * LANES rule, one task per LANES;
    # trees with the same rule share its blocks.
    n_rule = -(-f.n_quad // LANES) * LANES
    tasks, rules, block_at = [], [], {}
    for t in range(len(f.starts) - 1):
        m0, m1 = int(first[t]), int(first[t + 1])
        if m0 == m1:
            continue  # a single leaf credits no feature
        m2 = m1 - int(np.count_nonzero(two_leaves[m0:m1]))
        size = int(n_rule[t])
        if size not in block_at:
            nodes, weights = _rule(size)
            block_at[size] = 2 * LANES * len(rules)
            rules.extend(np.stack([nodes[k:k + LANES], weights[k:k + LANES]]) for k in range(0, size, LANES))
        tasks.extend((m0, m2, m1, block_at[size] + 2 * LANES * b) for b in range(size // LANES))
    return _Plan(split_i=split_i.ravel().astype(np.int16 if small else np.int32), split_f=split_f.ravel(),
                 nodes=splits, cat_table=cat_table.ravel(), cat_width=width,
                 tasks=np.asarray(tasks, np.int32).reshape(-1),
                 rules=_aligned(np.asarray(rules, np.float64) if rules else np.zeros(2 * LANES)),
                 sent=sent * LANES)


class TreeExplainer:
    """Exact SHAP contributions of a binary LightGBM booster, built for one row at a time.

    `contributions(X)` has `pred_contrib`'s layout: (n, n_columns + 1), the last column the expected
    value (raw log-odds), so `fraudcore.explain.field_contributions` consumes it unchanged.
    """

    def __init__(self, booster: lgb.Booster) -> None:
        dump = supported_dump(booster)
        self.n_columns = int(dump["max_feature_idx"]) + 1
        self._flat, self.expected_value = _flatten(dump)
        self._plan = _plan(self._flat)

    def decisions(self, X: np.ndarray) -> np.ndarray:
        """(n, nodes) booleans: would row r go left at node i (LightGBM's split rules)."""
        X = self._rows(X)
        p = self._plan
        goes = np.zeros((X.shape[0], len(self._flat.feat)), dtype=np.bool_)
        return _route(X, p.split_i, p.split_f, p.cat_table, p.cat_width, p.nodes, goes)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        X = self._rows(X)
        p = self._plan
        out = np.empty((X.shape[0], self.n_columns + 1))
        _shap_rows(X, p.split_i, p.split_f, p.cat_table, p.cat_width, p.tasks, p.rules, p.sent, self.expected_value,
                   out)
        return out

    def _rows(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_columns:
            raise ValueError(f"X must have shape (n, {self.n_columns}); got {X.shape}")
        return np.ascontiguousarray(X, dtype=np.float64)
