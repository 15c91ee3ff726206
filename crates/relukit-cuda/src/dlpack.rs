//! DLPack, the array exchange protocol of PyTorch, CuPy, JAX and NumPy: its C structures
//! (`dlpack.h`, versions 0.x and 1.x) and what the [`raw`](crate::raw) entry points need
//! from one tensor: where its first element is, on which device, of which type, and its
//! shape and strides in elements.
//!
//! A producer hands a `DLManagedTensor` (or, from DLPack 1.0, a
//! `DLManagedTensorVersioned`, which adds a read-only flag) in a Python capsule; the
//! consumer reads it and either takes ownership (and calls the deleter when done) or
//! leaves the capsule to free it. relukit only reads: [`describe`] copies out what it
//! needs and never calls the deleter.

use std::ffi::c_void;

use crate::element::Dtype;

/// `DLDeviceType::kDLCPU`.
pub const CPU: i32 = 1;
/// `DLDeviceType::kDLCUDA`: memory of one GPU.
pub const CUDA: i32 = 2;
/// `DLDeviceType::kDLCUDAHost`: pinned host memory.
pub const CUDA_HOST: i32 = 3;
/// `DLDeviceType::kDLCUDAManaged`: unified memory, usable by the GPU's kernels.
pub const CUDA_MANAGED: i32 = 13;

/// `DLDevice`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DLDevice {
    /// One of the `kDL...` device types ([`CPU`], [`CUDA`], ...).
    pub device_type: i32,
    /// The device's ordinal for its type.
    pub device_id: i32,
}

/// `DLDataType`: a type code, its width and the vector lanes (1 for plain arrays).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DLDataType {
    /// 0 int, 1 uint, 2 float, 4 bfloat, 5 complex, 6 bool.
    pub code: u8,
    /// Bits per lane.
    pub bits: u8,
    /// Lanes per element.
    pub lanes: u16,
}

/// `DLTensor`: the array itself (the memory is the producer's).
#[repr(C)]
#[derive(Debug)]
pub struct DLTensor {
    /// The allocation's start (the first element is `byte_offset` further).
    pub data: *mut c_void,
    /// Where the memory is.
    pub device: DLDevice,
    /// Number of dimensions.
    pub ndim: i32,
    /// The element type.
    pub dtype: DLDataType,
    /// `ndim` sizes.
    pub shape: *mut i64,
    /// `ndim` strides in elements, or null for C order.
    pub strides: *mut i64,
    /// Bytes from `data` to the first element.
    pub byte_offset: u64,
}

/// `DLManagedTensor` (DLPack 0.x; capsule name `"dltensor"`).
#[repr(C)]
#[derive(Debug)]
pub struct DLManagedTensor {
    /// The tensor.
    pub dl_tensor: DLTensor,
    /// The producer's context.
    pub manager_ctx: *mut c_void,
    /// Frees the tensor (called by the owner: relukit never takes ownership).
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

/// `DLPackVersion`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DLPackVersion {
    /// Major version (1 for DLPack 1.x).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

/// `DLManagedTensorVersioned` (DLPack 1.x; capsule name `"dltensor_versioned"`).
#[repr(C)]
#[derive(Debug)]
pub struct DLManagedTensorVersioned {
    /// The DLPack version the producer wrote.
    pub version: DLPackVersion,
    /// The producer's context.
    pub manager_ctx: *mut c_void,
    /// Frees the tensor.
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    /// Bit 0: read only; bit 1: a copy made for the consumer.
    pub flags: u64,
    /// The tensor.
    pub dl_tensor: DLTensor,
}

/// `DLPACK_FLAG_BITMASK_READ_ONLY`.
pub const FLAG_READ_ONLY: u64 = 1;

/// One tensor as relukit's raw entry points take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// The device address of the first element (`data + byte_offset`).
    pub address: u64,
    /// The device type and ordinal.
    pub device: DLDevice,
    /// The element type, or its NumPy-style name when no kernel takes it.
    pub dtype: Result<Dtype, String>,
    /// Sizes.
    pub shape: Vec<i64>,
    /// Strides in elements (C order's when the producer gave none).
    pub strides: Vec<i64>,
    /// Whether the producer marked the memory read only (DLPack 1.x only).
    pub read_only: bool,
}

impl Description {
    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.shape.iter().map(|&s| s as u64).product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the memory is one a CUDA kernel may read: a GPU's, or unified memory.
    pub fn on_gpu(&self) -> bool {
        matches!(self.device.device_type, CUDA | CUDA_MANAGED)
    }
}

/// The NumPy-style name of a DLPack type (`float32`, `bfloat16`, `int8`, `complex64`,
/// `bool`), relukit's [`Dtype`] for the four it has kernels for.
pub fn dtype(t: DLDataType) -> Result<Dtype, String> {
    let kind = match t.code {
        0 => "int",
        1 => "uint",
        2 => "float",
        4 => "bfloat",
        5 => "complex",
        6 => "bool",
        code => return Err(format!("DLPack type code {code}")),
    };
    let name = if kind == "bool" {
        "bool".to_string()
    } else {
        format!("{kind}{}", t.bits)
    };
    if t.lanes != 1 {
        return Err(format!("{name}x{}", t.lanes));
    }
    match name.as_str() {
        "float32" => Ok(Dtype::F32),
        "float64" => Ok(Dtype::F64),
        "float16" => Ok(Dtype::F16),
        "bfloat16" => Ok(Dtype::Bf16),
        _ => Err(name),
    }
}

/// Reads `tensor` (nothing is kept: the description owns copies).
///
/// # Errors
/// A negative `ndim` or size, or a null shape pointer with dimensions: a malformed tensor.
///
/// # Safety
/// `tensor` points to a live `DLTensor` whose `shape` (and `strides`, unless null) hold
/// `ndim` values, as DLPack requires of a producer.
pub unsafe fn describe(tensor: *const DLTensor, read_only: bool) -> Result<Description, String> {
    // SAFETY: the caller guarantees a live tensor.
    let t = unsafe { &*tensor };
    let ndim = usize::try_from(t.ndim).map_err(|_| format!("ndim {} is negative", t.ndim))?;
    let read = |p: *mut i64| -> Result<Vec<i64>, String> {
        if ndim == 0 {
            return Ok(Vec::new());
        }
        if p.is_null() {
            return Err("a tensor with dimensions has no shape".to_string());
        }
        // SAFETY: the caller guarantees `ndim` values behind a non-null pointer.
        Ok(unsafe { std::slice::from_raw_parts(p, ndim) }.to_vec())
    };
    let shape = read(t.shape)?;
    if let Some(s) = shape.iter().find(|&&s| s < 0) {
        return Err(format!("shape {shape:?} has a negative size {s}"));
    }
    let strides = if t.strides.is_null() {
        c_order(&shape)
    } else {
        read(t.strides)?
    };
    Ok(Description {
        address: (t.data as u64).wrapping_add(t.byte_offset),
        device: t.device,
        dtype: dtype(t.dtype),
        shape,
        strides,
        read_only,
    })
}

/// C order's strides, in elements, for `shape`.
pub fn c_order(shape: &[i64]) -> Vec<i64> {
    let mut strides = vec![0; shape.len()];
    let mut step = 1;
    for (stride, &size) in strides.iter_mut().zip(shape).rev() {
        *stride = step;
        step *= size.max(1);
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: &mut [i64], strides: Option<&mut [i64]>, dtype: DLDataType) -> DLTensor {
        DLTensor {
            data: 0x7000_0000usize as *mut c_void,
            device: DLDevice {
                device_type: CUDA,
                device_id: 1,
            },
            ndim: shape.len() as i32,
            dtype,
            shape: shape.as_mut_ptr(),
            strides: strides.map_or(std::ptr::null_mut(), |s| s.as_mut_ptr()),
            byte_offset: 64,
        }
    }

    const F32: DLDataType = DLDataType {
        code: 2,
        bits: 32,
        lanes: 1,
    };

    #[test]
    fn a_tensor_is_read_with_its_offset_and_strides() {
        let mut shape = [2, 3, 4];
        let mut strides = [1, 2, 6];
        let t = tensor(&mut shape, Some(&mut strides), F32);
        // SAFETY: a live tensor with three sizes and strides.
        let d = unsafe { describe(&t, true) }.unwrap();
        assert_eq!(d.address, 0x7000_0040);
        assert_eq!(
            d.device,
            DLDevice {
                device_type: CUDA,
                device_id: 1
            }
        );
        assert_eq!(d.dtype, Ok(Dtype::F32));
        assert_eq!(
            (&d.shape[..], &d.strides[..]),
            (&[2, 3, 4][..], &[1, 2, 6][..])
        );
        assert!(d.read_only && d.on_gpu());
    }

    #[test]
    fn null_strides_are_c_order_and_zero_dimensions_need_no_shape() {
        let mut shape = [2, 0, 5];
        let t = tensor(&mut shape, None, F32);
        // SAFETY: as above.
        let d = unsafe { describe(&t, false) }.unwrap();
        assert_eq!(d.strides, vec![5, 5, 1]);
        assert!(d.is_empty());
        let scalar = DLTensor {
            ndim: 0,
            shape: std::ptr::null_mut(),
            ..tensor(&mut [], None, F32)
        };
        // SAFETY: no dimensions: nothing is read behind the null pointers.
        let d = unsafe { describe(&scalar, false) }.unwrap();
        assert_eq!((d.len(), d.shape.len()), (1, 0));
    }

    #[test]
    fn malformed_tensors_are_errors() {
        let mut shape = [2, -1];
        let t = tensor(&mut shape, None, F32);
        // SAFETY: as above.
        let error = unsafe { describe(&t, false) }.unwrap_err();
        assert!(error.contains("negative size -1"), "{error}");
        let t = DLTensor {
            ndim: 2,
            shape: std::ptr::null_mut(),
            ..tensor(&mut [], None, F32)
        };
        // SAFETY: a null shape is checked before it is read.
        assert!(unsafe { describe(&t, false) }.is_err());
    }

    #[test]
    fn types_are_named_as_numpy_names_them() {
        let t = |code, bits, lanes| dtype(DLDataType { code, bits, lanes });
        assert_eq!(t(2, 16, 1), Ok(Dtype::F16));
        assert_eq!(t(2, 64, 1), Ok(Dtype::F64));
        assert_eq!(t(4, 16, 1), Ok(Dtype::Bf16));
        assert_eq!(t(0, 32, 1), Err("int32".into()));
        assert_eq!(t(1, 8, 1), Err("uint8".into()));
        assert_eq!(t(5, 64, 1), Err("complex64".into()));
        assert_eq!(t(6, 8, 1), Err("bool".into()));
        assert_eq!(t(2, 32, 4), Err("float32x4".into()));
        assert_eq!(t(9, 8, 1), Err("DLPack type code 9".into()));
    }

    #[test]
    fn the_structures_have_dlpacks_layout() {
        // dlpack.h on a 64-bit machine.
        assert_eq!(std::mem::size_of::<DLTensor>(), 48);
        assert_eq!(std::mem::offset_of!(DLManagedTensor, deleter), 56);
        assert_eq!(
            std::mem::offset_of!(DLManagedTensorVersioned, dl_tensor),
            32
        );
        assert_eq!(std::mem::size_of::<DLManagedTensorVersioned>(), 80);
    }
}
