//! The GPU benchmark behind `relukit bench --device cuda`: each operation against a
//! device-to-device copy of the same bytes, measured in the same run with CUDA events.

use std::sync::Arc;
use std::time::Instant;

use relukit::{ChannelLayout, bf16};
use relukit_cuda::cudarc::driver::{
    CudaContext, CudaSlice, CudaStream, DeviceRepr, ValidAsZeroBits,
};

use relukit_cuda::{CudaFloat, Error, Gpu};

/// One measurement.
#[derive(Debug, Clone)]
pub struct Row {
    /// `relu`, `prelu_backward NHWC`, ...
    pub operation: String,
    /// `f32` or `bf16`.
    pub dtype: &'static str,
    /// Elements per call.
    pub elements: usize,
    /// Bytes read and written per call.
    pub bytes: usize,
    /// Mean microseconds per call.
    pub micros: f64,
    /// Mean microseconds of a device-to-device copy moving the same bytes.
    pub copy_micros: f64,
}

impl Row {
    /// Bandwidth in GB/s (bytes read plus written).
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 / self.micros / 1e3
    }
    /// Speed relative to the copy of the same bytes.
    pub fn vs_copy(&self) -> f64 {
        self.copy_micros / self.micros
    }
}

/// Mean time of `f` over `reps` calls, in microseconds, by CUDA events after warming up.
fn time(stream: &Arc<CudaStream>, reps: usize, mut f: impl FnMut()) -> Result<f64, Error> {
    for _ in 0..3 {
        f();
    }
    stream.synchronize()?;
    let flags = Some(relukit_cuda::cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
    let start = stream.record_event(flags)?;
    let host = Instant::now();
    for _ in 0..reps {
        f();
    }
    let end = stream.record_event(flags)?;
    end.synchronize()?;
    let host_micros = host.elapsed().as_secs_f64() * 1e6 / reps as f64;
    let device_micros = f64::from(start.elapsed_ms(&end)?) * 1e3 / reps as f64;
    // Small calls are bound by the host's launch rate: report what the caller waits.
    Ok(device_micros.max(host_micros.min(device_micros * 100.0)))
}

/// Device-to-device copy of `bytes / 2` bytes read and as many written.
fn copy_micros<T: DeviceRepr>(
    stream: &Arc<CudaStream>,
    src: &CudaSlice<T>,
    dst: &mut CudaSlice<T>,
    reps: usize,
) -> Result<f64, Error> {
    time(stream, reps, || stream.memcpy_dtod(src, dst).expect("copy"))
}

fn reps_for(elements: usize) -> usize {
    if elements >= 1 << 26 {
        20
    } else if elements >= 1 << 18 {
        200
    } else {
        2000
    }
}

fn run_type<T: CudaFloat + ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    dtype: &'static str,
    elements: usize,
    rows: &mut Vec<Row>,
) -> Result<(), Error> {
    let size = size_of::<T>();
    let reps = reps_for(elements);
    let host: Vec<T> = (0..elements)
        .map(|i| T::from_f64(((i % 17) as f64 - 8.0) * 0.25))
        .collect();
    let x = stream.clone_htod(&host)?;
    let g = stream.clone_htod(&host)?;
    let mut y = stream.alloc_zeros::<T>(elements)?;
    let mut copy_dst = stream.alloc_zeros::<T>(elements)?;
    let copy = copy_micros(stream, &x, &mut copy_dst, reps)?;
    // A three-stream copy: two reads and one write of the same bytes.
    let copy3 = copy * 1.5;
    let mut push = |operation: String, streams: usize, micros: f64| {
        rows.push(Row {
            operation,
            dtype,
            elements,
            bytes: streams * elements * size,
            micros,
            copy_micros: if streams == 2 { copy } else { copy3 },
        })
    };
    let t = time(stream, reps, || {
        relukit_cuda::relu(stream, &x, &mut y).expect("relu")
    })?;
    push("relu".into(), 2, t);
    let t = time(stream, reps, || {
        relukit_cuda::leaky_relu(stream, &x, 0.01, &mut y).expect("leaky_relu")
    })?;
    push("leaky_relu".into(), 2, t);
    let t = time(stream, reps, || {
        relukit_cuda::relu_backward(stream, &g, &x, &mut y).expect("relu_backward")
    })?;
    push("relu_backward".into(), 3, t);
    let t = time(stream, reps, || {
        relukit_cuda::leaky_relu_backward(stream, &g, &x, 0.01, &mut y)
            .expect("leaky_relu_backward")
    })?;
    push("leaky_relu_backward".into(), 3, t);
    for (name, layout) in layouts(elements) {
        let channels = layout.channels();
        let w = stream.clone_htod(&vec![T::from_f64(0.25); channels])?;
        let mut gw = stream.alloc_zeros::<T>(channels)?;
        let t = time(stream, reps, || {
            relukit_cuda::prelu(stream, &x, &w, layout, &mut y).expect("prelu")
        })?;
        push(format!("prelu {name}"), 2, t);
        let t = time(stream, reps, || {
            relukit_cuda::prelu_backward(stream, &g, &x, &w, layout, &mut y, &mut gw)
                .expect("prelu_backward")
        })?;
        push(format!("prelu_backward {name}"), 3, t);
    }
    Ok(())
}

/// NCHW and NHWC layouts of `elements` elements: a batch of 64 images (16 at 2^20, one
/// below) of 64 channels (4 for tiny calls), square when the size allows.
pub fn layouts(elements: usize) -> [(&'static str, ChannelLayout); 2] {
    let (batch, channels) = match elements {
        e if e >= 1 << 24 => (64, 64),
        e if e >= 1 << 16 => (16, 64),
        _ => (1, 4),
    };
    let hw = elements / (batch * channels);
    let side = (hw as f64).sqrt() as usize;
    let (h, w) = if side * side == hw {
        (side, side)
    } else {
        (hw, 1)
    };
    [
        ("NCHW", ChannelLayout::nchw(batch, channels, h, w)),
        ("NHWC", ChannelLayout::nhwc(batch, h, w, channels)),
    ]
}

/// Every operation in f32 and bf16 at each of `sizes` elements, on GPU `ordinal`.
pub fn run(ordinal: usize, sizes: &[usize]) -> Result<(String, Vec<Row>), Error> {
    let gpu = Gpu::get(ordinal)?;
    let context = CudaContext::new(ordinal)?;
    let stream = context.default_stream();
    let mut rows = Vec::new();
    for &elements in sizes {
        run_type::<f32>(&stream, "f32", elements, &mut rows)?;
        run_type::<bf16>(&stream, "bf16", elements, &mut rows)?;
    }
    Ok((gpu.description().to_string(), rows))
}

/// The rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| operation | type | elements | us/call | GB/s | copy us | vs copy |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | 2^{} | {:.1} | {:.0} | {:.1} | {:.2}x |\n",
            r.operation,
            r.dtype,
            r.elements.trailing_zeros(),
            r.micros,
            r.gbps(),
            r.copy_micros,
            r.vs_copy()
        ));
    }
    out
}
