//! Launch shapes, computed on the host (and tested without a GPU).
//!
//! Elementwise operations run a grid-stride loop over 16-byte packs, each thread
//! keeping [`UNROLL`] packs in flight. PReLU sees the buffer as rows of `row_len`
//! columns, `row_len` a whole number of periods (`channels * inner` elements), so that
//! each column has one channel: a thread owns `N` adjacent columns (one 16-byte pack)
//! of a tile of `BLOCK * N` columns, looks their slopes up once, and walks down up to
//! [`ROWS_PER_BLOCK`] rows. Its weight-gradient sums are kept in f64 and combined in an
//! order fixed by the shape alone, never by the GPU or the timing, so they have the same
//! bits on every run (see [`Mode`]).

use cudarc::driver::DeviceRepr;
use relukit::ChannelLayout;

/// Threads per block (as `BLOCK` in `kernels.cu`).
pub const BLOCK: u64 = 256;
/// Packs each thread of an elementwise kernel loads before it stores (as `UNROLL`).
pub const UNROLL: u64 = 4;
/// Rows a PReLU block walks down.
pub const ROWS_PER_BLOCK: u64 = 32;
/// A PReLU row holds at least this many tiles (fewer idle columns in the last one).
const MIN_TILES_PER_ROW: u64 = 8;

/// Elements of `elem_bytes` bytes in a 16-byte pack.
pub fn pack(elem_bytes: usize) -> u64 {
    16 / elem_bytes as u64
}

/// Blocks of an elementwise launch over `len` elements on a GPU with `sms`
/// multiprocessors: enough for every pack, at most 32 blocks per multiprocessor (the
/// threads loop over the rest).
pub fn elementwise_blocks(len: u64, elem_bytes: usize, sms: u32) -> u32 {
    let packs = len.div_ceil(pack(elem_bytes));
    let wanted = packs.div_ceil(BLOCK * UNROLL).max(1);
    wanted.min(u64::from(sms.max(1)) * 32) as u32
}

/// How PReLU's backward blocks keep their weight-gradient sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Mode {
    /// One slot per column (wide periods that do not fit a tile evenly).
    Columns = 0,
    /// A tile holds whole periods: one slot per position in the period, summed over
    /// the tile's periods in order (NHWC, `[batch, features]`, a shared slope).
    Periods = 1,
    /// A channel is at least a tile wide (NCHW images): two slots per block, the
    /// tile's first channel and the next, each summed by a fixed tree.
    Channels = 2,
}

/// The PReLU launch shape (the `Shape` struct of `kernels.cu`, field for field).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Elements in the buffer.
    pub len: u64,
    /// Columns per row: a whole number of periods.
    pub row_len: u64,
    /// Rows (the last may be cut short by `len`).
    pub rows: u64,
    /// `channels * inner`.
    pub period: u64,
    /// Consecutive elements that share a channel.
    pub inner: u64,
    /// Channels (1 for a shared slope).
    pub channels: u64,
    /// Tiles of `BLOCK * N` columns per row.
    pub tiles: u64,
    /// Rows a block walks down.
    pub rows_per_block: u64,
    /// `ceil(rows / rows_per_block)`.
    pub row_chunks: u64,
    /// Whether 16-byte packs are aligned (every pointer aligned, `row_len % N == 0`).
    pub vec: i32,
    /// [`Mode`] as an integer.
    pub mode: i32,
}

// SAFETY: `Shape` is `repr(C)`, plain integers with no padding (9 x u64 + 2 x i32),
// laid out as the `Shape` struct the kernels take by value.
unsafe impl DeviceRepr for Shape {}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Shape {
    /// The shape of a PReLU call over `layout` (already checked) with a weight of
    /// `weight_len` elements of `elem_bytes` bytes; `aligned` if every buffer starts on
    /// a 16-byte boundary.
    pub fn new(
        layout: ChannelLayout,
        weight_len: usize,
        elem_bytes: usize,
        aligned: bool,
    ) -> Shape {
        let len = layout.len().expect("layout checked") as u64;
        let (channels, inner) = if weight_len == 1 {
            (1, 1)
        } else {
            (layout.channels() as u64, layout.inner() as u64)
        };
        let n = pack(elem_bytes);
        let width = BLOCK * n;
        let period = (channels * inner).max(1);
        // Periods per row: a row at least MIN_TILES_PER_ROW tiles wide, and a multiple
        // of the pack so that every row starts on a pack.
        let step = n / gcd(period, n);
        let copies = (MIN_TILES_PER_ROW * width)
            .div_ceil(period)
            .max(1)
            .div_ceil(step)
            * step;
        let row_len = copies * period;
        let rows = len.div_ceil(row_len);
        let rows_per_block = ROWS_PER_BLOCK.min(rows).max(1);
        let mode = if channels >= 2 && inner >= width {
            Mode::Channels
        } else if width % period == 0 {
            Mode::Periods
        } else {
            Mode::Columns
        };
        Shape {
            len,
            row_len,
            rows,
            period,
            inner,
            channels,
            tiles: row_len.div_ceil(width),
            rows_per_block,
            row_chunks: rows.div_ceil(rows_per_block),
            vec: i32::from(aligned && row_len % n == 0),
            mode: mode as i32,
        }
    }

    /// Elements per pack for this shape's element type.
    fn width(&self, elem_bytes: usize) -> u64 {
        BLOCK * pack(elem_bytes)
    }

    /// Blocks of the forward and backward launches.
    pub fn blocks(&self) -> u64 {
        self.row_chunks * self.tiles
    }

    /// f64 slots the backward pass writes partial sums into.
    pub fn partial_len(&self, elem_bytes: usize) -> u64 {
        match self.mode {
            0 => self.row_chunks * self.tiles * self.width(elem_bytes),
            1 => self.blocks() * self.period,
            _ => self.blocks() * 2,
        }
    }

    /// Slots each channel's sum reads (some may be empty).
    pub fn terms_per_channel(&self, elem_bytes: usize) -> u64 {
        let copies = self.row_len / self.period;
        match self.mode {
            0 => self.row_chunks * copies * self.inner,
            1 => self.row_chunks * self.tiles * self.inner,
            _ => self.row_chunks * copies * (self.inner / self.width(elem_bytes) + 2),
        }
    }

    /// Threads of each block of the reduction (one block per channel): one when the
    /// channel has few slots, else [`BLOCK`].
    pub fn reduce_threads(&self, elem_bytes: usize) -> u64 {
        if self.terms_per_channel(elem_bytes) < 64 {
            1
        } else {
            BLOCK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element is covered once, by the right channel, for any layout.
    fn covers(layout: ChannelLayout, weight_len: usize, elem_bytes: usize) {
        let s = Shape::new(layout, weight_len, elem_bytes, true);
        let len = layout.len().unwrap() as u64;
        assert!(s.row_len % s.period == 0, "{s:?}");
        assert!(
            s.rows * s.row_len >= len && (s.rows == 0 || (s.rows - 1) * s.row_len < len),
            "{s:?}"
        );
        assert!(s.rows_per_block * s.row_chunks >= s.rows);
        assert!(s.tiles * s.width(elem_bytes) >= s.row_len);
        // The channel of element e from its (row, column) equals relukit's definition.
        for e in (0..len).step_by((len / 997).max(1) as usize) {
            let col = e % s.row_len;
            let from_shape = (col % s.period) / s.inner;
            let expected = if weight_len == 1 {
                0
            } else {
                (e / layout.inner() as u64) % layout.channels() as u64
            };
            assert_eq!(from_shape, expected, "element {e} of {layout:?}");
        }
        match s.mode {
            1 => assert_eq!(s.width(elem_bytes) % s.period, 0),
            2 => assert!(s.channels >= 2 && s.inner >= s.width(elem_bytes)),
            _ => {}
        }
    }

    #[test]
    fn shapes_cover_every_layout() {
        for elem_bytes in [2, 4, 8] {
            for (outer, channels, inner) in [
                (1, 1, 1),
                (1, 1, 1000),
                (3, 5, 7),
                (8, 64, 56 * 56),
                (32 * 56 * 56, 64, 1),
                (1, 3, 1 << 20),
                (7, 4096, 1),
                (2, 1 << 16, 3),
                (5, 2, 4096),
                (1, 300, 1),
            ] {
                let layout = ChannelLayout::new(outer, channels, inner);
                covers(layout, channels, elem_bytes);
                covers(layout, 1, elem_bytes);
            }
        }
    }

    #[test]
    fn the_modes_the_common_layouts_get() {
        // NCHW images: channels as wide as a tile.
        let nchw = Shape::new(ChannelLayout::nchw(32, 64, 128, 128), 64, 2, true);
        assert_eq!(nchw.mode, Mode::Channels as i32);
        // NHWC: 64 channels divide a tile of 2048 bf16 columns.
        let nhwc = Shape::new(ChannelLayout::nhwc(32, 128, 128, 64), 64, 2, true);
        assert_eq!(nhwc.mode, Mode::Periods as i32);
        assert_eq!(nhwc.vec, 1);
        // A shared slope is one period of one element.
        let shared = Shape::new(ChannelLayout::nchw(32, 64, 128, 128), 1, 4, true);
        assert_eq!((shared.mode, shared.period), (Mode::Periods as i32, 1));
        // 3 channels never align to a pack: rows are made a multiple of it.
        let odd = Shape::new(ChannelLayout::new(100, 3, 1), 3, 4, true);
        assert_eq!(odd.row_len % pack(4), 0);
        assert_eq!(odd.vec, 1);
        assert_eq!(
            Shape::new(ChannelLayout::new(100, 3, 1), 3, 4, false).vec,
            0
        );
    }

    #[test]
    fn partial_sums_stay_small_for_large_calls() {
        // At most a quarter of a byte of partial sums per element (f32, 2^28 elements).
        for layout in [
            ChannelLayout::nchw(32, 64, 128, 128),
            ChannelLayout::nhwc(32, 128, 128, 64),
            ChannelLayout::new(1 << 16, 4096, 1),
        ] {
            let s = Shape::new(layout, layout.channels(), 4, true);
            let bytes = s.partial_len(4) * 8;
            assert!(
                bytes * 4 <= s.len,
                "{layout:?}: {bytes} bytes of partial sums"
            );
        }
    }

    /// The backward kernels' partial sums and reduction, simulated on the host step by
    /// step as `kernels.cu` does them, give every channel the sum of its elements.
    fn reduction_is_complete(layout: ChannelLayout, weight_len: usize, elem_bytes: usize) {
        let s = Shape::new(layout, weight_len, elem_bytes, true);
        let (n, w) = (pack(elem_bytes), s.width(elem_bytes));
        let value = |e: u64| (e % 7 + 1) as f64;
        let channel = |col: u64| (col % s.period) / s.inner;
        let mut partial = vec![0.0; s.partial_len(elem_bytes) as usize];
        for block in 0..s.blocks() {
            let (tile, chunk) = (block % s.tiles, block / s.tiles);
            let mut scratch = vec![0.0; w as usize];
            for t in 0..BLOCK {
                let col0 = tile * w + t * n;
                for i in 0..n {
                    let col = col0 + i;
                    let mut sum = 0.0;
                    let r0 = chunk * s.rows_per_block;
                    for r in r0..(r0 + s.rows_per_block).min(s.rows) {
                        let e = r * s.row_len + col;
                        if col < s.row_len && e < s.len {
                            sum += value(e);
                        }
                    }
                    scratch[(t * n + i) as usize] = sum;
                    if s.mode == Mode::Columns as i32 {
                        partial[(chunk * s.tiles * w + col) as usize] = sum;
                    }
                }
            }
            if s.mode == Mode::Periods as i32 {
                for p in 0..s.period {
                    let acc: f64 = (0..w / s.period)
                        .map(|k| scratch[(k * s.period + p) as usize])
                        .sum();
                    partial[(block * s.period + p) as usize] = acc;
                }
            } else if s.mode == Mode::Channels as i32 {
                let first = channel(tile * w);
                let (mut a, mut b) = (0.0, 0.0);
                for (k, v) in scratch.iter().enumerate() {
                    let col = tile * w + k as u64;
                    if col < s.row_len && channel(col) != first {
                        b += v
                    } else {
                        a += v
                    }
                }
                partial[(block * 2) as usize] = a;
                partial[(block * 2 + 1) as usize] = b;
            }
        }
        let copies = s.row_len / s.period;
        for c in 0..s.channels {
            let mut total = 0.0;
            for t in 0..s.terms_per_channel(elem_bytes) {
                total += match s.mode {
                    0 => {
                        let (j, rest) = (t % s.inner, t / s.inner);
                        let (copy, chunk) = (rest % copies, rest / copies);
                        partial[(chunk * s.tiles * w + copy * s.period + c * s.inner + j) as usize]
                    }
                    1 => partial[((t / s.inner) * s.period + c * s.inner + t % s.inner) as usize],
                    _ => {
                        let span = s.inner / w + 2;
                        let (k, rest) = (t % span, t / span);
                        let (copy, chunk) = (rest % copies, rest / copies);
                        let start = copy * s.period + c * s.inner;
                        let tile = start / w + k;
                        if tile * w >= start + s.inner || tile >= s.tiles {
                            0.0
                        } else {
                            let block = chunk * s.tiles + tile;
                            let slot = if channel(tile * w) == c { 0 } else { 1 };
                            partial[(block * 2 + slot) as usize]
                        }
                    }
                };
            }
            let expected: f64 = (0..s.len)
                .filter(|&e| {
                    weight_len == 1 || (e / layout.inner() as u64) % layout.channels() as u64 == c
                })
                .map(value)
                .sum();
            assert_eq!(
                total, expected,
                "channel {c} of {layout:?}, weight {weight_len}, {elem_bytes}-byte elements: {s:?}"
            );
        }
    }

    #[test]
    fn the_reduction_sums_every_element_once() {
        for elem_bytes in [2, 4, 8] {
            for (outer, channels, inner) in [
                (3, 5, 7),
                (2, 3, 300),
                (4, 16, 1024),
                (3, 4, 5000),
                (40, 64, 1),
                (5, 1000, 1),
                (2, 3, 1),
                (1, 2, 4096),
                (70, 1, 1),
            ] {
                let layout = ChannelLayout::new(outer, channels, inner);
                reduction_is_complete(layout, channels, elem_bytes);
                reduction_is_complete(layout, 1, elem_bytes);
            }
        }
    }

    #[test]
    fn elementwise_grids_are_bounded() {
        assert_eq!(elementwise_blocks(0, 4, 132), 1);
        assert_eq!(elementwise_blocks(1000, 4, 132), 1);
        assert_eq!(elementwise_blocks(1 << 28, 4, 132), 132 * 32);
        assert_eq!(elementwise_blocks(1 << 14, 2, 132), 2);
    }
}
