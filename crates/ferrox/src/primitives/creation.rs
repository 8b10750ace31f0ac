//! Primitives that make data from nothing: `arange`.

use crate::array::{Array, Data};
use crate::dtype::Element;
use crate::primitive::{EvalContext, Primitive};
use crate::Result;

/// `start + i * step` for each `i`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Arange {
    pub start: f64,
    pub step: f64,
    /// A value for the last element (`linspace` ends exactly at `stop`).
    pub last: Option<f64>,
}

impl Primitive for Arange {
    crate::exportable!(Arange);

    fn name(&self) -> &'static str {
        "Arange"
    }
    fn eval_cpu(&self, _: &[Array], ctx: &mut EvalContext) -> Result<Vec<Data>> {
        let (shape, dtype) = &ctx.outputs[0];
        let out = Data::alloc(shape, *dtype)?;
        let n = shape[0];
        crate::dispatch_dtype!(*dtype, T => {
            // SAFETY: a fresh row-major buffer of n elements.
            let o = unsafe { out.as_mut_slice::<T>(n) };
            // Integer dtypes step in integers, as MLX does, so large ranges stay exact.
            if dtype.is_integer() {
                let (start, step) = (self.start as i64, self.step as i64);
                for (i, v) in o.iter_mut().enumerate() {
                    *v = (start + step * i as i64).cast::<T>();
                }
            } else {
                for (i, v) in o.iter_mut().enumerate() {
                    *v = T::from_f64(self.start + self.step * i as f64);
                }
            }
            if let (Some(last), Some(v)) = (self.last, o.last_mut()) {
                *v = T::from_f64(last);
            }
        });
        Ok(vec![out])
    }
    crate::no_input_rules!();
}
