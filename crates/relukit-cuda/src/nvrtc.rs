//! NVRTC, the CUDA runtime compiler, loaded at run time from a place the caller can
//! choose: `RELUKIT_NVRTC_DIR` (a folder holding `libnvrtc.so.*`, e.g. the
//! `nvidia/cu13/lib` folder of PyPI's `nvidia-cuda-nvrtc` package, or PyTorch's), else
//! whatever the dynamic loader finds (`libnvrtc.so.13`, `.12`, `libnvrtc.so`), else
//! `/usr/local/cuda/lib64`. NVRTC loads its builtins library by name, so the one in the
//! chosen folder is loaded first.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW, Symbol};

use crate::Error;

type Program = *mut c_void;
type Status = c_int;

/// The NVRTC functions relukit calls.
struct Api {
    version: unsafe extern "C" fn(*mut c_int, *mut c_int) -> Status,
    create: unsafe extern "C" fn(
        *mut Program,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> Status,
    compile: unsafe extern "C" fn(Program, c_int, *const *const c_char) -> Status,
    log_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    log: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    ptx_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    ptx: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    cubin_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    cubin: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    destroy: unsafe extern "C" fn(*mut Program) -> Status,
    /// Where it was loaded from.
    origin: String,
}

/// Candidate files or names, in order of preference.
fn candidates() -> Vec<PathBuf> {
    let mut list = Vec::new();
    if let Some(dir) = std::env::var_os("RELUKIT_NVRTC_DIR") {
        list.extend(nvrtc_files(Path::new(&dir)));
    }
    for name in ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"] {
        list.push(PathBuf::from(name));
    }
    list.extend(nvrtc_files(Path::new("/usr/local/cuda/lib64")));
    list
}

/// `libnvrtc.so.N` files in `dir` (not the `.alt` variant), newest first.
fn nvrtc_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("libnvrtc.so") && !name.contains(".alt")
        })
        .collect();
    files.sort();
    files.reverse();
    files
}

/// Loads `libnvrtc-builtins` from `dir` (any version there), so that NVRTC, which
/// opens it by name, finds this one.
fn preload_builtins(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("libnvrtc-builtins.so") && !name.contains(".alt") {
            // SAFETY: loading a shared library runs its initialisers; NVRTC's builtins
            // library is NVIDIA's and has none that depend on us. It stays loaded for
            // the life of the process (leaked on purpose: NVRTC needs it).
            if let Ok(lib) = unsafe { Library::open(Some(entry.path()), RTLD_NOW | RTLD_GLOBAL) } {
                std::mem::forget(lib);
            }
        }
    }
}

fn load() -> Result<Api, String> {
    let mut tried = Vec::new();
    for candidate in candidates() {
        if let Some(dir) = candidate.parent().filter(|d| !d.as_os_str().is_empty()) {
            preload_builtins(dir);
        }
        // SAFETY: as above: NVIDIA's NVRTC library, kept loaded for the process.
        match unsafe { Library::open(Some(&candidate), RTLD_NOW | RTLD_GLOBAL) } {
            Ok(lib) => {
                let origin = candidate.display().to_string();
                let lib: &'static Library = Box::leak(Box::new(lib));
                return bind(lib, origin).map_err(|e| format!("{}: {e}", candidate.display()));
            }
            Err(_) => tried.push(candidate.display().to_string()),
        }
    }
    Err(format!(
        "tried {} (set RELUKIT_NVRTC_DIR to the folder holding libnvrtc.so.*)",
        tried.join(", ")
    ))
}

fn bind(lib: &'static Library, origin: String) -> Result<Api, libloading::Error> {
    /// A symbol of `lib` as a plain function pointer.
    ///
    /// # Safety
    /// `F` must be the C signature of `name` in NVRTC's `nvrtc.h`.
    unsafe fn get<F: Copy>(lib: &'static Library, name: &[u8]) -> Result<F, libloading::Error> {
        // SAFETY: the caller gives the symbol's true type; the library is never unloaded.
        let symbol: Symbol<F> = unsafe { lib.get(name)? };
        Ok(*symbol)
    }
    // SAFETY: each type below is the signature nvrtc.h declares for that name.
    unsafe {
        Ok(Api {
            version: get(lib, b"nvrtcVersion\0")?,
            create: get(lib, b"nvrtcCreateProgram\0")?,
            compile: get(lib, b"nvrtcCompileProgram\0")?,
            log_size: get(lib, b"nvrtcGetProgramLogSize\0")?,
            log: get(lib, b"nvrtcGetProgramLog\0")?,
            ptx_size: get(lib, b"nvrtcGetPTXSize\0")?,
            ptx: get(lib, b"nvrtcGetPTX\0")?,
            cubin_size: get(lib, b"nvrtcGetCUBINSize\0")?,
            cubin: get(lib, b"nvrtcGetCUBIN\0")?,
            destroy: get(lib, b"nvrtcDestroyProgram\0")?,
            origin,
        })
    }
}

fn api() -> Result<&'static Api, Error> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load)
        .as_ref()
        .map_err(|e| Error::NoCompiler(e.clone()))
}

/// NVRTC's version and the file it was loaded from.
pub fn version() -> Result<((u32, u32), String), Error> {
    let api = api()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: two valid out-pointers, as nvrtcVersion requires.
    let status = unsafe { (api.version)(&mut major, &mut minor) };
    check(status, "nvrtcVersion")?;
    Ok(((major as u32, minor as u32), api.origin.clone()))
}

fn check(status: Status, what: &str) -> Result<(), Error> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::Compile(format!(
            "{what} returned NVRTC error {status}"
        )))
    }
}

/// What to compile to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Machine code for one GPU (`sm_XY`): loads on any driver of the same major CUDA
    /// version, whatever NVRTC's minor version.
    Cubin,
    /// PTX for a virtual architecture (`compute_XY`), compiled by the driver at load.
    Ptx,
}

/// Compiles `source` for compute capability `arch` (e.g. `(9, 0)`).
pub fn compile(source: &str, arch: (u32, u32), output: Output) -> Result<Vec<u8>, Error> {
    let api = api()?;
    let source = CString::new(source).expect("kernel source has no NUL");
    let name = c"relukit_kernels.cu";
    let mut program: Program = std::ptr::null_mut();
    // SAFETY: valid C strings and an out-pointer; no headers are passed (count 0).
    let status = unsafe {
        (api.create)(
            &mut program,
            source.as_ptr(),
            name.as_ptr(),
            0,
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    check(status, "nvrtcCreateProgram")?;
    let result = compile_program(api, program, arch, output);
    // SAFETY: `program` was created above and is destroyed once.
    unsafe { (api.destroy)(&mut program) };
    result
}

fn compile_program(
    api: &Api,
    program: Program,
    arch: (u32, u32),
    output: Output,
) -> Result<Vec<u8>, Error> {
    let kind = match output {
        Output::Cubin => "sm",
        Output::Ptx => "compute",
    };
    let options: Vec<CString> = [
        format!("--gpu-architecture={kind}_{}{}", arch.0, arch.1),
        "--fmad=false".to_string(),
        "--ftz=false".to_string(),
        "-default-device".to_string(),
    ]
    .into_iter()
    .map(|o| CString::new(o).expect("no NUL"))
    .collect();
    let pointers: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
    // SAFETY: `program` is live; `pointers` holds `len` valid C strings.
    let status = unsafe { (api.compile)(program, pointers.len() as c_int, pointers.as_ptr()) };
    if status != 0 {
        let mut size = 0usize;
        // SAFETY: live program, valid out-pointer; then a buffer of the size given.
        let log = unsafe {
            (api.log_size)(program, &mut size);
            let mut buffer = vec![0 as c_char; size.max(1)];
            (api.log)(program, buffer.as_mut_ptr());
            CStr::from_ptr(buffer.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        return Err(Error::Compile(format!(
            "error {status} for {} with options {options:?}:\n{log}",
            arch_name(arch)
        )));
    }
    let (size_fn, get_fn, what) = match output {
        Output::Cubin => (api.cubin_size, api.cubin, "nvrtcGetCUBIN"),
        Output::Ptx => (api.ptx_size, api.ptx, "nvrtcGetPTX"),
    };
    let mut size = 0usize;
    // SAFETY: live, compiled program; valid out-pointer.
    check(unsafe { size_fn(program, &mut size) }, what)?;
    let mut bytes = vec![0u8; size];
    // SAFETY: `bytes` has the size NVRTC reported.
    check(unsafe { get_fn(program, bytes.as_mut_ptr().cast()) }, what)?;
    Ok(bytes)
}

fn arch_name(arch: (u32, u32)) -> String {
    format!("compute capability {}.{}", arch.0, arch.1)
}

/// The `.version X.Y` a PTX text declares.
pub fn ptx_version(ptx: &str) -> Option<(u32, u32)> {
    let line = ptx
        .lines()
        .find_map(|l| l.trim().strip_prefix(".version"))?;
    let (major, minor) = line.trim().split_once('.')?;
    Some((major.trim().parse().ok()?, minor.trim().parse().ok()?))
}

/// The newest PTX ISA a driver of CUDA version `cuda` JIT-compiles, from NVIDIA's PTX
/// ISA release notes; `None` for a version newer than this table (assumed to accept
/// what NVRTC emits).
pub fn newest_ptx_for_driver(cuda: (u32, u32)) -> Option<(u32, u32)> {
    match cuda {
        (11, minor) if minor <= 8 => Some((7, minor)),
        (12, minor) if minor <= 5 => Some((8, minor)),
        (12, 6) => Some((8, 5)),
        (12, 7) => Some((8, 6)),
        (12, 8) => Some((8, 7)),
        (12, 9) => Some((8, 8)),
        (13, minor) if minor <= 2 => Some((9, minor)),
        (major, _) if major < 11 => Some((6, 0)),
        _ => None,
    }
}

/// Whether a driver of CUDA version `driver_cuda` can load `ptx`; a clear error naming
/// both versions if not.
pub fn check_ptx(ptx: &str, driver_cuda: (u32, u32)) -> Result<(), Error> {
    let (Some(version), Some(accepts)) = (ptx_version(ptx), newest_ptx_for_driver(driver_cuda))
    else {
        return Ok(());
    };
    if version <= accepts {
        Ok(())
    } else {
        Err(Error::PtxTooNew {
            ptx: version,
            driver_accepts: accepts,
            driver_cuda,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptx_version_is_read_from_the_header() {
        let ptx = "//\n// Generated by NVIDIA NVVM Compiler\n\n.version 9.2\n.target sm_90\n";
        assert_eq!(ptx_version(ptx), Some((9, 2)));
        assert_eq!(ptx_version(".target sm_90"), None);
    }

    #[test]
    fn a_ptx_newer_than_the_driver_is_a_clear_error() {
        let ptx = ".version 9.2\n.target sm_90\n";
        let err = check_ptx(ptx, (13, 0)).unwrap_err();
        assert_eq!(
            err,
            Error::PtxTooNew {
                ptx: (9, 2),
                driver_accepts: (9, 0),
                driver_cuda: (13, 0)
            }
        );
        let message = err.to_string();
        assert!(
            message.contains("PTX ISA 9.2")
                && message.contains("CUDA 13.0")
                && message.contains("up to 9.0")
        );
        assert!(check_ptx(".version 9.0\n", (13, 0)).is_ok());
        assert!(check_ptx(".version 8.8\n", (12, 9)).is_ok());
        assert!(check_ptx(".version 8.8\n", (12, 8)).is_err());
    }

    #[test]
    fn the_driver_table_is_monotone() {
        let versions: Vec<(u32, u32)> = (0..=8)
            .map(|m| (11, m))
            .chain((0..=9).map(|m| (12, m)))
            .chain((0..=2).map(|m| (13, m)))
            .collect();
        let ptx: Vec<(u32, u32)> = versions
            .iter()
            .map(|&v| newest_ptx_for_driver(v).unwrap())
            .collect();
        assert!(ptx.windows(2).all(|w| w[0] <= w[1]), "{ptx:?}");
        assert_eq!(newest_ptx_for_driver((13, 0)), Some((9, 0)));
    }
}
