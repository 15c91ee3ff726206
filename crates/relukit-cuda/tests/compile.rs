//! Without a GPU: every kernel compiles with NVRTC for sm_80 (A100) and sm_90 (H100),
//! to machine code and to PTX, and `ptxas` assembles the PTX; and a machine without a
//! driver gets a clear error, not a crash.
//!
//! NVRTC is found as relukit finds it at run time (`RELUKIT_NVRTC_DIR` first); `ptxas`
//! is `RELUKIT_PTXAS`, else `../bin/ptxas` beside that folder (PyPI's
//! `nvidia-cuda-nvcc` layout). The test command installs both from PyPI and sets
//! `RELUKIT_REQUIRE_NVRTC=1`, so that a missing compiler fails there; elsewhere these
//! tests say what they skipped.

use std::path::PathBuf;
use std::process::Command;

use relukit_cuda::compiler::{self, Output};
use relukit_cuda::{Error, Gpu, OPERATIONS, SOURCE};

const ARCHS: [(u32, u32); 2] = [(8, 0), (9, 0)];

/// Whether NVRTC is here; panics if it must be and is not.
fn nvrtc_available() -> bool {
    match compiler::version() {
        Ok((version, origin)) => {
            eprintln!("NVRTC {}.{} from {origin}", version.0, version.1);
            true
        }
        Err(e) => {
            assert!(
                std::env::var_os("RELUKIT_REQUIRE_NVRTC").is_none(),
                "RELUKIT_REQUIRE_NVRTC is set but NVRTC is missing: {e}"
            );
            eprintln!("skipped: {e}");
            false
        }
    }
}

fn ptxas() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RELUKIT_PTXAS") {
        return Some(PathBuf::from(path));
    }
    let dir = PathBuf::from(std::env::var_os("RELUKIT_NVRTC_DIR")?);
    let candidate = dir.parent()?.join("bin/ptxas");
    candidate.exists().then_some(candidate)
}

#[test]
fn every_kernel_compiles_to_ptx_and_ptxas_assembles_it() {
    if !nvrtc_available() {
        return;
    }
    let ptxas = ptxas();
    assert!(
        ptxas.is_some() || std::env::var_os("RELUKIT_REQUIRE_NVRTC").is_none(),
        "RELUKIT_REQUIRE_NVRTC is set but ptxas is missing (RELUKIT_PTXAS)"
    );
    let dir = std::env::temp_dir().join(format!("relukit-cuda-ptx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for arch in ARCHS {
        let ptx = compiler::compile(SOURCE, arch, Output::Ptx).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8(ptx).unwrap();
        let text = text.trim_end_matches('\0');
        let version = compiler::ptx_version(text).expect("PTX declares its version");
        eprintln!(
            "compute_{}{}: PTX ISA {}.{}, {} bytes",
            arch.0,
            arch.1,
            version.0,
            version.1,
            text.len()
        );
        for operation in OPERATIONS {
            for dtype in ["f32", "f64", "f16", "bf16"] {
                let entry = format!(".entry {operation}_{dtype}(");
                assert!(text.contains(&entry), "no {entry} in the PTX for {arch:?}");
            }
        }
        // --fmad=false: no fused multiply-add anywhere (products are rounded once, alone).
        assert!(
            !text.contains("fma.rn.f32") && !text.contains("fma.rn.f64"),
            "a fused multiply-add"
        );
        if let Some(ptxas) = &ptxas {
            let file = dir.join(format!("kernels_{}{}.ptx", arch.0, arch.1));
            std::fs::write(&file, text).unwrap();
            let out = dir.join(format!("kernels_{}{}.cubin", arch.0, arch.1));
            let status = Command::new(ptxas)
                .arg(format!("-arch=sm_{}{}", arch.0, arch.1))
                .arg(&file)
                .arg("-o")
                .arg(&out)
                .output()
                .expect("ptxas runs");
            assert!(
                status.status.success(),
                "ptxas sm_{}{}: {}",
                arch.0,
                arch.1,
                String::from_utf8_lossy(&status.stderr)
            );
            assert!(std::fs::metadata(&out).unwrap().len() > 0);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_kernel_compiles_to_machine_code() {
    if !nvrtc_available() {
        return;
    }
    for arch in ARCHS {
        let cubin =
            compiler::compile(SOURCE, arch, Output::Cubin).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&cubin[..4], b"\x7fELF", "a cubin is an ELF file");
    }
}

#[test]
fn a_compile_error_carries_nvrtc_s_log() {
    if !nvrtc_available() {
        return;
    }
    let err = compiler::compile(
        "extern \"C\" __global__ void k() { undefined_name; }",
        (9, 0),
        Output::Ptx,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Compile(_)), "{err:?}");
    assert!(message.contains("undefined_name"), "{message}");
}

#[test]
fn no_driver_is_a_clear_error() {
    if relukit_cuda::driver_present() {
        eprintln!("skipped: this machine has a CUDA driver");
        return;
    }
    let err = Gpu::get(0).unwrap_err();
    assert_eq!(err, Error::NoDriver);
    assert!(err.to_string().contains("libcuda.so"));
    assert_eq!(relukit_cuda::driver_version().unwrap_err(), Error::NoDriver);
}
