//! On a GPU: every operation, bit for bit against relukit's CPU functions (which are
//! tested against `relukit::reference`), for f32, f64, f16 and bf16, over lengths
//! 0..=300 and larger, misaligned starts, every special value and all 65,536 16-bit
//! patterns; PReLU in NCHW, NHWC and other layouts, with its weight gradient within the
//! CPU's error bound of the exact sum and identical over 5 runs; and the CPU's errors.
//!
//! Without a driver these tests skip, saying so; `RELUKIT_REQUIRE_GPU=1` (set by
//! `scripts/gpu-check.sh`) makes a missing GPU a failure.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use relukit::{ChannelLayout, ErrorKind, bf16, f16, reference};
use relukit_cuda::{CudaFloat, Error};

fn stream() -> Option<Arc<CudaStream>> {
    let required = std::env::var_os("RELUKIT_REQUIRE_GPU").is_some();
    if !relukit_cuda::driver_present() {
        assert!(
            !required,
            "RELUKIT_REQUIRE_GPU is set but there is no CUDA driver"
        );
        eprintln!("skipped: no CUDA driver");
        return None;
    }
    match CudaContext::new(0) {
        Ok(context) => Some(context.default_stream()),
        Err(e) => {
            assert!(!required, "RELUKIT_REQUIRE_GPU is set but no GPU: {e:?}");
            eprintln!("skipped: {e:?}");
            None
        }
    }
}

/// Test data on bits.
trait Sample: CudaFloat + cudarc::driver::ValidAsZeroBits + Copy + PartialEq + std::fmt::Debug {
    const BITS: u32;
    fn from_bits64(bits: u64) -> Self;
    fn to_bits64(self) -> u64;
    fn specials() -> Vec<Self>;
    fn from_value(v: f64) -> Self;
    fn as_f64(self) -> f64;
    /// Relative precision of the type.
    const EPSILON: f64;
}

macro_rules! sample {
    ($t:ty, $bits:expr, $eps:expr, $from:expr, $to:expr, $f64:expr, $as:expr, [$($s:expr),*]) => {
        impl Sample for $t {
            const BITS: u32 = $bits;
            const EPSILON: f64 = $eps;
            fn from_bits64(bits: u64) -> Self { $from(bits) }
            fn to_bits64(self) -> u64 { $to(self) }
            fn specials() -> Vec<Self> { vec![$($from($s as u64)),*] }
            fn from_value(v: f64) -> Self { $f64(v) }
            fn as_f64(self) -> f64 { $as(self) }
        }
    };
}
sample!(
    f32,
    32,
    f32::EPSILON as f64,
    |b: u64| f32::from_bits(b as u32),
    |v: f32| v.to_bits() as u64,
    |v: f64| v as f32,
    |v: f32| v as f64,
    [
        0x0000_0000u32,
        0x8000_0000u32,
        0x7f80_0000u32,
        0xff80_0000u32,
        0x7fc0_0000u32,
        0xffc0_0000u32,
        0x7f80_0001u32,
        0xff80_1234u32,
        0x7fc1_2345u32,
        1u32,
        0x8000_0001u32,
        0x007f_ffffu32,
        0x7f7f_ffffu32,
        0xff7f_ffffu32,
        0x3f80_0000u32,
        0xbf80_0000u32
    ]
);
sample!(
    f64,
    64,
    f64::EPSILON,
    |b: u64| f64::from_bits(b),
    |v: f64| v.to_bits(),
    |v: f64| v,
    |v: f64| v,
    [
        0u64,
        0x8000_0000_0000_0000u64,
        0x7ff0_0000_0000_0000u64,
        0xfff0_0000_0000_0000u64,
        0x7ff8_0000_0000_0000u64,
        0xfff8_0000_0000_0000u64,
        0x7ff0_0000_0000_0001u64,
        0xfff4_0000_0000_1234u64,
        1u64,
        0x8000_0000_0000_0001u64,
        0x7fef_ffff_ffff_ffffu64,
        0x3ff0_0000_0000_0000u64,
        0xbff0_0000_0000_0000u64
    ]
);
sample!(
    f16,
    16,
    0.000977,
    |b: u64| f16::from_bits(b as u16),
    |v: f16| v.to_bits() as u64,
    |v: f64| f16::from_f64(v),
    |v: f16| v.to_f64(),
    [
        0u16, 0x8000u16, 0x7c00u16, 0xfc00u16, 0x7e00u16, 0xfe00u16, 0x7c01u16, 0xfd23u16, 1u16,
        0x8001u16, 0x7bffu16, 0xfbffu16, 0x3c00u16, 0xbc00u16
    ]
);
sample!(
    bf16,
    16,
    0.0078,
    |b: u64| bf16::from_bits(b as u16),
    |v: bf16| v.to_bits() as u64,
    |v: f64| bf16::from_f64(v),
    |v: bf16| v.to_f64(),
    [
        0u16, 0x8000u16, 0x7f80u16, 0xff80u16, 0x7fc0u16, 0xffc0u16, 0x7f81u16, 0xff92u16, 1u16,
        0x8001u16, 0x7f7fu16, 0xff7fu16, 0x3f80u16, 0xbf80u16
    ]
);

/// SplitMix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A mix of specials, ordinary values of either sign and raw bit patterns.
fn data<T: Sample>(rng: &mut Rng, len: usize) -> Vec<T> {
    let specials = T::specials();
    (0..len)
        .map(|_| match rng.next() % 8 {
            0 | 1 => specials[(rng.next() % specials.len() as u64) as usize],
            2 => T::from_bits64(rng.next() >> (64 - T::BITS)),
            _ => T::from_value((rng.unit() - 0.5) * 8.0),
        })
        .collect()
}

/// Every 16-bit pattern (for the 16-bit types), else random data.
fn every_pattern<T: Sample>(rng: &mut Rng) -> Vec<T> {
    if T::BITS == 16 {
        (0..1u64 << 16).map(T::from_bits64).collect()
    } else {
        data(rng, 1 << 16)
    }
}

#[track_caller]
fn assert_bits<T: Sample>(what: &str, got: &[T], expected: &[T], inputs: &[&[T]]) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        if g.to_bits64() != e.to_bits64() {
            let shown: Vec<String> = inputs
                .iter()
                .map(|x| format!("{:#x}", x[i].to_bits64()))
                .collect();
            panic!(
                "{what}: element {i} of {}: inputs {shown:?} gave {:#x} on the GPU, {:#x} on the CPU",
                got.len(),
                g.to_bits64(),
                e.to_bits64()
            );
        }
    }
}

/// Lengths, then start offsets (in elements: a misaligned start for every type).
/// `RELUKIT_GPU_QUICK=1` (for the sanitizer runs, 10-100 times slower) keeps a few.
fn lengths() -> Vec<usize> {
    if std::env::var_os("RELUKIT_GPU_QUICK").is_some() {
        return (0..=40).chain([257, 4097]).collect();
    }
    (0..=300)
        .chain([1023, 4097, 65_539, (1 << 20) + 3])
        .collect()
}
const OFFSETS: [usize; 3] = [0, 1, 3];

/// `x` on the GPU starting `offset` elements into a buffer (with one element after it,
/// so that no buffer is empty).
fn upload<T: Sample>(stream: &Arc<CudaStream>, x: &[T], offset: usize) -> CudaSlice<T> {
    let mut padded = vec![T::from_bits64(0); offset];
    padded.extend_from_slice(x);
    padded.push(T::from_bits64(0));
    stream.clone_htod(&padded).unwrap()
}

/// A zeroed buffer for `len` elements at `offset` (and one after).
fn zeros<T: Sample>(stream: &Arc<CudaStream>, len: usize, offset: usize) -> CudaSlice<T> {
    stream.alloc_zeros::<T>(len + offset + 1).unwrap()
}

fn elementwise<T: Sample>(stream: &Arc<CudaStream>) {
    let mut rng = Rng(T::BITS as u64);
    let slopes = [0.01, 0.0, -0.5, 3.0, 1e-30, 0.2];
    let mut cases: Vec<(Vec<T>, Vec<T>, usize)> = Vec::new();
    for len in lengths() {
        for &offset in if len <= 300 && len % 7 != 0 {
            &OFFSETS[..1]
        } else {
            &OFFSETS[..]
        } {
            cases.push((data(&mut rng, len), data(&mut rng, len), offset));
        }
    }
    cases.push((every_pattern(&mut rng), data(&mut rng, 1 << 16), 0));
    // Every pattern as the gradient too.
    cases.push((data(&mut rng, 1 << 16), every_pattern(&mut rng), 1));
    for (i, (x, g, offset)) in cases.iter().enumerate() {
        let (len, offset) = (x.len(), *offset);
        let what = |op: &str| {
            format!(
                "{op} {} len {len} offset {offset}",
                std::any::type_name::<T>()
            )
        };
        let dx = upload(stream, x, offset);
        let dg = upload(stream, g, offset);
        let r = offset..offset + len;
        let xv = dx.slice(r.clone());
        let gv = dg.slice(r.clone());
        let mut out = zeros::<T>(stream, len, offset);
        let zero = T::from_bits64(0);
        let mut expected = vec![zero; len];
        let fetch = |out: &CudaSlice<T>| stream.clone_dtoh(out).unwrap()[r.clone()].to_vec();

        relukit_cuda::relu(stream, &xv, &mut out.slice_mut(r.clone())).unwrap();
        relukit::relu(x, &mut expected).unwrap();
        assert_bits(&what("relu"), &fetch(&out), &expected, &[x]);

        relukit_cuda::relu_derivative(stream, &xv, &mut out.slice_mut(r.clone())).unwrap();
        relukit::relu_derivative(x, &mut expected).unwrap();
        assert_bits(&what("relu_derivative"), &fetch(&out), &expected, &[x]);

        relukit_cuda::relu_backward(stream, &gv, &xv, &mut out.slice_mut(r.clone())).unwrap();
        relukit::relu_backward(g, x, &mut expected).unwrap();
        assert_bits(&what("relu_backward"), &fetch(&out), &expected, &[g, x]);

        let slope = slopes[i % slopes.len()];
        relukit_cuda::leaky_relu(stream, &xv, slope, &mut out.slice_mut(r.clone())).unwrap();
        relukit::leaky_relu(x, slope, &mut expected).unwrap();
        assert_bits(
            &what(&format!("leaky_relu({slope})")),
            &fetch(&out),
            &expected,
            &[x],
        );

        relukit_cuda::leaky_relu_backward(stream, &gv, &xv, slope, &mut out.slice_mut(r.clone()))
            .unwrap();
        relukit::leaky_relu_backward(g, x, slope, &mut expected).unwrap();
        assert_bits(
            &what(&format!("leaky_relu_backward({slope})")),
            &fetch(&out),
            &expected,
            &[g, x],
        );

        // In place: the input buffer rewritten.
        let mut inplace = upload(stream, x, offset);
        relukit_cuda::relu_inplace(stream, &mut inplace.slice_mut(r.clone())).unwrap();
        relukit::relu(x, &mut expected).unwrap();
        assert_bits(&what("relu_inplace"), &fetch(&inplace), &expected, &[x]);

        let mut inplace = upload(stream, x, offset);
        relukit_cuda::leaky_relu_inplace(stream, &mut inplace.slice_mut(r.clone()), slope).unwrap();
        relukit::leaky_relu(x, slope, &mut expected).unwrap();
        assert_bits(
            &what("leaky_relu_inplace"),
            &fetch(&inplace),
            &expected,
            &[x],
        );

        let mut grad = upload(stream, g, offset);
        relukit_cuda::relu_backward_inplace(stream, &mut grad.slice_mut(r.clone()), &xv).unwrap();
        relukit::relu_backward(g, x, &mut expected).unwrap();
        assert_bits(
            &what("relu_backward_inplace"),
            &fetch(&grad),
            &expected,
            &[g, x],
        );
    }
}

#[test]
fn elementwise_f32() {
    if let Some(s) = stream() {
        elementwise::<f32>(&s);
    }
}
#[test]
fn elementwise_f64() {
    if let Some(s) = stream() {
        elementwise::<f64>(&s);
    }
}
#[test]
fn elementwise_f16() {
    if let Some(s) = stream() {
        elementwise::<f16>(&s);
    }
}
#[test]
fn elementwise_bf16() {
    if let Some(s) = stream() {
        elementwise::<bf16>(&s);
    }
}

/// The sum of |g * x| over the terms of channel `c`: the scale of its rounding error.
fn magnitude<T: Sample>(g: &[T], x: &[T], layout: ChannelLayout, weights: usize, c: usize) -> f64 {
    let mut total = 0.0;
    for i in 0..x.len() {
        let ci = if weights == 1 {
            0
        } else {
            (i / layout.inner()) % layout.channels()
        };
        let xv = x[i].as_f64();
        if ci == c && (xv.is_nan() || xv <= 0.0) {
            total += (g[i].as_f64() * xv).abs();
        }
    }
    total
}

fn prelu_case<T: Sample>(
    stream: &Arc<CudaStream>,
    rng: &mut Rng,
    layout: ChannelLayout,
    weights: usize,
    offset: usize,
    specials: bool,
) {
    let len = layout.len().unwrap();
    let what = format!(
        "{} {layout:?} weights {weights} offset {offset}",
        std::any::type_name::<T>()
    );
    let (x, g): (Vec<T>, Vec<T>) = if specials {
        (data(rng, len), data(rng, len))
    } else {
        let ordinary = |rng: &mut Rng| T::from_value((rng.unit() - 0.5) * 8.0);
        (
            (0..len).map(|_| ordinary(rng)).collect(),
            (0..len).map(|_| ordinary(rng)).collect(),
        )
    };
    let w: Vec<T> = if specials && weights > 4 {
        data(rng, weights)
    } else {
        (0..weights)
            .map(|_| T::from_value(rng.unit() * 0.5 - 0.1))
            .collect()
    };
    let dx = upload(stream, &x, offset);
    let dg = upload(stream, &g, offset);
    let mut w_padded = w.clone();
    w_padded.push(T::from_bits64(0));
    let dw_buffer = stream.clone_htod(&w_padded).unwrap();
    let dw = dw_buffer.slice(..weights);
    let zero = T::from_bits64(0);
    let r = offset..offset + len;

    let mut out = zeros::<T>(stream, len, offset);
    relukit_cuda::prelu(
        stream,
        &dx.slice(r.clone()),
        &dw,
        layout,
        &mut out.slice_mut(r.clone()),
    )
    .unwrap();
    let mut expected = vec![zero; len];
    relukit::prelu(&x, &w, layout, &mut expected).unwrap();
    let got = stream.clone_dtoh(&out).unwrap()[r.clone()].to_vec();
    assert_bits(&format!("prelu {what}"), &got, &expected, &[&x]);

    let mut inplace = upload(stream, &x, offset);
    relukit_cuda::prelu_inplace(stream, &mut inplace.slice_mut(r.clone()), &dw, layout).unwrap();
    let got = stream.clone_dtoh(&inplace).unwrap()[r.clone()].to_vec();
    assert_bits(&format!("prelu_inplace {what}"), &got, &expected, &[&x]);

    let mut first_bits: Option<Vec<u64>> = None;
    for run in 0..5 {
        let mut gi = zeros::<T>(stream, len, offset);
        let mut gw = zeros::<T>(stream, weights, 0);
        relukit_cuda::prelu_backward(
            stream,
            &dg.slice(r.clone()),
            &dx.slice(r.clone()),
            &dw,
            layout,
            &mut gi.slice_mut(r.clone()),
            &mut gw.slice_mut(..weights),
        )
        .unwrap();
        let got_gw = stream.clone_dtoh(&gw).unwrap()[..weights].to_vec();
        let bits: Vec<u64> = got_gw.iter().map(|v| v.to_bits64()).collect();
        match &first_bits {
            None => first_bits = Some(bits),
            Some(first) => assert_eq!(first, &bits, "grad_weight differs on run {run}: {what}"),
        }
        if run > 0 {
            continue;
        }
        let mut expected_gi = vec![zero; len];
        let mut cpu_gw = vec![zero; weights];
        relukit::prelu_backward(&g, &x, &w, layout, &mut expected_gi, &mut cpu_gw).unwrap();
        let got_gi = stream.clone_dtoh(&gi).unwrap()[r.clone()].to_vec();
        // Where both factors of `weight * grad` are NaN any NaN will do (as on the CPU).
        for i in 0..len {
            let c = if weights == 1 {
                0
            } else {
                (i / layout.inner()) % layout.channels()
            };
            let nan = |v: T| v.as_f64().is_nan();
            if nan(g[i]) && nan(w[c]) && !nan(x[i]) && nan(got_gi[i]) {
                expected_gi[i] = got_gi[i];
            }
        }
        assert_bits(
            &format!("prelu_backward grad_input {what}"),
            &got_gi,
            &expected_gi,
            &[&g, &x],
        );
        let (_, exact) = reference::prelu_backward(&g, &x, &w, layout);
        for c in 0..weights {
            let (got, want) = (got_gw[c].as_f64(), exact[c]);
            let scale = magnitude(&g, &x, layout, weights, c);
            let rounded = T::from_value(want).as_f64();
            if scale.is_nan() || scale > f64::MAX / 4.0 {
                // Terms this large can overflow a partial sum in one order and not in
                // another (f64 data): only determinism is checked (as on the CPU).
            } else if want.is_nan() || got.is_nan() {
                assert!(
                    want.is_nan() && got.is_nan(),
                    "grad_weight[{c}] {what}: {got} vs {want}"
                );
                assert_eq!(
                    got_gw[c].to_bits64(),
                    cpu_gw[c].to_bits64(),
                    "grad_weight[{c}] NaN bits {what}"
                );
            } else if rounded.is_infinite() {
                assert_eq!(got, rounded, "grad_weight[{c}] {what}");
            } else {
                // The CPU's tolerance: 1e-5 of the terms' magnitude for the order of the
                // sum, and the final rounding to T (the GPU sums in f64, more exactly).
                let tolerance =
                    1e-5 * scale + 2.0 * T::EPSILON * want.abs() + (rounded - want).abs() + 1e-300;
                assert!(
                    (got - want).abs() <= tolerance,
                    "grad_weight[{c}] {what}: {got} vs {want} (scale {scale})"
                );
            }
        }
    }
}

fn prelu_all<T: Sample>(stream: &Arc<CudaStream>) {
    let mut rng = Rng(7 + T::BITS as u64);
    let layouts = [
        ChannelLayout::new(1, 5, 1),
        ChannelLayout::new(3, 7, 11),
        ChannelLayout::new(2, 3, 300),
        ChannelLayout::nchw(4, 16, 32, 32),
        ChannelLayout::nhwc(4, 16, 16, 64),
        ChannelLayout::nhwc(2, 9, 9, 3),
        ChannelLayout::new(17, 1000, 1),
        ChannelLayout::new(2, 4, 5000),
        ChannelLayout::new(300, 1, 1),
        ChannelLayout::new(0, 4, 3),
    ];
    for (k, layout) in layouts.into_iter().enumerate() {
        for weights in [1, layout.channels()] {
            for offset in [0, 1] {
                prelu_case::<T>(stream, &mut rng, layout, weights, offset, k % 2 == 0);
            }
        }
    }
    for len in (0..=300).step_by(13) {
        prelu_case::<T>(
            stream,
            &mut rng,
            ChannelLayout::new(len, 1, 1),
            1,
            len % 3,
            true,
        );
    }
}

#[test]
fn prelu_f32() {
    if let Some(s) = stream() {
        prelu_all::<f32>(&s);
    }
}
#[test]
fn prelu_f64() {
    if let Some(s) = stream() {
        prelu_all::<f64>(&s);
    }
}
#[test]
fn prelu_f16() {
    if let Some(s) = stream() {
        prelu_all::<f16>(&s);
    }
}
#[test]
fn prelu_bf16() {
    if let Some(s) = stream() {
        prelu_all::<bf16>(&s);
    }
}

#[test]
fn bad_arguments_give_the_cpu_s_errors() {
    let Some(stream) = stream() else { return };
    let x = stream.clone_htod(&[1.0f32, -1.0]).unwrap();
    let mut short = stream.alloc_zeros::<f32>(3).unwrap();
    let cpu = relukit::relu(&[1.0f32, -1.0], &mut [0.0; 3]).unwrap_err();
    assert_eq!(
        relukit_cuda::relu(&stream, &x, &mut short).unwrap_err(),
        Error::Argument(cpu)
    );
    let err = relukit_cuda::leaky_relu(&stream, &x, 1e39, &mut short).unwrap_err();
    assert_eq!(err.argument().unwrap().kind(), ErrorKind::NonFiniteSlope);
    let w = stream.clone_htod(&[0.25f32; 3]).unwrap();
    let mut out = stream.alloc_zeros::<f32>(2).unwrap();
    let err =
        relukit_cuda::prelu(&stream, &x, &w, ChannelLayout::new(1, 2, 1), &mut out).unwrap_err();
    let cpu = relukit::prelu(
        &[1.0f32, -1.0],
        &[0.25; 3],
        ChannelLayout::new(1, 2, 1),
        &mut [0.0; 2],
    )
    .unwrap_err();
    assert_eq!(err, Error::Argument(cpu));
    let err =
        relukit_cuda::prelu(&stream, &x, &w, ChannelLayout::new(1, 3, 1), &mut out).unwrap_err();
    assert_eq!(err.argument().unwrap().kind(), ErrorKind::LayoutMismatch);
    // Nothing was written.
    assert_eq!(stream.clone_dtoh(&out).unwrap(), [0.0, 0.0]);
}

#[test]
fn describes_the_gpu() {
    let Some(_stream) = stream() else { return };
    let gpu = relukit_cuda::Gpu::get(0).unwrap();
    eprintln!("{}", gpu.description());
    assert!(gpu.multiprocessors() > 0);
    assert!(gpu.description().contains("NVRTC"));
}
