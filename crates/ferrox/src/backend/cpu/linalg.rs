//! Kernels of `ops::linalg`: each copies every matrix of a batch (the last two axes of a
//! strided input) into a `faer` matrix, factorises it, and writes the factors row-major
//! into the outputs. Many matrices run in parallel with rayon; one matrix runs on one
//! thread (faer is built without its own parallelism).

use super::strided::offset_of;
use crate::array::Data;
use crate::{Error, Result};
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use num_complex::Complex;
use num_traits::Float;
use rayon::prelude::*;

fn zero<T: Real>() -> T {
    <T as num_traits::Zero>::zero()
}
fn one<T: Real>() -> T {
    <T as num_traits::One>::one()
}

/// The element types the decompositions take (MLX: float32 and float64).
pub trait Real:
    faer::traits::RealField + crate::dtype::Element + num_traits::Float + Copy + Send + Sync
{
    fn to_f32(self) -> f32;
}
impl Real for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}
impl Real for f64 {
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// A raw output pointer shared by the threads of a batch; each writes its own matrix.
#[derive(Clone, Copy)]
struct Out(*mut u8);
unsafe impl Send for Out {}
unsafe impl Sync for Out {}
impl Out {
    /// Element `i` of the output as `T`.
    ///
    /// # Safety
    /// `i` lies in the output and no other thread writes it.
    #[inline]
    unsafe fn set<T>(self, i: usize, v: T) {
        *(self.0 as *mut T).add(i) = v;
    }
}

/// The strided input: the batch shape, its strides, and the two matrix strides.
pub struct Input<'a> {
    pub data: &'a Data,
    pub shape: &'a [usize],
}

impl Input<'_> {
    fn rows(&self) -> usize {
        self.shape[self.shape.len() - 2]
    }
    fn cols(&self) -> usize {
        self.shape[self.shape.len() - 1]
    }
    fn batch(&self) -> usize {
        self.shape[..self.shape.len() - 2].iter().product()
    }
    /// Matrix `b` of the batch as a faer matrix.
    fn matrix<T: Real>(&self, b: usize) -> Mat<T> {
        let nd = self.shape.len();
        let st = &self.data.strides;
        let base = offset_of(b, &self.shape[..nd - 2], &st[..nd - 2]);
        let (rs, cs) = (st[nd - 2], st[nd - 1]);
        let p = self.data.ptr::<T>();
        // SAFETY: every (b, i, j) of the input's shape is inside its buffer.
        Mat::from_fn(self.rows(), self.cols(), |i, j| unsafe {
            *p.offset(base + i as isize * rs + j as isize * cs)
        })
    }
}

/// Runs `f(b, matrix b)` for every matrix of the batch, in parallel when the batch has
/// enough work; the first error wins.
fn each<T: Real>(a: &Input, f: impl Fn(usize, Mat<T>) -> Result<()> + Sync) -> Result<()> {
    let n = a.batch();
    let work = a.rows().max(1) * a.cols().max(1) * a.rows().max(a.cols()).max(1);
    if n > 1 && n * work >= 1 << 14 {
        (0..n)
            .into_par_iter()
            .try_for_each(|b| f(b, a.matrix::<T>(b)))
    } else {
        (0..n).try_for_each(|b| f(b, a.matrix::<T>(b)))
    }
}

/// Writes matrix `m` (all of it, or `rows x cols` of it) row-major at matrix `b` of `out`.
fn write<T: Real>(out: Out, b: usize, m: faer::MatRef<T>) {
    let (r, c) = (m.nrows(), m.ncols());
    for i in 0..r {
        for j in 0..c {
            // SAFETY: output b holds r*c elements, written by this task alone.
            unsafe { out.set(b * r * c + i * c + j, m[(i, j)]) };
        }
    }
}

/// LU with partial pivoting of `(m, n)` matrices: `lu` gets L (strictly below the
/// diagonal, unit diagonal implied) and U packed as LAPACK's getrf, `pivots` (uint32,
/// `min(m, n)`) LAPACK's row swaps (0-based), `perm` (uint32, `m`) the rows such that
/// `A = L[perm] @ U`.
pub fn lu<T: Real>(a: &Input, lu: &Data, pivots: &Data, perm: &Data) -> Result<()> {
    let (m, n) = (a.rows(), a.cols());
    let k = m.min(n);
    let (o_lu, o_piv, o_perm) = (
        Out(lu.ptr::<T>() as *mut u8),
        Out(pivots.ptr::<u32>() as *mut u8),
        Out(perm.ptr::<u32>() as *mut u8),
    );
    each::<T>(a, |b, mat| {
        let f = mat.partial_piv_lu();
        let (l, u) = (f.L(), f.U());
        for i in 0..m {
            for j in 0..n {
                let v = if i > j { l[(i, j)] } else { u[(i, j)] };
                // SAFETY: matrix b of the (m, n) output, this task's own.
                unsafe { o_lu.set(b * m * n + i * n + j, v) };
            }
        }
        // faer's permutation: row i of L U is row fwd[i] of A. The swaps that reach it
        // (LAPACK's pivots) replay it: at step i, the row wanted at i is swapped in.
        let (fwd, bwd) = f.P().arrays();
        let mut rows: Vec<usize> = (0..m).collect();
        let mut pos: Vec<usize> = (0..m).collect();
        for i in 0..k {
            let j = pos[fwd[i]];
            rows.swap(i, j);
            pos[rows[i]] = i;
            pos[rows[j]] = j;
            // SAFETY: as above, for the (k) pivots.
            unsafe { o_piv.set(b * k + i, j as u32) };
        }
        for (i, &r) in bwd.iter().enumerate() {
            // SAFETY: as above, for the (m) permutation.
            unsafe { o_perm.set(b * m + i, r as u32) };
        }
        Ok(())
    })
}

/// Cholesky factor of symmetric positive-definite matrices from their lower (`upper`:
/// upper) triangle: L with `A = L Lᵀ` (or U with `A = Uᵀ U`), zero elsewhere. Where a
/// matrix is not positive definite the result is LAPACK's (unblocked potrf) partial
/// factor, as MLX's, without an error.
pub fn cholesky<T: Real>(a: &Input, upper: bool, out: &Data) -> Result<()> {
    let n = a.rows();
    let o = Out(out.ptr::<T>() as *mut u8);
    each::<T>(a, |b, mat| {
        // The factor of the lower triangle; the upper case factors the transpose.
        let mat = if upper {
            mat.transpose().to_owned()
        } else {
            mat
        };
        let l = match mat.llt(Side::Lower) {
            Ok(f) => f.L().to_owned(),
            Err(_) => partial_cholesky(&mat),
        };
        for i in 0..n {
            for j in 0..n {
                let v = if upper { l[(j, i)] } else { l[(i, j)] };
                let v = if (upper && j < i) || (!upper && j > i) {
                    zero::<T>()
                } else {
                    v
                };
                // SAFETY: matrix b of the output, this task's own.
                unsafe { o.set(b * n * n + i * n + j, v) };
            }
        }
        Ok(())
    })
}

/// LAPACK's unblocked lower Cholesky (potf2) up to the first pivot that is not positive:
/// that pivot holds the non-positive value and the later columns keep the input's.
fn partial_cholesky<T: Real>(a: &Mat<T>) -> Mat<T> {
    let n = a.nrows();
    let mut l = a.clone();
    for j in 0..n {
        let mut d = l[(j, j)];
        for k in 0..j {
            d -= l[(j, k)] * l[(j, k)];
        }
        if !(d > zero::<T>()) {
            l[(j, j)] = d;
            break;
        }
        let d = Float::sqrt(d);
        l[(j, j)] = d;
        for i in j + 1..n {
            let mut v = l[(i, j)];
            for k in 0..j {
                v -= l[(i, k)] * l[(j, k)];
            }
            l[(i, j)] = v / d;
        }
    }
    l
}

/// Reduced QR of `(m, n)` matrices: Q `(m, k)` with orthonormal columns and upper
/// triangular R `(k, n)`, `k = min(m, n)`.
pub fn qr<T: Real>(a: &Input, q: &Data, r: &Data) -> Result<()> {
    let (oq, or) = (Out(q.ptr::<T>() as *mut u8), Out(r.ptr::<T>() as *mut u8));
    each::<T>(a, |b, mat| {
        let f = mat.qr();
        write(oq, b, f.compute_thin_Q().as_ref());
        write(or, b, f.thin_R());
        Ok(())
    })
}

fn svd_error(e: impl std::fmt::Debug) -> Error {
    Error::Runtime(format!("[SVD::eval_cpu] the SVD did not converge ({e:?})."))
}

/// SVD of `(m, n)` matrices: singular values `(k)` in descending order and, when `uv` is
/// given, U `(m, m)` and Vᵀ `(n, n)` with `A = U[:, :k] diag(S) Vᵀ[:k]`.
pub fn svd<T: Real>(a: &Input, s: &Data, uv: Option<(&Data, &Data)>) -> Result<()> {
    let (m, n) = (a.rows(), a.cols());
    let k = m.min(n);
    let os = Out(s.ptr::<T>() as *mut u8);
    let ouv = uv.map(|(u, vt)| (Out(u.ptr::<T>() as *mut u8), Out(vt.ptr::<T>() as *mut u8)));
    each::<T>(a, |b, mat| {
        match ouv {
            None => {
                let sv = mat.singular_values().map_err(svd_error)?;
                for (i, v) in sv.into_iter().enumerate() {
                    // SAFETY: matrix b of the (k) output, this task's own.
                    unsafe { os.set(b * k + i, v) };
                }
            }
            Some((ou, ovt)) => {
                let f = mat.svd().map_err(svd_error)?;
                let sd = f.S().column_vector();
                for i in 0..k {
                    // SAFETY: as above.
                    unsafe { os.set(b * k + i, sd[i]) };
                }
                write(ou, b, f.U());
                write(ovt, b, f.V().transpose());
            }
        }
        Ok(())
    })
}

fn evd_error(name: &str, e: impl std::fmt::Debug) -> Error {
    Error::Runtime(format!(
        "[{name}::eval_cpu] the eigendecomposition did not converge ({e:?})."
    ))
}

/// Eigenvalues `(n)` in ascending order of symmetric matrices, read from their lower
/// (`upper`: upper) triangle, and, when `v` is given, the eigenvectors as its columns.
pub fn eigh<T: Real>(a: &Input, upper: bool, w: &Data, v: Option<&Data>) -> Result<()> {
    let n = a.rows();
    let ow = Out(w.ptr::<T>() as *mut u8);
    let ov = v.map(|v| Out(v.ptr::<T>() as *mut u8));
    let side = if upper { Side::Upper } else { Side::Lower };
    each::<T>(a, |b, mat| {
        match ov {
            None => {
                let vals = mat
                    .self_adjoint_eigenvalues(side)
                    .map_err(|e| evd_error("Eigh", e))?;
                for (i, x) in vals.into_iter().enumerate() {
                    // SAFETY: matrix b of the (n) output, this task's own.
                    unsafe { ow.set(b * n + i, x) };
                }
            }
            Some(ov) => {
                let f = mat
                    .self_adjoint_eigen(side)
                    .map_err(|e| evd_error("Eigh", e))?;
                let s = f.S().column_vector();
                for i in 0..n {
                    // SAFETY: as above.
                    unsafe { ow.set(b * n + i, s[i]) };
                }
                write(ov, b, f.U());
            }
        }
        Ok(())
    })
}

/// Eigenvalues (complex64, `(n)`) of general real matrices and, when `v` is given, the
/// eigenvectors (complex64, unit norm) as its columns.
pub fn eig<T: Real>(a: &Input, w: &Data, v: Option<&Data>) -> Result<()> {
    let n = a.rows();
    let ow = Out(w.ptr::<Complex<f32>>() as *mut u8);
    let ov = v.map(|v| Out(v.ptr::<Complex<f32>>() as *mut u8));
    let c32 = |z: Complex<T>| Complex::new(z.re.to_f32(), z.im.to_f32());
    each::<T>(a, |b, mat| {
        match ov {
            None => {
                let vals = mat.eigenvalues().map_err(|e| evd_error("Eig", e))?;
                for (i, z) in vals.into_iter().enumerate() {
                    // SAFETY: matrix b of the (n) output, this task's own.
                    unsafe { ow.set(b * n + i, c32(z)) };
                }
            }
            Some(ov) => {
                let f = mat.eigen().map_err(|e| evd_error("Eig", e))?;
                let (s, u) = (f.S().column_vector(), f.U());
                for i in 0..n {
                    // SAFETY: as above.
                    unsafe { ow.set(b * n + i, c32(s[i])) };
                }
                for j in 0..n {
                    // faer's vectors may not be unit length: normalise as LAPACK does.
                    let mut norm = zero::<T>();
                    for i in 0..n {
                        norm += u[(i, j)].re * u[(i, j)].re + u[(i, j)].im * u[(i, j)].im;
                    }
                    let norm = Float::sqrt(norm);
                    let norm = if norm > zero::<T>() { norm } else { one::<T>() };
                    for i in 0..n {
                        let z = Complex::new(u[(i, j)].re / norm, u[(i, j)].im / norm);
                        // SAFETY: as above, for the (n, n) output.
                        unsafe { ov.set(b * n * n + i * n + j, c32(z)) };
                    }
                }
            }
        }
        Ok(())
    })
}

/// Inverses of square matrices: general (`tri: None`, by LU; a singular matrix is an
/// error, as LAPACK's getrf/getri in MLX) or triangular (`Some(upper)`: only that
/// triangle is read; a zero on the diagonal is an error, as LAPACK's trtri).
pub fn inverse<T: Real>(a: &Input, tri: Option<bool>, out: &Data) -> Result<()> {
    let n = a.rows();
    let o = Out(out.ptr::<T>() as *mut u8);
    each::<T>(a, |b, mat| {
        let inv = match tri {
            None => {
                let f = mat.partial_piv_lu();
                if let Some(i) = (0..n).find(|&i| f.U()[(i, i)] == zero::<T>()) {
                    return Err(Error::Runtime(format!(
                        "[Inverse::eval_cpu] LU factorization failed with error code {}",
                        i + 1
                    )));
                }
                f.inverse()
            }
            Some(upper) => {
                if let Some(i) = (0..n).find(|&i| mat[(i, i)] == zero::<T>()) {
                    return Err(Error::Runtime(format!(
                        "[Inverse::eval_cpu] triangular inversion failed with error code {}",
                        i + 1
                    )));
                }
                let mut x = Mat::<T>::identity(n, n);
                if upper {
                    mat.solve_upper_triangular_in_place(x.as_mut());
                } else {
                    mat.solve_lower_triangular_in_place(x.as_mut());
                }
                x
            }
        };
        write(o, b, inv.as_ref());
        Ok(())
    })
}

/// Determinants of square matrices by LU: `det` gets them, or `(sign, log|det|)` for
/// `slogdet` (sign 0 and log -inf for a singular matrix).
pub fn det<T: Real>(a: &Input, det: &Data, logabs: Option<&Data>) -> Result<()> {
    let n = a.rows();
    let od = Out(det.ptr::<T>() as *mut u8);
    let ol = logabs.map(|l| Out(l.ptr::<T>() as *mut u8));
    each::<T>(a, |b, mat| {
        let f = mat.partial_piv_lu();
        let u = f.U();
        // The permutation's sign: (-1)^(n - number of its cycles).
        let fwd = f.P().arrays().0;
        let mut seen = vec![false; n];
        let mut odd = false;
        for s in 0..n {
            let mut len = 0;
            let mut i = s;
            while !seen[i] {
                seen[i] = true;
                i = fwd[i];
                len += 1;
            }
            if len > 0 && len % 2 == 0 {
                odd = !odd;
            }
        }
        let one = one::<T>();
        let mut sign = if odd { -one } else { one };
        match ol {
            None => {
                let mut d = sign;
                for i in 0..n {
                    d *= u[(i, i)];
                }
                // SAFETY: element b of the batch-shaped output, this task's own.
                unsafe { od.set(b, d) };
            }
            Some(ol) => {
                let mut log = zero::<T>();
                for i in 0..n {
                    let x = u[(i, i)];
                    if x < zero::<T>() {
                        sign = -sign;
                    }
                    log += Float::ln(Float::abs(x));
                }
                if log == -<T as Float>::infinity() || Float::is_nan(sign) {
                    sign = zero::<T>();
                }
                // SAFETY: as above.
                unsafe {
                    od.set(b, sign);
                    ol.set(b, log);
                }
            }
        }
        Ok(())
    })
}
