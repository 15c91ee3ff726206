//! The element types the kernels take, at run time ([`Dtype`]) and in the type system
//! ([`CudaFloat`]).

use cudarc::driver::DeviceRepr;
use relukit::{Float, bf16, f16};

/// An element type of the kernels: what the raw-pointer entry points take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// `float`.
    F32,
    /// `double`.
    F64,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    Bf16,
}

impl Dtype {
    /// The kernels' suffix for this type (`relu_f32`, ...).
    pub fn suffix(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
            Dtype::F16 => "f16",
            Dtype::Bf16 => "bf16",
        }
    }

    /// Its NumPy name: `float32`, `float64`, `float16`, `bfloat16`.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::F16 => "float16",
            Dtype::Bf16 => "bfloat16",
        }
    }

    /// Its position in [`Dtype::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::F16 | Dtype::Bf16 => 2,
        }
    }

    /// Every type, for loading the kernels (in declaration order: [`Dtype::index`]).
    pub const ALL: [Dtype; 4] = [Dtype::F32, Dtype::F64, Dtype::F16, Dtype::Bf16];
}

/// A relukit float the GPU kernels take: `f32`, `f64`, [`struct@f16`], [`struct@bf16`].
pub trait CudaFloat: Float + DeviceRepr {
    /// Its run-time type.
    const DTYPE: Dtype;
}

impl CudaFloat for f32 {
    const DTYPE: Dtype = Dtype::F32;
}
impl CudaFloat for f64 {
    const DTYPE: Dtype = Dtype::F64;
}
impl CudaFloat for f16 {
    const DTYPE: Dtype = Dtype::F16;
}
impl CudaFloat for bf16 {
    const DTYPE: Dtype = Dtype::Bf16;
}

/// A slope checked in the compute type of a [`Dtype`], as the kernel takes it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slope {
    F32(f32),
    F64(f64),
}

impl Slope {
    /// `negative_slope` checked as relukit checks it for `dtype`.
    pub(crate) fn new(dtype: Dtype, slope: f64) -> Result<Slope, relukit::Error> {
        use relukit::check::negative_slope;
        Ok(match dtype {
            Dtype::F32 => Slope::F32(negative_slope::<f32>(slope)? as f32),
            Dtype::F16 => Slope::F32(negative_slope::<f16>(slope)? as f32),
            Dtype::Bf16 => Slope::F32(negative_slope::<bf16>(slope)? as f32),
            Dtype::F64 => Slope::F64(negative_slope::<f64>(slope)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all_and_names_are_numpys() {
        let names: Vec<_> = Dtype::ALL.into_iter().map(Dtype::name).collect();
        assert_eq!(names, ["float32", "float64", "float16", "bfloat16"]);
        for (i, dtype) in Dtype::ALL.into_iter().enumerate() {
            assert_eq!(dtype.index(), i);
        }
    }
}
