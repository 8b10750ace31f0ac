//! The decompositions of `ops::linalg`, each on a batch of matrices (the last two axes)
//! of float32 or float64: LU, Cholesky, QR, SVD, symmetric and general eigen, inverse
//! (general or triangular) and determinant. Kernels in `backend/cpu/linalg.rs`.
//!
//! The derivative rules are built from ops (and these primitives), so they differentiate
//! again. Each primitive is batched already, so its vmap rule moves the batch axis to the
//! front and applies itself.

use crate::array::{Array, Data};
use crate::backend::cpu::linalg::{self as k, Input};
use crate::dtype::Dtype;
use crate::primitive::{Batched, EvalContext, Primitive};
use crate::transforms::vmap::{all_to_front, with_batch};
use crate::{ops, Error, Result};

/// The input of a kernel and fresh outputs of the node's shapes and dtypes.
fn setup(inputs: &[Array], ctx: &EvalContext) -> Result<(Data, Vec<Data>)> {
    let a = inputs[0].data()?;
    let outs = ctx
        .outputs
        .iter()
        .map(|(s, d)| Data::alloc(s, *d))
        .collect::<Result<Vec<_>>>()?;
    Ok((a, outs))
}

/// Runs `$body` with `$T` the Rust type of the float32/float64 input.
macro_rules! real_dispatch {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            Dtype::Float32 => {
                type $T = f32;
                $body
            }
            Dtype::Float64 => {
                type $T = f64;
                $body
            }
            d => Err(Error::Invalid(format!(
                "[linalg] Arrays must have type float32 or float64. Received array with type {d}."
            ))),
        }
    };
}

/// The vmap rule shared by all: batch to the front, the same primitive on the batch.
fn vmap_front(
    prim: impl Primitive + 'static,
    inputs: &[Array],
    axes: &[Option<usize>],
    outs: &[Array],
) -> Result<Batched> {
    let xs = all_to_front(inputs, axes)?;
    let n = xs[0].shape()[0];
    let shapes = outs
        .iter()
        .map(|o| (with_batch(o.shape(), 0, n), o.dtype()))
        .collect();
    let arrays = Array::from_multi_op(shapes, prim, xs, ops::stream());
    let k = arrays.len();
    Ok((arrays, vec![Some(0); k]))
}

/// The matrix transpose of the last two axes.
pub(crate) fn mt(x: &Array) -> Result<Array> {
    ops::swapaxes(x, -1, -2)
}

/// `x` with two trailing unit axes, to scale a batch of matrices.
fn scalar_per_matrix(x: &Array) -> Result<Array> {
    ops::expand_dims(x, &[-1, -2])
}

/// The inverse node of `a` (general, or of its lower/upper triangle).
pub(crate) fn inverse_of(a: &Array, tri: Option<bool>) -> Array {
    Array::from_op(
        a.shape().to_vec(),
        a.dtype(),
        Inverse { tri },
        vec![a.clone()],
        ops::stream(),
    )
}

/// The first `k` entries of `x` along `axis`.
fn leading(x: &Array, axis: usize, k: usize) -> Result<Array> {
    let nd = x.ndim();
    let mut stop: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
    stop[axis] = k as isize;
    ops::slice(x, &vec![0; nd], &stop, &vec![1; nd])
}

/// `0.5 (x + xᵀ)`.
fn sym(x: &Array) -> Result<Array> {
    ops::multiply(&ops::add(x, &mt(x)?)?, 0.5)
}

/// `[i != j] / (w_j - w_i)` for a batch of `w` of shape `(.., n)`: the factor of the
/// eigenvector (and singular vector) derivatives.
fn gap_factor(w: &Array) -> Result<Array> {
    let wi = ops::expand_dims(w, &[-1])?;
    let wj = ops::expand_dims(w, &[-2])?;
    let n = w.shape()[w.ndim() - 1];
    let off = ops::subtract(1.0, &ops::eye(n, None, 0, Some(w.dtype()))?)?;
    let d = ops::subtract(&wj, &wi)?;
    // The diagonal divides by 1 instead of 0, then is zeroed.
    let safe = ops::add(&d, &ops::eye(n, None, 0, Some(w.dtype()))?)?;
    ops::multiply(&off, &ops::reciprocal(&safe)?)
}

// ---- LU --------------------------------------------------------------------------------

/// LU with partial pivoting: outputs the packed factors, LAPACK's pivots and the row
/// permutation (`A = L[perm] @ U`). Not differentiable (as in MLX).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Lu;

impl Primitive for Lu {
    crate::exportable!(Lu);

    fn name(&self) -> &'static str {
        "LUF"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, outs) = setup(inputs, ctx)?;
        let inp = Input {
            data: &a,
            shape: inputs[0].shape(),
        };
        real_dispatch!(inputs[0].dtype(), T => k::lu::<T>(&inp, &outs[0], &outs[1], &outs[2]))?;
        Ok(outs)
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        vmap_front(Lu, inputs, axes, out)
    }
}

// ---- Cholesky --------------------------------------------------------------------------

/// Cholesky factor, lower (or upper) triangular, of symmetric positive-definite matrices.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Cholesky {
    pub upper: bool,
}

/// The lower triangle with its diagonal halved.
fn phi(x: &Array) -> Result<Array> {
    let n = x.shape()[x.ndim() - 1];
    let half = ops::multiply(&ops::eye(n, None, 0, Some(x.dtype()))?, 0.5)?;
    ops::subtract(&ops::tril(x, 0)?, &ops::multiply(x, &half)?)
}

impl Primitive for Cholesky {
    crate::exportable!(Cholesky);

    fn name(&self) -> &'static str {
        "Cholesky"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, outs) = setup(inputs, ctx)?;
        let inp = Input {
            data: &a,
            shape: inputs[0].shape(),
        };
        real_dispatch!(inputs[0].dtype(), T => k::cholesky::<T>(&inp, self.upper, &outs[0]))?;
        Ok(outs)
    }
    // With L the lower factor (Lᵀ when upper): Ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹), the gradient
    // with respect to a symmetric A (Murray 2016).
    fn vjp(&self, _: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let (l, lbar) = if self.upper {
            (mt(&out[0])?, mt(&cot[0])?)
        } else {
            (out[0].clone(), cot[0].clone())
        };
        let linv = inverse_of(&l, Some(false));
        let p = phi(&ops::matmul(&mt(&l)?, &lbar)?)?;
        let s = ops::matmul(&ops::matmul(&mt(&linv)?, &p)?, &linv)?;
        Ok(vec![sym(&s)?])
    }
    // L̇ = L Φ(L⁻¹ sym(Ȧ) L⁻ᵀ).
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let l = if self.upper {
            mt(&out[0])?
        } else {
            out[0].clone()
        };
        let linv = inverse_of(&l, Some(false));
        let inner = ops::matmul(&ops::matmul(&linv, &sym(&tan[0])?)?, &mt(&linv)?)?;
        let dl = ops::matmul(&l, &phi(&inner)?)?;
        Ok(vec![if self.upper { mt(&dl)? } else { dl }])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        vmap_front(self.clone(), inputs, axes, out)
    }
}

// ---- QR --------------------------------------------------------------------------------

/// Reduced QR: Q `(m, k)`, R `(k, n)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Qr;

/// The symmetric matrix whose lower triangle is that of `x`.
fn copyltu(x: &Array) -> Result<Array> {
    let low = ops::tril(x, -1)?;
    ops::add(
        &ops::add(&low, &mt(&low)?)?,
        &ops::subtract(x, &ops::add(&low, &ops::triu(x, 1)?)?)?,
    )
}

impl Primitive for Qr {
    crate::exportable!(Qr);

    fn name(&self) -> &'static str {
        "QRF"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, outs) = setup(inputs, ctx)?;
        let inp = Input {
            data: &a,
            shape: inputs[0].shape(),
        };
        real_dispatch!(inputs[0].dtype(), T => k::qr::<T>(&inp, &outs[0], &outs[1]))?;
        Ok(outs)
    }
    // For m >= n (Walter & Lehmann; Liao et al. 2019): M = R R̄ᵀ - Q̄ᵀ Q,
    // Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ. For m < n, A = [X | Y] with X = Q R₁ square and
    // Y = Q R₂ (Liao et al. 2019, section 3.2): Ȳ = Q R̄₂ and X̄ is the square rule
    // with Q̄ + Y R̄₂ᵀ for Q̄ and R̄₁ for R̄.
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let nd = p[0].ndim();
        let (m, n) = (p[0].shape()[nd - 2], p[0].shape()[nd - 1]);
        // A new node: an output the caller dropped reaches the rule as zeros.
        let _ = out;
        let o = Array::from_multi_op(
            vec![
                (out[0].shape().to_vec(), out[0].dtype()),
                (out[1].shape().to_vec(), out[1].dtype()),
            ],
            Qr,
            vec![p[0].clone()],
            ops::stream(),
        );
        let (q, r) = (&o[0], &o[1]);
        let (qbar, rbar) = (&cot[0], &cot[1]);
        // The square rule for Q (m, k), R (k, k) upper triangular.
        let square = |qbar: &Array, r: &Array, rbar: &Array| -> Result<Array> {
            let mm = ops::subtract(&ops::matmul(r, &mt(rbar)?)?, &ops::matmul(&mt(qbar)?, q)?)?;
            let b = ops::add(qbar, &ops::matmul(q, &copyltu(&mm)?)?)?;
            let rinv = inverse_of(r, Some(true));
            ops::matmul(&b, &mt(&rinv)?)
        };
        if m >= n {
            return Ok(vec![square(qbar, r, rbar)?]);
        }
        let cols = |x: &Array, lo: usize, hi: usize| -> Result<Array> {
            let mut start = vec![0isize; nd];
            let mut stop: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
            start[nd - 1] = lo as isize;
            stop[nd - 1] = hi as isize;
            ops::slice(x, &start, &stop, &vec![1; nd])
        };
        let r1 = cols(r, 0, m)?;
        let (rbar1, rbar2) = (cols(rbar, 0, m)?, cols(rbar, m, n)?);
        let y = cols(&p[0], m, n)?;
        let qbar_x = ops::add(qbar, &ops::matmul(&y, &mt(&rbar2)?)?)?;
        let xbar = square(&qbar_x, &r1, &rbar1)?;
        let ybar = ops::matmul(q, &rbar2)?;
        Ok(vec![ops::concatenate(&[xbar, ybar], Some(-1))?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        vmap_front(Qr, inputs, axes, out)
    }
}

// ---- SVD -------------------------------------------------------------------------------

/// Singular values (descending) and, with `compute_uv`, U `(m, m)` and Vᵀ `(n, n)`:
/// outputs `[U, S, Vt]`, or `[S]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Svd {
    pub compute_uv: bool,
}

/// The full SVD node of `a`: `[U, S, Vt]`.
pub(crate) fn svd_full(a: &Array) -> Vec<Array> {
    let nd = a.ndim();
    let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    let batch = &a.shape()[..nd - 2];
    let with = |t: &[usize]| [batch, t].concat();
    Array::from_multi_op(
        vec![
            (with(&[m, m]), a.dtype()),
            (with(&[m.min(n)]), a.dtype()),
            (with(&[n, n]), a.dtype()),
        ],
        Svd { compute_uv: true },
        vec![a.clone()],
        ops::stream(),
    )
}

/// The cotangent of the first `k` columns of an orthogonal `w` `(.., r, r)` given `wbar`,
/// that of all of `w`: `W̄_k - W_⊥ W̄_⊥ᵀ W_k`, the complement's part carried by its
/// orthogonality to `W_k` (see `Svd::vjp`); just `W̄_k` when `k = r`.
fn fold_complement(w: &Array, wbar: &Array, k: usize) -> Result<Array> {
    let nd = w.ndim();
    let r = w.shape()[nd - 1];
    let wk = leading(w, nd - 1, k)?;
    let wbk = leading(wbar, nd - 1, k)?;
    if r == k {
        return Ok(wbk);
    }
    let rest = |x: &Array| -> Result<Array> {
        let mut start = vec![0isize; nd];
        start[nd - 1] = k as isize;
        let stop: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        ops::slice(x, &start, &stop, &vec![1; nd])
    };
    let (wp, wbp) = (rest(w)?, rest(wbar)?);
    ops::subtract(&wbk, &ops::matmul(&wp, &ops::matmul(&mt(&wbp)?, &wk)?)?)
}

impl Primitive for Svd {
    crate::exportable!(Svd);

    fn name(&self) -> &'static str {
        "SVD"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, outs) = setup(inputs, ctx)?;
        let inp = Input {
            data: &a,
            shape: inputs[0].shape(),
        };
        if self.compute_uv {
            real_dispatch!(inputs[0].dtype(), T => k::svd::<T>(&inp, &outs[1], Some((&outs[0], &outs[2]))))?;
        } else {
            real_dispatch!(inputs[0].dtype(), T => k::svd::<T>(&inp, &outs[0], None))?;
        }
        Ok(outs)
    }
    // With k = min(m, n), U_k, V_k the first k singular vectors and F_ij =
    // 1/(s_j² - s_i²) (Townsend 2016):
    //   Ā = U_k (diag(S̄) + (F∘(U_kᵀŪ_k - Ū_kᵀU_k)) S + S (F∘(V_kᵀV̄_k - V̄_kᵀV_k))) V_kᵀ
    //     + (I - U_k U_kᵀ) Ū_k S⁻¹ V_kᵀ + U_k S⁻¹ V̄_kᵀ (I - V_k V_kᵀ).
    // The full U (m > n) also holds a basis U_⊥ of the complement, which is unique only
    // up to a rotation; a loss that does not depend on that choice (as `U_⊥ U_⊥ᵀ`)
    // moves U_⊥ only through its orthogonality to U_k (dU_⊥ = -U_k dU_kᵀ U_⊥), so its
    // cotangent folds into Ū_k as -U_⊥ Ū_⊥ᵀ U_k (and likewise for V when m < n).
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let a = &p[0];
        let nd = a.ndim();
        let (m, n) = (a.shape()[nd - 2], a.shape()[nd - 1]);
        let kk = m.min(n);
        // A new node: an output the caller dropped reaches the rule as zeros.
        let _ = out;
        let f = svd_full(a);
        let (u, s, vt) = (f[0].clone(), f[1].clone(), f[2].clone());
        let sbar = if self.compute_uv { &cot[1] } else { &cot[0] };
        let uk = leading(&u, nd - 1, kk)?;
        let vk = mt(&leading(&vt, nd - 2, kk)?)?;
        // Ā from S̄: U_k diag(S̄) V_kᵀ.
        let mut core = ops::multiply(
            &ops::expand_dims(sbar, &[-2])?,
            &ops::eye(kk, None, 0, Some(a.dtype()))?,
        )?;
        if !self.compute_uv {
            return Ok(vec![ops::matmul(&ops::matmul(&uk, &core)?, &mt(&vk)?)?]);
        }
        let v = mt(&vt)?;
        // The cotangents of U_k and V_k, with those of the complements folded in.
        let ubar = fold_complement(&u, &cot[0], kk)?;
        let vbar = fold_complement(&v, &mt(&cot[2])?, kk)?;
        let f = gap_factor(&ops::square(&s)?)?;
        let su = ops::matmul(&mt(&uk)?, &ubar)?;
        let sv = ops::matmul(&mt(&vk)?, &vbar)?;
        let ju = ops::multiply(&f, &ops::subtract(&su, &mt(&su)?)?)?;
        let jv = ops::multiply(&f, &ops::subtract(&sv, &mt(&sv)?)?)?;
        let srow = ops::expand_dims(&s, &[-2])?;
        let scol = ops::expand_dims(&s, &[-1])?;
        core = ops::add(&core, &ops::multiply(&ju, &srow)?)?;
        core = ops::add(&core, &ops::multiply(&scol, &jv)?)?;
        let mut abar = ops::matmul(&ops::matmul(&uk, &core)?, &mt(&vk)?)?;
        // The terms off the span of U_k (m > n) or of V_k (m < n); zero when square.
        let sinv = ops::reciprocal(&s)?;
        if m > kk {
            let off = ops::subtract(&ubar, &ops::matmul(&uk, &su)?)?;
            let t = ops::multiply(&off, &ops::expand_dims(&sinv, &[-2])?)?;
            abar = ops::add(&abar, &ops::matmul(&t, &mt(&vk)?)?)?;
        }
        if n > kk {
            let off = ops::subtract(&vbar, &ops::matmul(&vk, &sv)?)?;
            let t = ops::multiply(&off, &ops::expand_dims(&sinv, &[-2])?)?;
            abar = ops::add(&abar, &ops::matmul(&uk, &mt(&t)?)?)?;
        }
        Ok(vec![abar])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        vmap_front(self.clone(), inputs, axes, out)
    }
}

// ---- symmetric eigen -------------------------------------------------------------------

/// Eigenvalues (ascending) and, with `vectors`, eigenvectors of symmetric matrices read
/// from the lower (`upper`: upper) triangle: outputs `[w, V]`, or `[w]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Eigh {
    pub upper: bool,
    pub vectors: bool,
}

impl Primitive for Eigh {
    crate::exportable!(Eigh);

    fn name(&self) -> &'static str {
        "Eigh"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, outs) = setup(inputs, ctx)?;
        let inp = Input {
            data: &a,
            shape: inputs[0].shape(),
        };
        let v = if self.vectors { Some(&outs[1]) } else { None };
        real_dispatch!(inputs[0].dtype(), T => k::eigh::<T>(&inp, self.upper, &outs[0], v))?;
        Ok(outs)
    }
    // Ā = sym(V (diag(w̄) + F∘(VᵀV̄)) Vᵀ), F_ij = 1/(w_j - w_i).
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let (w, v) = self.both(&p[0], out);
        let n = w.shape()[w.ndim() - 1];
        let mut core = ops::multiply(
            &ops::expand_dims(&cot[0], &[-2])?,
            &ops::eye(n, None, 0, Some(w.dtype()))?,
        )?;
        if self.vectors {
            let g = ops::multiply(&gap_factor(&w)?, &ops::matmul(&mt(&v)?, &cot[1])?)?;
            core = ops::add(&core, &g)?;
        }
        Ok(vec![sym(&ops::matmul(
            &ops::matmul(&v, &core)?,
            &mt(&v)?,
        )?)?])
    }
    // ẇ = diag(Vᵀ Ȧ V), V̇ = V (F∘(Vᵀ Ȧ V)) with Ȧ symmetrised.
    fn jvp(&self, p: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let (w, v) = self.both(&p[0], out);
        let inner = ops::matmul(&ops::matmul(&mt(&v)?, &sym(&tan[0])?)?, &v)?;
        let dw = ops::diagonal(&inner, 0, -2, -1)?;
        if !self.vectors {
            return Ok(vec![dw]);
        }
        let dv = ops::matmul(&v, &ops::multiply(&gap_factor(&w)?, &inner)?)?;
        Ok(vec![dw, dv])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        vmap_front(self.clone(), inputs, axes, out)
    }
}

impl Eigh {
    /// The eigenvalues and eigenvectors, from a new node: an output the caller dropped
    /// reaches the rules as zeros, so they cannot use `outputs`.
    fn both(&self, a: &Array, out: &[Array]) -> (Array, Array) {
        let o = Array::from_multi_op(
            vec![
                (out[0].shape().to_vec(), out[0].dtype()),
                (a.shape().to_vec(), a.dtype()),
            ],
            Eigh {
                upper: self.upper,
                vectors: true,
            },
            vec![a.clone()],
            ops::stream(),
        );
        (o[0].clone(), o[1].clone())
    }
}

// ---- general eigen ---------------------------------------------------------------------

/// Eigenvalues and, with `vectors`, eigenvectors (complex64) of general real matrices:
/// outputs `[w, V]`, or `[w]`. Not differentiable (as in MLX).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Eig {
    pub vectors: bool,
}

impl Primitive for Eig {
    crate::exportable!(Eig);

    fn name(&self) -> &'static str {
        "Eig"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, outs) = setup(inputs, ctx)?;
        let inp = Input {
            data: &a,
            shape: inputs[0].shape(),
        };
        let v = if self.vectors { Some(&outs[1]) } else { None };
        real_dispatch!(inputs[0].dtype(), T => k::eig::<T>(&inp, &outs[0], v))?;
        Ok(outs)
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        vmap_front(self.clone(), inputs, axes, out)
    }
}

// ---- inverse ---------------------------------------------------------------------------

/// Inverse of square matrices: general (`tri: None`) or of the lower/upper triangle
/// (`Some(upper)`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Inverse {
    pub tri: Option<bool>,
}

impl Inverse {
    /// The part of a matrix this inverse reads (all of it, or its triangle).
    fn part(&self, x: &Array) -> Result<Array> {
        match self.tri {
            None => Ok(x.clone()),
            Some(true) => ops::triu(x, 0),
            Some(false) => ops::tril(x, 0),
        }
    }
}

impl Primitive for Inverse {
    crate::exportable!(Inverse);

    fn name(&self) -> &'static str {
        "Inverse"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, outs) = setup(inputs, ctx)?;
        let inp = Input {
            data: &a,
            shape: inputs[0].shape(),
        };
        real_dispatch!(inputs[0].dtype(), T => k::inverse::<T>(&inp, self.tri, &outs[0]))?;
        Ok(outs)
    }
    // d(A⁻¹) = -A⁻¹ dA A⁻¹, so Ā = -A⁻ᵀ C A⁻ᵀ (on the triangle read, for tri).
    fn vjp(&self, _: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let yt = mt(&out[0])?;
        let g = ops::negative(&ops::matmul(&ops::matmul(&yt, &cot[0])?, &yt)?)?;
        Ok(vec![self.part(&g)?])
    }
    fn jvp(&self, _: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let y = &out[0];
        let t = self.part(&tan[0])?;
        Ok(vec![ops::negative(&ops::matmul(&ops::matmul(y, &t)?, y)?)?])
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        vmap_front(self.clone(), inputs, axes, out)
    }
}

// ---- determinant -----------------------------------------------------------------------

/// Determinant (`[det]`) or `[sign, log|det|]` (`log`) of square matrices, by LU.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Det {
    pub log: bool,
}

impl Primitive for Det {
    crate::exportable!(Det);

    fn name(&self) -> &'static str {
        "Det"
    }
    fn eval_cpu(&self, inputs: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (a, outs) = setup(inputs, ctx)?;
        let inp = Input {
            data: &a,
            shape: inputs[0].shape(),
        };
        let l = if self.log { Some(&outs[1]) } else { None };
        real_dispatch!(inputs[0].dtype(), T => k::det::<T>(&inp, &outs[0], l))?;
        Ok(outs)
    }
    // d det = det tr(A⁻¹ dA); d log|det| = tr(A⁻¹ dA); the sign is piecewise constant.
    fn vjp(&self, p: &[Array], cot: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let ait = mt(&inverse_of(&p[0], None))?;
        let scale = if self.log {
            cot[1].clone()
        } else {
            ops::multiply(&cot[0], &out[0])?
        };
        Ok(vec![ops::multiply(&scalar_per_matrix(&scale)?, &ait)?])
    }
    fn jvp(&self, p: &[Array], tan: &[Array], _: &[usize], out: &[Array]) -> Result<Vec<Array>> {
        let ait = mt(&inverse_of(&p[0], None))?;
        let tr = ops::sum(&ops::multiply(&ait, &tan[0])?, &[-2, -1], false)?;
        if self.log {
            Ok(vec![ops::zeros_like(&out[0], None)?, tr])
        } else {
            Ok(vec![ops::multiply(&out[0], &tr)?])
        }
    }
    fn vmap(&self, inputs: &[Array], axes: &[Option<usize>], out: &[Array]) -> Result<Batched> {
        vmap_front(self.clone(), inputs, axes, out)
    }
}
