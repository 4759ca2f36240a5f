"""brainscore's regressions (scikit-learn PLS and Ridge) in torch, batched over splits.

The torch fits:

* :func:`pls_fit` reproduces scikit-learn's ``PLSRegression`` (NIPALS, regression
  deflation, ``scale=False``). NIPALS' inner loop is a power iteration on
  ``C Cᵀ`` with ``C = Xₖᵀ Yₖ``, started from ``C``'s first non-zero column and stopped
  by the same rule (squared change of the weights < ``tol``, at most ``max_iter``
  steps), so the fit follows scikit-learn's iterates, including where they stop short
  of the exact singular vector. The iteration runs in the smaller of the two spaces
  (``Cᵀ C`` when there are fewer neuroids than features), and the cross-covariance is
  deflated as ``Cₖ₊₁ = Cₖ - (tᵀt) p qᵀ``, which equals ``Xₖ₊₁ᵀ Yₖ₊₁``.
* :func:`ridge_fit` is scikit-learn's ``Ridge(alpha, fit_intercept=True)``: centred
  data, ``(XᵀX + a I)⁻¹ XᵀY`` (or its dual form when there are fewer images than
  features).

Both are float64 on the CPU; on CUDA they run in float64 as well (PLS deflation is not
stable enough in float32 to promise brainscore's numbers).
"""

from __future__ import annotations

import numpy as np
import torch


def gram(A: torch.Tensor, rows: bool = False) -> torch.Tensor:
    """``AᵀA`` (or ``AAᵀ`` with ``rows``) of a 2-D tensor: numpy's symmetric rank-k BLAS
    call on the CPU (half the work of torch's general product), torch's product elsewhere."""
    if A.device.type == "cpu":
        a = np.asarray(A.detach().numpy())
        return torch.from_numpy(a @ a.T if rows else a.T @ a)
    return A @ A.T if rows else A.T @ A


def pls_fit(X: torch.Tensor, Y: torch.Tensor, n_components: int = 25, max_iter: int = 500, tol: float = 1e-6):
    """Batched PLS regression: ``X`` (S, n, d), ``Y`` (S, n, m) -> (coef (S, d, m),
    x_mean (S, d), y_mean (S, m)); predictions are ``(X' - x_mean) @ coef + y_mean``."""
    S, n, d = X.shape
    m = Y.shape[2]
    dtype, dev = X.dtype, X.device
    eps = torch.finfo(dtype).eps
    x_mean = X.mean(dim=1)
    y_mean = Y.mean(dim=1)
    X0 = X - x_mean[:, None, :]
    Yk = Y - y_mean[:, None, :]
    C = X0.transpose(1, 2) @ Yk  # (S, d, m) = Xkᵀ Yk, deflated alongside
    W = torch.zeros((S, d, n_components), dtype=dtype, device=dev)
    P = torch.zeros_like(W)
    Q = torch.zeros((S, m, n_components), dtype=dtype, device=dev)
    T = torch.zeros((S, n, n_components), dtype=dtype, device=dev)
    active = torch.ones(S, dtype=torch.bool, device=dev)  # False once Y's residual is constant
    for k in range(n_components):
        # scikit-learn zeroes residual columns that are all ~0 and starts its power
        # iteration from the first column that is not
        absmax = Yk.abs().amax(dim=1)  # (S, m)
        y_nonzero = absmax > 10 * eps
        if not bool(y_nonzero.all()):
            Yk = torch.where(y_nonzero[:, None, :], Yk, torch.zeros_like(Yk))
            C = torch.where(y_nonzero[:, None, :], C, torch.zeros_like(C))
        start_ok = y_nonzero & (absmax > eps)
        active = active & start_ok.any(dim=1)
        if not bool(active.any()):
            break
        first = torch.argmax(start_ok.to(torch.int8), dim=1)
        w = nipals_weights(C, first, max_iter, tol)
        # t = Xk w with Xk = X0 - T Pᵀ, without forming Xk
        t = (X0 @ w[:, :, None])[:, :, 0] - (T @ (P.transpose(1, 2) @ w[:, :, None]))[:, :, 0]
        tt = (t * t).sum(dim=1)
        tt_safe = torch.where(tt > 0, tt, torch.ones_like(tt))
        Tt = T.transpose(1, 2) @ t[:, :, None]  # ~0: earlier scores are orthogonal to t
        # row-vector products (tᵀ X0) are much quicker than transposed batched products
        p = ((t[:, None, :] @ X0)[:, 0, :] - (P @ Tt)[:, :, 0]) / tt_safe[:, None]
        q = (t[:, None, :] @ Yk)[:, 0, :] / tt_safe[:, None]
        keep = active[:, None]
        w, p, q, t = (torch.where(keep, v, torch.zeros_like(v)) for v in (w, p, q, t))
        tt = torch.where(active, tt, torch.zeros_like(tt))
        Yk = Yk - t[:, :, None] * q[:, None, :]
        C = C - tt[:, None, None] * p[:, :, None] * q[:, None, :]
        W[:, :, k], P[:, :, k], Q[:, :, k], T[:, :, k] = w, p, q, t
    rotations = W @ torch.linalg.pinv(P.transpose(1, 2) @ W)
    coef = rotations @ Q.transpose(1, 2)
    return coef, x_mean, y_mean


def nipals_weights(
    C: torch.Tensor, first: torch.Tensor, max_iter: int = 500, tol: float = 1e-6
) -> torch.Tensor:
    """The x-weights scikit-learn's NIPALS returns for cross-covariances ``C`` (S, d, m).

    Its loop (``_get_first_singular_vectors_power_method``, mode A) is the power
    iteration ``w_1 = C e / |C e|`` (e: the first non-zero column), ``w_i ∝ C Cᵀ w_(i-1)``,
    stopped at the first i with ``|w_i - w_(i-1)|² < tol`` (after one step if Y has one
    column; at ``max_iter`` at the latest). In the eigenbasis of the small Gram matrix
    every iterate and every step's change is a closed-form sum of powers of its
    eigenvalues, so all ``max_iter`` steps are evaluated at once and the returned vector
    is scikit-learn's iterate at its stopping step.
    """
    S, d, m = C.shape
    dtype = C.dtype
    eps = torch.finfo(dtype).eps
    batch = torch.arange(S, device=C.device)
    w1 = C[batch, :, first]
    if m == 1 or max_iter <= 1:
        return w1 / (torch.linalg.vector_norm(w1, dim=1, keepdim=True) + eps)
    if m <= d:
        # w_i ∝ C z_i with z_i = A^(i-1) e, A = CᵀC = E diag(lam) Eᵀ; c = Eᵀ e.
        # w_iᵀ w_k ∝ sum_j c_j² lam_j^(i+k-1)
        lam, E = torch.linalg.eigh(C.transpose(1, 2) @ C)
        c = E[batch, first, :]  # (S, m): row `first` of E = Eᵀ e
        offset = -1.0  # exponent of lam in |w_i|^2 is 2i - 1
    else:
        # w_i ∝ B^(i-1) w_1, B = C Cᵀ = E diag(lam) Eᵀ; c = Eᵀ w_1; w_iᵀ w_k ∝ sum c² lam^(i+k-2)
        lam, E = torch.linalg.eigh(C @ C.transpose(1, 2))
        c = (E.transpose(1, 2) @ w1[:, :, None])[:, :, 0]
        offset = -2.0
    coef = _nipals_coefficients(lam, c, offset, max_iter, tol)
    if m <= d:
        w = C @ (E @ coef[:, :, None])
        w = w[:, :, 0]
    else:
        w = (E @ coef[:, :, None])[:, :, 0]
    return w / (torch.linalg.vector_norm(w, dim=1, keepdim=True) + eps)


def _nipals_coefficients(
    lam: torch.Tensor, c: torch.Tensor, offset: float, max_iter: int, tol: float
) -> torch.Tensor:
    """Eigen-coefficients ``c * rel^(i - 1)`` of scikit-learn's NIPALS iterate at its stop.

    ``lam`` (S, r): eigenvalues of the Gram matrix the iteration powers; ``c`` (S, r):
    the start vector in its eigenbasis; ``offset``: the exponent of ``lam`` in
    ``|w_i|² = sum c² lam^(2i + offset)``. The first i in 2..max_iter whose step
    ``|w_i - w_(i-1)|² = 2 - 2 cos`` is below ``tol`` (else max_iter) is found by
    evaluating the steps in growing chunks.
    """
    S = lam.shape[0]
    dtype, dev = lam.dtype, lam.device
    steps = torch.arange(1, max_iter + 1, device=dev, dtype=dtype)  # i = 1..max_iter
    top = lam.max(dim=1, keepdim=True).values
    rel = (lam / torch.where(top > 0, top, torch.ones_like(top))).clamp_min(0.0)  # (S, r)
    c2 = c * c
    log_rel = torch.log(rel)  # -inf for null directions: exp(p * -inf) = 0 for p > 0

    stop_i = torch.full((S,), float(max_iter), dtype=dtype, device=dev)
    found = torch.zeros(S, dtype=torch.bool, device=dev)
    lo = 2
    while lo <= max_iter and not bool(found.all()):
        # steps i = lo..hi: |w_i|² = G(2i + offset), w_iᵀ w_(i-1) = G(2i - 1 + offset)
        hi = min(max_iter, max(lo + 15, 4 * lo))
        i = steps[lo - 1 : hi]
        # g[:, k] = sum_j c2_j rel_j^(p0 + k): consecutive powers by a running product
        # (relative error ~ k eps) rather than one exp per entry; 0^0 = 1 as for pow
        p0, P = 2 * lo - 2 + int(offset), 2 * (hi - lo) + 3
        R = torch.cumprod(rel[:, None, :].expand(S, P, -1), dim=1)  # rel^1 .. rel^P
        if p0 >= 1:
            g = torch.bmm(R, (c2 * rel.pow(p0 - 1))[:, :, None])[:, :, 0]  # (S, P)
        else:  # p0 = 0: the first power is rel^0 = 1
            g = torch.cat([c2.sum(dim=1, keepdim=True), torch.bmm(R[:, :-1], c2[:, :, None])[:, :, 0]], dim=1)
        base = 2 * (i - lo).long()
        norm_prev, cross, norm_i = g[:, base], g[:, base + 1], g[:, base + 2]
        den = torch.sqrt(norm_i * norm_prev)
        cos = torch.where(
            den > 0, cross / torch.where(den > 0, den, torch.ones_like(den)), torch.ones_like(den)
        )
        converged = (2.0 - 2.0 * cos) < tol
        hit = converged.any(dim=1) & ~found
        first_hit = i[torch.argmax(converged.to(torch.int8), dim=1)]
        stop_i = torch.where(hit, first_hit, stop_i)
        found = found | hit
        lo = hi + 1
    return c * torch.exp((stop_i - 1)[:, None] * log_rel).nan_to_num(nan=1.0)


def centred_kernels(G: torch.Tensor, train: torch.Tensor, test: torch.Tensor):
    """Train and test kernels of each split from one Gram matrix of all images.

    ``G = Xg Xgᵀ`` for features shifted by any common vector. With ``X0`` a split's train
    rows centred on their own mean: ``K0 = X0 X0ᵀ = (I - J) G_tr,tr (I - J)`` and
    ``K_te = (X_te - mean_tr) X0ᵀ = (G_te,tr - 1 (1ᵀ G_tr,tr) / n) (I - J)``, so one
    product of all images serves all splits.
    """
    Gtt = G[train[:, :, None], train[:, None, :]]  # (S, n, n)
    Gte = G[test[:, :, None], train[:, None, :]]  # (S, n_te, n)
    col = Gtt.mean(dim=1, keepdim=True)  # (S, 1, n): 1ᵀ G / n
    Gte = Gte - col
    K_te = Gte - Gte.mean(dim=2, keepdim=True)
    K0 = Gtt - col
    K0 = K0 - K0.mean(dim=2, keepdim=True)
    return K0, K_te


class _SplitGram:
    """Products with each split's centred train kernel ``K0 = (I - J) G_tr,tr (I - J)``
    and test kernel, through the one (N, N) Gram matrix ``G`` of all images: the split's
    vectors are scattered into image space, multiplied by ``G`` (small enough to stay in
    cache) and gathered back, instead of holding S kernels of n x n."""

    def __init__(self, G: torch.Tensor, train: torch.Tensor, test: torch.Tensor):
        self.G, self.train, self.test = G, train, test
        self.S, self.n = train.shape
        self.N = G.shape[0]

    def _scatter(self, V):  # (S, n, c) -> (S, N, c), zero off the train rows
        full = torch.zeros((self.S, self.N, V.shape[2]), dtype=V.dtype, device=V.device)
        return full.scatter_(1, self.train[:, :, None].expand(-1, -1, V.shape[2]), V)

    def _times_G(self, F):  # G F for (S, N, c) F, as one (N, N) x (N, S c) product
        S, N, c = F.shape
        out = self.G @ F.permute(1, 0, 2).reshape(N, S * c)
        return out.reshape(N, S, c).permute(1, 0, 2)

    def _gather(self, F, rows):  # (S, N, c) -> (S, len(rows), c)
        return torch.gather(F, 1, rows[:, :, None].expand(-1, -1, F.shape[2]))

    def train_apply(self, V):
        """K0 V for (S, n, c) V."""
        Vc = V - V.mean(dim=1, keepdim=True)
        out = self._gather(self._times_G(self._scatter(Vc)), self.train)
        return out - out.mean(dim=1, keepdim=True)

    def test_apply(self, V):
        """K_te V = (X_te - mean_tr) X0ᵀ V for (S, n, c) V."""
        Vc = V - V.mean(dim=1, keepdim=True)
        F = self._times_G(self._scatter(Vc))  # G[:, tr] Vc
        # (G_te,tr - 1 colᵀ) Vc with colᵀ Vc = mean over train rows of G_tr,tr Vc
        return self._gather(F, self.test) - self._gather(F, self.train).mean(dim=1, keepdim=True)


def pls_predict_kernel(
    gram: _SplitGram, Y: torch.Tensor, n_components: int = 25, max_iter: int = 500, tol: float = 1e-6
) -> torch.Tensor:
    """:func:`pls_fit` + predict in kernel form, for splits with fewer images than features.

    Every quantity of scikit-learn's fit is expressed through the centred train kernel
    ``K0`` instead of the (S, n, d) features: ``Xk = Dk X0`` with the deflation projector
    ``Dk = I - T (TᵀT)⁻¹ Tᵀ``; the NIPALS Gram ``CᵀC = Ykᵀ Kk Yk`` (m x m) is deflated
    in closed form; the x-weights are ``w = Xkᵀ a`` for an n-vector ``a``;
    ``PᵀW = diag(1/tᵀt) Tᵀ K0 Ã``; predictions ``K_te Ã (PᵀW)⁺ Qᵀ + y_mean``.
    Returns the (S, n_te, m) predictions.
    """
    S, n = gram.S, gram.n
    m = Y.shape[2]
    dtype, dev = Y.dtype, Y.device
    eps = torch.finfo(dtype).eps
    y_mean = Y.mean(dim=1)
    Yk = Y - y_mean[:, None, :]
    Gc = Yk.transpose(1, 2) @ gram.train_apply(Yk)  # (S, m, m) = CᵀC
    T = torch.zeros((S, n, n_components), dtype=dtype, device=dev)
    A = torch.zeros_like(T)  # Ã: W = X0ᵀ Ã
    Q = torch.zeros((S, m, n_components), dtype=dtype, device=dev)
    inv_tt = torch.zeros((S, n_components), dtype=dtype, device=dev)
    active = torch.ones(S, dtype=torch.bool, device=dev)
    batch = torch.arange(S, device=dev)

    def deflate(v):  # Dk v for (S, n) vectors
        return v - (T @ ((T.transpose(1, 2) @ v[:, :, None])[:, :, 0] * inv_tt)[:, :, None])[:, :, 0]

    def kernel(v):  # Kk v = Dk K0 Dk v
        return deflate(gram.train_apply(deflate(v)[:, :, None])[:, :, 0])

    # squared column norms of Yk, tracked through the deflation (|y - t q|² = |y|² - tt q²):
    # a column whose norm is far above its rounding error and above n (10 eps)² has an
    # entry above 10 eps, so scikit-learn's test for vanished columns needs no pass over Yk
    norm2 = (Yk * Yk).sum(dim=1)
    floor = torch.maximum(1e-8 * norm2, torch.full_like(norm2, 200 * n * eps * eps))
    zero = torch.zeros(S, dtype=torch.long, device=dev)
    for k in range(n_components):
        if bool((norm2 > floor).all()):
            first = zero  # every column non-zero: start from the first
        else:
            absmax = Yk.abs().amax(dim=1)
            y_nonzero = absmax > 10 * eps
            if not bool(y_nonzero.all()):
                keep = y_nonzero.to(dtype)
                Yk = Yk * keep[:, None, :]
                Gc = Gc * keep[:, :, None] * keep[:, None, :]
                norm2 = norm2 * keep
            start_ok = y_nonzero & (absmax > eps)
            active = active & start_ok.any(dim=1)
            if not bool(active.any()):
                break
            first = torch.argmax(start_ok.to(torch.int8), dim=1)
        if m == 1 or max_iter <= 1:
            a = Yk[batch, :, first]  # w_1 = C e = Xkᵀ Yk e
        else:
            lam, E = torch.linalg.eigh(Gc)
            coef = _nipals_coefficients(lam, E[batch, first, :], -1.0, max_iter, tol)
            a = (Yk @ (E @ coef[:, :, None]))[:, :, 0]
        Ka = kernel(a)
        wnorm = torch.sqrt((a * Ka).sum(dim=1).clamp_min(0.0)) + eps  # |w| = |Xkᵀ a|
        t = Ka / wnorm[:, None]  # t = Xk w
        tt = (t * t).sum(dim=1)
        ok = active & (tt > 0)
        tt_safe = torch.where(ok, tt, torch.ones_like(tt))
        Kt = kernel(t)
        uv = Yk.transpose(1, 2) @ torch.stack([t, Kt], dim=2)  # (S, m, 2)
        u, v = uv[:, :, 0], uv[:, :, 1]  # Ykᵀ t and Ykᵀ Kk t
        q = u / tt_safe[:, None]
        s_ = (t * Kt).sum(dim=1)
        okf = ok.to(dtype)
        Gc = Gc - okf[:, None, None] * (
            (u[:, :, None] * v[:, None, :] + v[:, :, None] * u[:, None, :]) / tt_safe[:, None, None]
            - u[:, :, None] * u[:, None, :] * (s_ / tt_safe**2)[:, None, None]
        )
        Yk.baddbmm_((okf[:, None] * t)[:, :, None], q[:, None, :], alpha=-1.0)
        norm2 = norm2 - okf[:, None] * tt_safe[:, None] * q * q
        A[:, :, k] = okf[:, None] * deflate(a) / wnorm[:, None]
        T[:, :, k] = okf[:, None] * t
        Q[:, :, k] = okf[:, None] * q
        inv_tt[:, k] = okf / tt_safe
    PtW = inv_tt[:, :, None] * (T.transpose(1, 2) @ gram.train_apply(A))  # (S, k, k) = PᵀW
    dual = A @ (torch.linalg.pinv(PtW) @ Q.transpose(1, 2))  # (S, n, m): coef = X0ᵀ dual
    return gram.test_apply(dual) + y_mean[:, None, :]


def ridge_fit(X: torch.Tensor, Y: torch.Tensor, alpha: float = 1.0):
    """Batched ``Ridge(alpha, fit_intercept=True)``: (coef (S, d, m), x_mean, y_mean)."""
    _, n, d = X.shape
    x_mean = X.mean(dim=1)
    y_mean = Y.mean(dim=1)
    Xc = X - x_mean[:, None, :]
    Yc = Y - y_mean[:, None, :]
    if n < d:
        K = Xc @ Xc.transpose(1, 2)
        K = K + alpha * torch.eye(n, dtype=X.dtype, device=X.device)
        coef = Xc.transpose(1, 2) @ torch.linalg.solve(K, Yc)
    else:
        G = Xc.transpose(1, 2) @ Xc + alpha * torch.eye(d, dtype=X.dtype, device=X.device)
        coef = torch.cholesky_solve(Xc.transpose(1, 2) @ Yc, torch.linalg.cholesky(G))
    return coef, x_mean, y_mean
