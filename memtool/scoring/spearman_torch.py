"""Spearman's rho and its percentile bootstrap in torch, batched over layers and resamples.

The numbers are those of :mod:`memtool.scoring.stats` (the numpy reference): average
ranks for ties, Pearson of the ranks, and bootstrap resamples that are the very index
draws of ``numpy.random.default_rng(seed).integers(0, n, (n_boot, n))``.

The bootstrap is computed from **counts** rather than from resampled values. For
resample b let ``c_b[j]`` be how often original image j was drawn. In a resample,
image j (drawn ``c_b[j]`` times) has the average rank
``R_b[j] = (#drawn strictly below it) + (#drawn equal to it + 1) / 2``, which, walking
the images in sorted order of their values, is a cumulative sum of ``c_b`` (tie groups
share their group's count). Spearman's rho of the resample is then

    sum_j c_b[j] (Rp_b[j] - m) (Ry_b[j] - m) / sqrt(sum_j c_b[j] (Rp_b[j] - m)² · (same for y))

with ``m = (n + 1) / 2`` the mean of any n average ranks. The counts and the human
scores' side ``c_b (Ry_b - m)`` depend only on the split (seed, test images), so they are
computed once and shared by every layer; per layer the work is one column gather of the
counts in the order of the layer's predictions, one cumulative sum and two weighted
sums. Ranks are half-integers and counts integers, so in float64 every sum is exact and
the replicate equals the reference to rounding of the final division.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from memtool.scoring.stats import _BLOCK_ENTRIES as _BOOT_BLOCK_ENTRIES

# Entries of one (images x resamples) block: small blocks stay in a CPU's cache.
_BLOCK = 1 << 16
_CACHE_SIZE = 16
_index_cache: OrderedDict = OrderedDict()
_boot_cache: OrderedDict = OrderedDict()


def _cached(cache: OrderedDict, key, make):
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = make()
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return hit


def boot_indices(seed, n: int, n_boot: int) -> torch.Tensor:
    """The (n_boot, n) resample indices that ``stats.bootstrap_spearman_replicates`` draws.

    Drawn block by block exactly as there (so the numbers are the same) and cached:
    every layer of a sweep reuses the draws of its splits.
    """
    return _cached(_index_cache, (repr(seed), int(n), int(n_boot)), lambda: _draw(seed, n, n_boot))


def _draw(seed, n: int, n_boot: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    block = max(1, _BOOT_BLOCK_ENTRIES // n)
    parts = [
        rng.integers(0, n, size=(min(n_boot, start + block) - start, n)) for start in range(0, n_boot, block)
    ]
    return torch.from_numpy(np.concatenate(parts, axis=0))


def rank_rows(v: torch.Tensor) -> torch.Tensor:
    """Average ranks (1-based, ties share the mean rank) along the last axis, batched.

    Equals ``scipy.stats.rankdata(v, axis=-1)``.
    """
    n = v.shape[-1]
    if n == 0:
        return v.clone()
    sorted_v, order = torch.sort(v, dim=-1, stable=True)
    start, end = _tie_bounds(sorted_v)
    ranks = torch.empty_like(sorted_v)
    ranks.scatter_(-1, order, (start + end).to(v.dtype) / 2.0 + 1.0)
    return ranks


def _tie_bounds(sorted_v: torch.Tensor):
    """First and last (0-based) position of each element's tie group in sorted rows."""
    n = sorted_v.shape[-1]
    pos = torch.arange(n, device=sorted_v.device).expand(sorted_v.shape)
    new = torch.ones(sorted_v.shape, dtype=torch.bool, device=sorted_v.device)
    new[..., 1:] = sorted_v[..., 1:] != sorted_v[..., :-1]
    start = torch.cummax(torch.where(new, pos, torch.zeros_like(pos)), dim=-1).values
    last = torch.ones_like(new)
    last[..., :-1] = new[..., 1:]
    end = torch.flip(
        torch.cummin(torch.flip(torch.where(last, pos, torch.full_like(pos, n)), [-1]), dim=-1).values, [-1]
    )
    return start, end


def dense_codes(v: torch.Tensor) -> torch.Tensor:
    """Position of each value among the sorted distinct values of its row (0-based), batched."""
    sorted_v, order = torch.sort(v, dim=-1)
    new = torch.zeros_like(sorted_v, dtype=torch.long)
    new[..., 1:] = (sorted_v[..., 1:] != sorted_v[..., :-1]).long()
    codes = torch.empty_like(order)
    codes.scatter_(-1, order, torch.cumsum(new, dim=-1))
    return codes


def resample_ranks(codes: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Average ranks within each resample of each row: ``rankdata(v[l][idx[b]])`` for all l, b.

    ``codes`` (L, n) are :func:`dense_codes` of the rows, ``idx`` (B, n) the resamples.
    """
    drawn = codes[:, idx]  # (L, B, n)
    counts = torch.zeros(drawn.shape, dtype=torch.float64, device=idx.device)
    counts.scatter_add_(
        -1, drawn, torch.ones((1, 1, 1), dtype=counts.dtype, device=idx.device).expand(drawn.shape)
    )
    avg = torch.cumsum(counts, dim=-1) - counts + (counts + 1.0) / 2.0
    return torch.gather(avg, -1, drawn)


def pearson_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson r along the last axis (broadcasting); NaN where either side is constant."""
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    num = (a * b).sum(dim=-1)
    den = torch.sqrt((a * a).sum(dim=-1) * (b * b).sum(dim=-1))
    return _ratio(num, den)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` clipped to [-1, 1], NaN where ``den`` is 0 (a constant side)."""
    r = torch.where(
        den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.full_like(den, float("nan"))
    )
    return r.clamp(-1.0, 1.0)


def spearman_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rho along the last axis; ``b`` broadcasts against ``a``."""
    if a.shape[-1] < 2:
        return torch.full(a.shape[:-1], float("nan"), dtype=a.dtype, device=a.device)
    return pearson_rows(rank_rows(a), rank_rows(b))


class _Order:
    """Sort order of one vector of values and, when it has ties, its tie-group bounds."""

    def __init__(self, v: torch.Tensor):
        sorted_v, self.order = torch.sort(v, stable=True)
        self.ties = bool((sorted_v[1:] == sorted_v[:-1]).any()) if v.numel() > 1 else False
        self.start = self.end = None
        if self.ties:
            self.start, self.end = _tie_bounds(sorted_v)

    def ranks(self, counts: torch.Tensor) -> torch.Tensor:
        """Average ranks of every image in each resample, in sorted order: ``counts``
        (n, resamples) holds the draws per image, rows already in sorted order."""
        cum = torch.cumsum(counts, dim=0)
        if not self.ties:  # (cum - c) + (c + 1) / 2
            return cum.sub_(counts, alpha=0.5).add_(0.5)
        below = cum - counts
        return (below.index_select(0, self.start) + cum.index_select(0, self.end) + 1.0) / 2.0


class _Bootstrap:
    """Resamples of one split's test images, shared by every layer scored on it.

    Held as column blocks of (2, images, resamples): per image the draw counts and the
    human scores' side ``c (Ry - m)``, so a layer's sort order gathers whole rows.

    When a layer's predictions have no ties, the tie groups of a resample are the images
    drawn more than once, so the sum of squared rank deviations is the same for every
    such layer, ``(n³ - n)/12 - sum_j (c_j³ - c_j)/12``; and with ``Rp = cum - c/2 + 1/2``
    (``cum`` the running count in prediction order) and ``sum_j c_j (Ry_j - m) = 0`` the
    numerator is ``sum_j w_j cum_j - (1/2) sum_j w_j c_j``, whose second term does not
    depend on the order either. A layer then costs one gather, one cumulative sum and
    one weighted sum per block.
    """

    def __init__(self, y_test: torch.Tensor, seed, n_boot: int):
        n = y_test.shape[0]
        self.n, self.n_boot, self.dtype = n, n_boot, y_test.dtype
        self.ok = n >= 2 and n_boot >= 1
        if not self.ok:
            return
        dev = y_test.device
        idx = _draw(seed, n, n_boot).to(dev)  # the counts replace the draws: not kept
        counts = torch.zeros((n_boot, n), dtype=y_test.dtype, device=dev)
        counts.scatter_add_(1, idx, torch.ones((1, 1), dtype=counts.dtype, device=dev).expand(idx.shape))
        del idx
        self.m = (n + 1) / 2.0
        # sum of squared rank deviations of a resample of tie-free values
        self.ss_free = ((n**3 - n) - (counts**3 - counts).sum(dim=1)) / 12.0
        y_order = _Order(y_test)
        step = max(1, min(n_boot, _BLOCK // n))
        self.blocks, y_ss, wc = [], [], []
        for b0 in range(0, n_boot, step):
            c = counts[b0 : b0 + step].T.contiguous()  # (n, b)
            ry = torch.empty_like(c).index_copy_(
                0, y_order.order, y_order.ranks(c.index_select(0, y_order.order))
            )
            ry -= self.m
            block = torch.stack([c, c * ry])  # (2, n, b)
            y_ss.append((block[1] * ry).sum(dim=0))
            wc.append((block[1] * c).sum(dim=0))
            self.blocks.append(block)
        self.y_ss, self.wc = torch.cat(y_ss), torch.cat(wc)

    def replicates(self, pred: torch.Tensor) -> torch.Tensor:
        """Bootstrap Spearman rho of each row of ``pred`` (L, n): shape (L, n_boot)."""
        L = pred.shape[0]
        out = torch.full((L, self.n_boot), float("nan"), dtype=pred.dtype, device=pred.device)
        if not self.ok:
            return out
        nm2 = self.n * self.m * self.m
        for layer in range(L):
            o = _Order(pred[layer].to(self.dtype))
            b0 = 0
            for block in self.blocks:
                g = block.index_select(1, o.order)
                c, w = g[0], g[1]
                b1 = b0 + c.shape[1]
                if o.ties:
                    rp = o.ranks(c)
                    num = (w * rp).sum(dim=0)
                    ss = (c * rp * rp).sum(dim=0) - nm2  # sum c (Rp - m)², exact in float64
                else:
                    num = (w * torch.cumsum(c, dim=0)).sum(dim=0) - 0.5 * self.wc[b0:b1]
                    ss = self.ss_free[b0:b1]
                den = torch.sqrt(ss.clamp_min(0.0) * self.y_ss[b0:b1])
                out[layer, b0:b1] = _ratio(num, den).to(pred.dtype)
                b0 = b1
        return out


def bootstrap(y_test: torch.Tensor, seed, n_boot: int) -> _Bootstrap:
    """The split's :class:`_Bootstrap`, cached: every layer scored on a split shares it."""
    key = (
        repr(seed),
        int(n_boot),
        str(y_test.device),
        str(y_test.dtype),
        y_test.detach().cpu().numpy().tobytes(),
    )
    return _cached(_boot_cache, key, lambda: _Bootstrap(y_test, seed, n_boot))
