//! `Conv1d` and `Conv2d`, channels last as in MLX: inputs `[N, *spatial, C_in]`,
//! weight `[C_out, *kernel, C_in / groups]`, bias `[C_out]` (Python's layout and keys).

use crate::module::{Module, Unary};
use crate::module_parameters;
use ferrox::{ops, random, Array, Error, Result};

fn init(
    in_channels: usize,
    out_channels: usize,
    kernel: &[usize],
    groups: usize,
    bias: bool,
) -> Result<(Array, Option<Array>)> {
    if groups == 0 || in_channels % groups != 0 {
        return Err(Error::Invalid(format!(
            "The number of input channels ({in_channels}) must be divisible by the number of groups ({groups})"
        )));
    }
    let fan_in = in_channels / groups * kernel.iter().product::<usize>();
    let scale = (1.0 / fan_in as f64).sqrt();
    let mut shape = vec![out_channels];
    shape.extend_from_slice(kernel);
    shape.push(in_channels / groups);
    let weight = random::uniform(-scale, scale, &shape, None, None)?;
    let bias = if bias {
        Some(ops::zeros(&[out_channels], None)?)
    } else {
        None
    };
    Ok((weight, bias))
}

/// 1-D convolution over `[N, L, C_in]`.
pub struct Conv1d {
    pub weight: Array,
    pub bias: Option<Array>,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

impl Conv1d {
    /// Weight uniform in `[-s, s]`, `s = 1/sqrt(C_in/groups * kernel)`, bias zeros.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        bias: bool,
    ) -> Result<Self> {
        let (weight, bias) = init(in_channels, out_channels, &[kernel_size], 1, bias)?;
        Ok(Self {
            weight,
            bias,
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        })
    }

    /// With every option of Python's constructor.
    #[allow(clippy::too_many_arguments)]
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        groups: usize,
        bias: bool,
    ) -> Result<Self> {
        let (weight, bias) = init(in_channels, out_channels, &[kernel_size], groups, bias)?;
        Ok(Self {
            weight,
            bias,
            stride,
            padding,
            dilation,
            groups,
        })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let y = ops::conv1d(
            x,
            &self.weight,
            self.stride,
            self.padding as isize,
            self.dilation,
            self.groups,
        )?;
        match &self.bias {
            Some(b) => ops::add(&y, b),
            None => Ok(y),
        }
    }
}

impl Module for Conv1d {
    module_parameters!(param weight, optional bias);
}

impl Unary for Conv1d {
    fn forward(&self, x: &Array) -> Result<Array> {
        Conv1d::forward(self, x)
    }
}

/// 2-D convolution over `[N, H, W, C_in]`.
pub struct Conv2d {
    pub weight: Array,
    pub bias: Option<Array>,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Conv2d {
    /// Weight uniform in `[-s, s]`, `s = 1/sqrt(C_in/groups * kh * kw)`, bias zeros.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        bias: bool,
    ) -> Result<Self> {
        Self::with_options(
            in_channels,
            out_channels,
            kernel_size,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
            bias,
        )
    }

    /// With every option of Python's constructor.
    #[allow(clippy::too_many_arguments)]
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
        bias: bool,
    ) -> Result<Self> {
        let (weight, bias) = init(in_channels, out_channels, &kernel_size, groups, bias)?;
        Ok(Self {
            weight,
            bias,
            stride,
            padding,
            dilation,
            groups,
        })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let padding = [self.padding[0] as isize, self.padding[1] as isize];
        let y = ops::conv2d(
            x,
            &self.weight,
            self.stride,
            padding,
            self.dilation,
            self.groups,
        )?;
        match &self.bias {
            Some(b) => ops::add(&y, b),
            None => Ok(y),
        }
    }
}

impl Module for Conv2d {
    module_parameters!(param weight, optional bias);
}

impl Unary for Conv2d {
    fn forward(&self, x: &Array) -> Result<Array> {
        Conv2d::forward(self, x)
    }
}
