//! Walking arrays that are not contiguous: lanes along the smallest stride, cut into
//! blocks; contiguous blocks go to the kernels directly, strided ones are gathered into
//! a buffer (several lanes per kernel call) and scattered back.

use ndarray::{ArrayView, ArrayView1, ArrayViewMut, ArrayViewMut1, Axis, Dimension, Zip, s};

use crate::Float;

/// Elements per block when a strided lane is gathered or scattered.
const LANE_BLOCK: usize = 1024;

/// The axis to walk lanes along: the smallest nonzero stride of `out` among axes longer
/// than 1 (the last axis if none).
fn lane_axis<A, D: Dimension>(out: &ArrayViewMut<'_, A, D>) -> Axis {
    let candidates = out
        .shape()
        .iter()
        .zip(out.strides())
        .enumerate()
        .filter(|(_, (len, _))| **len > 1);
    let best = candidates.min_by_key(|(i, (_, stride))| (stride.unsigned_abs(), usize::MAX - i));
    Axis(best.map_or(out.ndim().saturating_sub(1), |(i, _)| i))
}

/// Appends the elements of a lane piece to `buffer` (a copy if contiguous, else a
/// strided gather).
fn append<A: Copy>(piece: ArrayView1<'_, A>, buffer: &mut Vec<A>) {
    if let Some(slice) = contiguous(&piece) {
        return buffer.extend_from_slice(slice);
    }
    let (len, stride, base) = (piece.len(), piece.strides()[0], piece.as_ptr());
    // Small constant strides compile to wide loads and shuffles.
    match stride {
        // SAFETY: element i of the view is at base + i * 2 for i < len, valid for reads.
        2 => unsafe { gather::<2, A>(base, len, buffer) },
        // SAFETY: element i of the view is at base + i * 3 for i < len, valid for reads.
        3 => unsafe { gather::<3, A>(base, len, buffer) },
        // SAFETY: element i of the view is at base + i * 4 for i < len, valid for reads.
        4 => unsafe { gather::<4, A>(base, len, buffer) },
        // SAFETY: element i of the view is at base + i * stride for i < len, all valid
        // for reads while `piece` lives (a stride of 0 reads the same element again).
        _ => buffer.extend((0..len).map(|i| unsafe { *base.offset(i as isize * stride) })),
    }
}

/// Appends `len` elements `base[0], base[K], base[2K], ...` to `buffer`.
///
/// # Safety
/// `base.add(i * K)` is valid for reads of an `A` for every `i < len`.
unsafe fn gather<const K: usize, A: Copy>(base: *const A, len: usize, buffer: &mut Vec<A>) {
    let start = buffer.len();
    buffer.reserve(len);
    for (i, slot) in buffer.spare_capacity_mut()[..len].iter_mut().enumerate() {
        // SAFETY: i < len, so base + i * K is valid for reads by the function's contract.
        slot.write(unsafe { *base.add(i * K) });
    }
    // SAFETY: the loop above initialised the `len` spare slots.
    unsafe { buffer.set_len(start + len) };
}

/// Writes `values` into a strided lane piece.
fn scatter<A: Copy>(mut piece: ArrayViewMut1<'_, A>, values: &[A]) {
    if let Some(slice) = piece.as_slice_mut() {
        return slice.copy_from_slice(&values[..slice.len()]);
    }
    let (len, stride, base) = (
        piece.len().min(values.len()),
        piece.strides()[0],
        piece.as_mut_ptr(),
    );
    for (i, &v) in values[..len].iter().enumerate() {
        // SAFETY: element i of the mutable view is at base + i * stride for i < len,
        // valid and uniquely borrowed for writes (a mutable view never has stride 0
        // along an axis longer than 1).
        unsafe { *base.offset(i as isize * stride) = v };
    }
}

/// Calls `kernel(input, output)` over matching contiguous pieces covering `out`: this
/// is [`zip_lanes`] with a second input of `()`, which is zero-sized, so gathering it
/// costs nothing.
pub(super) fn map_lanes<A: Copy, B: Copy, D: Dimension>(
    input: ArrayView<'_, A, D>,
    out: ArrayViewMut<'_, B, D>,
    mut kernel: impl FnMut(&[A], &mut [B]),
) {
    let mut out = out;
    if input.strides() == out.strides()
        && let (Some(x), Some(o)) = (
            input.as_slice_memory_order(),
            out.as_slice_memory_order_mut(),
        )
    {
        return kernel(x, o);
    }
    let units = ndarray::arr0(());
    let Some(units) = units.broadcast(out.raw_dim()) else {
        return;
    };
    zip_lanes(input, units, out, |a, _, o| kernel(a, o))
}

/// The contiguous slice of a lane piece; for a zero-sized type, any piece is one.
fn contiguous<'a, A>(piece: &ArrayView1<'a, A>) -> Option<&'a [A]> {
    if size_of::<A>() == 0 {
        // SAFETY: a slice of a zero-sized type reads no memory; a dangling, aligned,
        // non-null pointer is valid for any length of it.
        return Some(unsafe {
            std::slice::from_raw_parts(std::ptr::NonNull::<A>::dangling().as_ptr(), piece.len())
        });
    }
    piece.to_slice()
}

/// Strided pieces waiting for one kernel call: their inputs gathered end to end, and
/// the output pieces to scatter the results back to.
struct Batch<'o, A, B, C> {
    a: Vec<A>,
    b: Vec<B>,
    out: Vec<C>,
    pending: Vec<ArrayViewMut1<'o, C>>,
}

impl<'o, A: Copy, B: Copy, C: Copy> Batch<'o, A, B, C> {
    fn flush(&mut self, kernel: &mut impl FnMut(&[A], &[B], &mut [C])) {
        if let Some(first) = self.pending.first() {
            let len = self.a.len();
            if self.out.len() < len {
                self.out.resize(len, first[0]);
            }
            kernel(&self.a, &self.b, &mut self.out[..len]);
            let mut offset = 0;
            for piece in self.pending.drain(..) {
                let len = piece.len();
                scatter(piece, &self.out[offset..offset + len]);
                offset += len;
            }
            self.a.clear();
            self.b.clear();
        }
    }
}

/// Calls `kernel(a, b, output)` over matching contiguous pieces covering `out`. One call
/// when all three share one contiguous layout; otherwise lanes along `out`'s smallest
/// stride, cut into blocks: contiguous blocks go to the kernel directly, strided ones
/// are gathered, several lanes to one kernel call, and scattered back.
pub(super) fn zip_lanes<A: Copy, B: Copy, C: Copy, D: Dimension>(
    a: ArrayView<'_, A, D>,
    b: ArrayView<'_, B, D>,
    mut out: ArrayViewMut<'_, C, D>,
    mut kernel: impl FnMut(&[A], &[B], &mut [C]),
) {
    if a.strides() == out.strides()
        && b.strides() == out.strides()
        && let (Some(a), Some(b), Some(o)) = (
            a.as_slice_memory_order(),
            b.as_slice_memory_order(),
            out.as_slice_memory_order_mut(),
        )
    {
        return kernel(a, b, o);
    }
    if out.is_empty() {
        return;
    }
    if out.ndim() > 0
        && let Some(o) = out.as_slice_mut()
    {
        return into_standard_layout(a, b, o, kernel);
    }
    let axis = lane_axis(&out);
    let mut batch = Batch {
        a: Vec::new(),
        b: Vec::new(),
        out: Vec::new(),
        pending: Vec::new(),
    };
    Zip::from(out.lanes_mut(axis))
        .and(a.lanes(axis))
        .and(b.lanes(axis))
        .for_each(|mut o, a, b| {
            let mut start = 0;
            while start < a.len() {
                let end = (start + LANE_BLOCK).min(a.len());
                let (piece, rest) = o.split_at(Axis(0), end - start);
                o = rest;
                let (a, b) = (a.slice(s![start..end]), b.slice(s![start..end]));
                match (contiguous(&a), contiguous(&b), piece.is_standard_layout()) {
                    (Some(a), Some(b), true) if end - start == LANE_BLOCK => {
                        let mut piece = piece;
                        kernel(a, b, piece.as_slice_mut().unwrap_or_default());
                    }
                    _ => {
                        append(a, &mut batch.a);
                        append(b, &mut batch.b);
                        batch.pending.push(piece);
                        if batch.a.len() >= LANE_BLOCK {
                            batch.flush(&mut kernel);
                        }
                    }
                }
                start = end;
            }
        });
    batch.flush(&mut kernel);
}

/// [`zip_lanes`] into an output in standard (C) layout, whose memory order is the
/// logical order: the inputs are gathered lane by lane in that order and the kernel
/// writes straight into the output, a block at a time, with nothing to scatter.
fn into_standard_layout<A: Copy, B: Copy, C: Copy, D: Dimension>(
    a: ArrayView<'_, A, D>,
    b: ArrayView<'_, B, D>,
    out: &mut [C],
    mut kernel: impl FnMut(&[A], &[B], &mut [C]),
) {
    let axis = Axis(a.ndim() - 1);
    let (mut a_block, mut b_block) = (
        Vec::with_capacity(2 * LANE_BLOCK),
        Vec::with_capacity(2 * LANE_BLOCK),
    );
    let mut written = 0;
    for (a, b) in a.lanes(axis).into_iter().zip(b.lanes(axis)) {
        for start in (0..a.len()).step_by(LANE_BLOCK) {
            let end = (start + LANE_BLOCK).min(a.len());
            append(a.slice(s![start..end]), &mut a_block);
            append(b.slice(s![start..end]), &mut b_block);
            if a_block.len() >= LANE_BLOCK {
                let n = a_block.len();
                kernel(&a_block, &b_block, &mut out[written..written + n]);
                written += n;
                a_block.clear();
                b_block.clear();
            }
        }
    }
    if !a_block.is_empty() {
        let n = a_block.len();
        kernel(&a_block, &b_block, &mut out[written..written + n]);
    }
}

/// Calls `kernel(data)` over contiguous pieces covering `data`, batching strided lanes
/// as [`zip_lanes`] does.
pub(super) fn inplace_lanes<A: Copy, D: Dimension>(
    mut data: ArrayViewMut<'_, A, D>,
    mut kernel: impl FnMut(&mut [A]),
) {
    if let Some(d) = data.as_slice_memory_order_mut() {
        return kernel(d);
    }
    if data.is_empty() {
        return;
    }
    let axis = lane_axis(&data);
    let mut buffer = Vec::new();
    let mut pending: Vec<ArrayViewMut1<'_, A>> = Vec::new();
    for mut lane in data.lanes_mut(axis) {
        while !lane.is_empty() {
            let take = lane.len().min(LANE_BLOCK);
            let (mut piece, rest) = lane.split_at(Axis(0), take);
            lane = rest;
            if take == LANE_BLOCK && piece.is_standard_layout() {
                kernel(piece.as_slice_mut().unwrap_or_default());
                continue;
            }
            append(piece.view(), &mut buffer);
            pending.push(piece);
            if buffer.len() >= LANE_BLOCK {
                flush_inplace(&mut kernel, &mut buffer, &mut pending);
            }
        }
    }
    flush_inplace(&mut kernel, &mut buffer, &mut pending);
}

/// Runs `kernel` on the gathered `buffer` and scatters it back to the `pending` pieces.
fn flush_inplace<A: Copy>(
    kernel: &mut impl FnMut(&mut [A]),
    buffer: &mut Vec<A>,
    pending: &mut Vec<ArrayViewMut1<'_, A>>,
) {
    if pending.is_empty() {
        return;
    }
    kernel(buffer);
    let mut offset = 0;
    for piece in pending.drain(..) {
        let len = piece.len();
        scatter(piece, &buffer[offset..offset + len]);
        offset += len;
    }
    buffer.clear();
}

/// Calls `f(input, output, weight)` for each channel's sub-views along `axis` with its
/// weight, or once for the whole arrays with a shared weight.
pub(super) fn for_each_channel<A: Float, D: Dimension>(
    input: ArrayView<'_, A, D>,
    mut output: ArrayViewMut<'_, A, D>,
    weight: &[A],
    axis: Axis,
    mut f: impl FnMut(ArrayView<'_, A, D>, ArrayViewMut<'_, A, D>, A),
) {
    if weight.len() == 1 {
        return f(input, output, weight[0]);
    }
    for (c, &w) in weight.iter().enumerate() {
        let (mut x, mut out) = (input.view(), output.view_mut());
        x.collapse_axis(axis, c);
        out.collapse_axis(axis, c);
        f(x, out, w);
    }
}
