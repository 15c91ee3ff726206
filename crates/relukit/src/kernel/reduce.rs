//! Loops that write and sum (or count) in one pass: PReLU's backward pass and the
//! dead-unit monitor. Every order of summation is fixed by the data alone, so each
//! instruction set gives the same bits.

use std::ops::Add;

use crate::arch::{Kernel, Level};

/// Elements per block of a blocked sum. Each of the [`SUM_LANES`] accumulators sees
/// at most 256 terms of a block before the block's total goes into an `f64`.
pub(crate) const SUM_BLOCK: usize = 4096;

/// Independent accumulators in a blocked sum (one AVX-512 register of `f32`).
pub(crate) const SUM_LANES: usize = 16;

/// `out[i] = f(a[i], b[i]).0`, returning the sum of the `.1` parts: blocks of
/// [`SUM_BLOCK`] elements summed in [`SUM_LANES`] accumulators of type `C` (element `i`
/// of a block goes to accumulator `i % SUM_LANES`), each block's total, reduced in a
/// fixed tree, added to an `f64`.
pub(crate) struct ZipSum<'a, A, B, U, F> {
    pub(crate) a: &'a [A],
    pub(crate) b: &'a [B],
    pub(crate) out: &'a mut [U],
    pub(crate) f: F,
}

impl<A, B, U, C, F> Kernel for ZipSum<'_, A, B, U, F>
where
    A: Copy,
    B: Copy,
    U: Copy,
    C: Copy + Default + Add<Output = C> + Into<f64>,
    F: Fn(A, B) -> (U, C),
{
    type Output = f64;
    #[inline(always)]
    fn run<L: Level>(self, _: L) -> f64 {
        let ZipSum { a, b, out, f } = self;
        let mut total = 0.0f64;
        for ((a, b), out) in a
            .chunks(SUM_BLOCK)
            .zip(b.chunks(SUM_BLOCK))
            .zip(out.chunks_mut(SUM_BLOCK))
        {
            let mut lanes = [C::default(); SUM_LANES];
            let mut a_lanes = a.chunks_exact(SUM_LANES);
            let mut b_lanes = b.chunks_exact(SUM_LANES);
            let mut out_lanes = out.chunks_exact_mut(SUM_LANES);
            for ((a, b), out) in (&mut a_lanes).zip(&mut b_lanes).zip(&mut out_lanes) {
                for k in 0..SUM_LANES {
                    let (value, term) = f(a[k], b[k]);
                    out[k] = value;
                    lanes[k] = lanes[k] + term;
                }
            }
            let tail = a_lanes.remainder().iter().zip(b_lanes.remainder());
            for (k, ((&a, &b), o)) in tail.zip(out_lanes.into_remainder()).enumerate() {
                let (value, term) = f(a, b);
                *o = value;
                lanes[k] = lanes[k] + term;
            }
            total += reduce_lanes(lanes).into();
        }
        total
    }
}

/// Pairwise sum of the accumulators, in a fixed tree.
#[inline(always)]
fn reduce_lanes<C: Copy + Add<Output = C>>(mut lanes: [C; SUM_LANES]) -> C {
    let mut width = SUM_LANES / 2;
    while width > 0 {
        for k in 0..width {
            lanes[k] = lanes[k] + lanes[k + width];
        }
        width /= 2;
    }
    lanes[0]
}

/// `out[i] = f(a[i], b[i], w[i]).0` and `acc[i] += f(..).1`: PReLU backward over one
/// period of a channel pattern, accumulating per position.
pub(crate) struct Zip3Accumulate<'a, A, B, W, U, C, F> {
    pub(crate) a: &'a [A],
    pub(crate) b: &'a [B],
    pub(crate) w: &'a [W],
    pub(crate) out: &'a mut [U],
    pub(crate) acc: &'a mut [C],
    pub(crate) f: F,
}

impl<A, B, W, U, C, F> Kernel for Zip3Accumulate<'_, A, B, W, U, C, F>
where
    A: Copy,
    B: Copy,
    W: Copy,
    U: Copy,
    C: Copy + Add<Output = C>,
    F: Fn(A, B, W) -> (U, C),
{
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, _: L) {
        let inputs = self.a.iter().zip(self.b).zip(self.w);
        for ((((&a, &b), &w), o), s) in inputs.zip(self.out.iter_mut()).zip(self.acc.iter_mut()) {
            let (value, term) = (self.f)(a, b, w);
            *o = value;
            *s = *s + term;
        }
    }
}

/// `out[i] = f(x[i]).0` and `acc[i] += f(x[i]).1`: a forward pass that also counts per
/// position (the fused ReLU of the dead-unit monitor); without `out`, only the count.
pub(crate) struct MapAccumulate<'a, T, U, C, F> {
    pub(crate) x: &'a [T],
    pub(crate) out: Option<&'a mut [U]>,
    pub(crate) acc: &'a mut [C],
    pub(crate) f: F,
}

impl<T, U, C, F> Kernel for MapAccumulate<'_, T, U, C, F>
where
    T: Copy,
    U: Copy,
    C: Copy + Add<Output = C>,
    F: Fn(T) -> (U, C),
{
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, _: L) {
        let MapAccumulate { x, out, acc, f } = self;
        match out {
            Some(out) => {
                for ((&v, o), a) in x.iter().zip(out.iter_mut()).zip(acc.iter_mut()) {
                    let (value, term) = f(v);
                    *o = value;
                    *a = *a + term;
                }
            }
            None => {
                for (&v, a) in x.iter().zip(acc.iter_mut()) {
                    *a = *a + f(v).1;
                }
            }
        }
    }
}

/// `out[i] = f(x[i]).0` (when `out` is given), returning the sum of the `.1` parts (an
/// integer count: integer sums vectorise and do not depend on their order).
pub(crate) struct MapSum<'a, T, U, F> {
    pub(crate) x: &'a [T],
    pub(crate) out: Option<&'a mut [U]>,
    pub(crate) f: F,
}

impl<T, U, C, F> Kernel for MapSum<'_, T, U, F>
where
    T: Copy,
    U: Copy,
    C: Copy + Default + Add<Output = C>,
    F: Fn(T) -> (U, C),
{
    type Output = C;
    #[inline(always)]
    fn run<L: Level>(self, _: L) -> C {
        let MapSum { x, out, f } = self;
        match out {
            Some(out) => {
                let mut total = C::default();
                for (&v, o) in x.iter().zip(out.iter_mut()) {
                    let (value, term) = f(v);
                    *o = value;
                    total = total + term;
                }
                total
            }
            None => x.iter().fold(C::default(), |total, &v| total + f(v).1),
        }
    }
}
