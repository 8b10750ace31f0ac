//! `mlx.core.distributed` for one process: the singleton group MLX falls back to when
//! no communication backend is running. Collectives over a group of one are identities
//! (each process already holds the whole result), and point-to-point messages have no
//! peer, so they are errors, with MLX's messages. Backends (MPI, NCCL, a ring over TCP)
//! come with the multi-machine work; until then no backend is available and a strict
//! `init` fails as MLX's does when it finds none. Every function takes the group to run
//! over (`None`: the global one) for MLX's signature.
//!
//! ```
//! use ferrox::{distributed, ops};
//! let group = distributed::init(false)?;
//! assert_eq!((group.rank(), group.size()), (0, 1));
//! let x = ops::arange(0.0, 3.0, 1.0, None)?;
//! assert_eq!(distributed::all_sum(&x, None)?.to_vec::<f32>()?, [0.0, 1.0, 2.0]);
//! # Ok::<(), ferrox::Error>(())
//! ```

use crate::array::Array;
use crate::{Error, Result};

/// A group of processes that communicate. Only the singleton group exists in ferrox yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    _private: (),
}

impl Group {
    /// This process's index in the group.
    pub fn rank(&self) -> usize {
        0
    }

    /// How many processes the group has.
    pub fn size(&self) -> usize {
        1
    }

    /// Splits the group by `color` (and orders by `key`): a group of one cannot split.
    pub fn split(&self, _color: i64, _key: i64) -> Result<Group> {
        Err(Error::Runtime(
            "Cannot split the distributed group further.".into(),
        ))
    }
}

/// Whether a communication backend (`"any"`, `"mpi"`, `"ring"`, `"nccl"`, ...) can run:
/// none is built into ferrox yet.
pub fn is_available(_backend: &str) -> bool {
    false
}

/// The global group. Without a backend it is the singleton group; `strict` makes that
/// an error instead, as in MLX.
pub fn init(strict: bool) -> Result<Group> {
    if strict {
        return Err(Error::Runtime(
            "[distributed] Couldn't initialize any backend".into(),
        ));
    }
    Ok(Group { _private: () })
}

/// The sum of `x` over the group's processes: `x` itself for one process.
pub fn all_sum(x: &Array, _group: Option<&Group>) -> Result<Array> {
    Ok(x.clone())
}

/// The elementwise maximum over the group's processes.
pub fn all_max(x: &Array, _group: Option<&Group>) -> Result<Array> {
    Ok(x.clone())
}

/// The elementwise minimum over the group's processes.
pub fn all_min(x: &Array, _group: Option<&Group>) -> Result<Array> {
    Ok(x.clone())
}

/// Every process's `x` concatenated along axis 0.
pub fn all_gather(x: &Array, _group: Option<&Group>) -> Result<Array> {
    Ok(x.clone())
}

/// The sum over processes, scattered: process `r` keeps the `r`-th slice along axis 0.
pub fn sum_scatter(x: &Array, _group: Option<&Group>) -> Result<Array> {
    Ok(x.clone())
}

/// Sends `x` to process `dst`: a singleton group has no peer.
pub fn send(_x: &Array, _dst: usize, _group: Option<&Group>) -> Result<Array> {
    Err(Error::Invalid("Cannot send to a singleton group".into()))
}

/// Receives an array of `shape` and `dtype` from process `src`: a singleton group has
/// no peer.
pub fn recv(
    _shape: &[usize],
    _dtype: crate::Dtype,
    _src: usize,
    _group: Option<&Group>,
) -> Result<Array> {
    Err(Error::Invalid("Cannot recv from a singleton group".into()))
}
