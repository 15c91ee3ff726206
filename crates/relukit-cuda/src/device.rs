//! One [`Gpu`] per device and process: the driver checked, the kernels compiled by
//! NVRTC for the device's compute capability (machine code, or PTX the driver can
//! load) and loaded once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::sys::CUdevice_attribute;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule};
use cudarc::nvrtc::Ptx;

use crate::Error;
use crate::element::Dtype;
use crate::nvrtc::{self, Output};

/// The kernels' CUDA C++ source.
pub const SOURCE: &str = include_str!("kernels.cu");

/// The operations with one kernel per element type in `kernels.cu` (`relu_f32`, ...).
pub const OPERATIONS: [&str; 8] = [
    "relu",
    "relu_derivative",
    "relu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "prelu",
    "prelu_backward",
    "prelu_grad_weight",
];

/// A GPU with relukit's kernels loaded.
pub struct Gpu {
    context: Arc<CudaContext>,
    _module: Arc<CudaModule>,
    /// Every kernel, `OPERATIONS`-major then `Dtype::ALL` (see [`Gpu::function`]).
    functions: Vec<CudaFunction>,
    sms: u32,
    description: String,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// Whether the CUDA driver library can be loaded here.
pub fn driver_present() -> bool {
    // SAFETY: only tries to open libcuda under its usual names; nothing is called.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// The driver's CUDA version, e.g. `(13, 0)`.
pub fn driver_version() -> Result<(u32, u32), Error> {
    if !driver_present() {
        return Err(Error::NoDriver);
    }
    let mut version = 0;
    // SAFETY: one valid out-pointer; cuDriverGetVersion needs no cuInit.
    let status = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version) };
    if status != cudarc::driver::sys::CUresult::CUDA_SUCCESS {
        return Err(Error::Driver(format!("cuDriverGetVersion: {status:?}")));
    }
    Ok(((version / 1000) as u32, ((version % 1000) / 10) as u32))
}

impl Gpu {
    /// The GPU of ordinal `ordinal` (its primary context, the one PyTorch and CuPy use),
    /// with the kernels compiled and loaded on the first call in the process.
    ///
    /// # Errors
    /// [`Error::NoDriver`] without an NVIDIA driver; [`Error::NoCompiler`] without
    /// NVRTC; [`Error::PtxTooNew`] if the driver cannot load this NVRTC's PTX;
    /// [`Error::Driver`] for a missing device.
    pub fn get(ordinal: usize) -> Result<Arc<Gpu>, Error> {
        static GPUS: OnceLock<Mutex<HashMap<usize, Arc<Gpu>>>> = OnceLock::new();
        let gpus = GPUS.get_or_init(Default::default);
        let mut gpus = gpus.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gpu) = gpus.get(&ordinal) {
            return Ok(gpu.clone());
        }
        let gpu = Arc::new(Gpu::load(ordinal)?);
        gpus.insert(ordinal, gpu.clone());
        Ok(gpu)
    }

    fn load(ordinal: usize) -> Result<Gpu, Error> {
        let driver_cuda = driver_version()?;
        let context = CudaContext::new(ordinal)?;
        let (major, minor) = context.compute_capability()?;
        let arch = (major as u32, minor as u32);
        let sms =
            context.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32;
        let name = context.name()?;
        let (nvrtc_version, nvrtc_origin) = nvrtc::version()?;
        // Machine code for this GPU first: it loads on any driver of its major version.
        // A GPU newer than this NVRTC gets PTX, which the driver must accept.
        let (code, how) = match nvrtc::compile(SOURCE, arch, Output::Cubin) {
            Ok(cubin) => (Ptx::from_binary(cubin), "machine code"),
            Err(_) => {
                let ptx = nvrtc::compile(SOURCE, arch, Output::Ptx)?;
                let text = String::from_utf8_lossy(&ptx)
                    .trim_end_matches('\0')
                    .to_string();
                nvrtc::check_ptx(&text, driver_cuda)?;
                (Ptx::from_src(text), "PTX")
            }
        };
        let module = context.load_module(code)?;
        let mut functions = Vec::with_capacity(OPERATIONS.len() * Dtype::ALL.len());
        for operation in OPERATIONS {
            for dtype in Dtype::ALL {
                functions.push(module.load_function(&format!("{operation}_{}", dtype.suffix()))?);
            }
        }
        let description = format!(
            "{name} (compute capability {major}.{minor}, {sms} multiprocessors), driver CUDA {}.{}, \
             kernels compiled to {how} by NVRTC {}.{} ({nvrtc_origin})",
            driver_cuda.0, driver_cuda.1, nvrtc_version.0, nvrtc_version.1
        );
        Ok(Gpu {
            context,
            _module: module,
            functions,
            sms,
            description,
        })
    }

    /// The CUDA context (the device's primary context).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.context
    }

    /// Multiprocessors on the device.
    pub fn multiprocessors(&self) -> u32 {
        self.sms
    }

    /// The device, driver and compiler, in words.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub(crate) fn function(&self, operation: &str, dtype: Dtype) -> &CudaFunction {
        // Found without allocating: a launch is a few microseconds.
        let index = OPERATIONS
            .iter()
            .position(|&o| o == operation)
            .expect("every launch names an operation of OPERATIONS");
        &self.functions[index * Dtype::ALL.len() + dtype.index()]
    }
}
