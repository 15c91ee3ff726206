//! Every error path: the kind, a message that names the argument and both sizes, and
//! outputs left exactly as they were.

use relukit::{ChannelLayout, Error, ErrorKind};

const SENTINEL: f32 = 7.5;

#[track_caller]
fn expect(result: Result<(), Error>, kind: ErrorKind, words: &[&str]) {
    let err = result.expect_err("the call must fail");
    assert_eq!(err.kind(), kind, "{err}");
    let message = err.to_string();
    for word in words {
        assert!(
            message.contains(word),
            "message {message:?} should mention {word:?}"
        );
    }
}

#[track_caller]
fn untouched(buffer: &[f32]) {
    assert!(
        buffer.iter().all(|&v| v == SENTINEL),
        "an output was written: {buffer:?}"
    );
}

#[test]
fn relu_rejects_a_short_or_long_output() {
    let x = [1.0f32, -1.0, 2.0];
    for len in [0, 2, 4] {
        let mut out = vec![SENTINEL; len];
        expect(
            relukit::relu(&x, &mut out),
            ErrorKind::LengthMismatch,
            &["`output`", &len.to_string(), "3", "`input`"],
        );
        untouched(&out);
        expect(
            relukit::relu_derivative(&x, &mut out),
            ErrorKind::LengthMismatch,
            &["`output`", "3"],
        );
        untouched(&out);
    }
    let ints = [1i8, -1];
    let mut out = [0i8; 3];
    expect(
        relukit::relu(&ints, &mut out),
        ErrorKind::LengthMismatch,
        &["`output`", "3", "2"],
    );
    assert_eq!(out, [0; 3]);
}

#[test]
fn backward_functions_check_every_length() {
    let x = [1.0f32, -1.0, 2.0];
    let g = [1.0f32; 3];
    let short = [1.0f32; 2];
    let mut out = [SENTINEL; 3];
    expect(
        relukit::relu_backward(&g, &short, &mut out),
        ErrorKind::LengthMismatch,
        &["`input`", "2", "3", "`grad_output`"],
    );
    untouched(&out);
    let mut short_out = [SENTINEL; 2];
    expect(
        relukit::relu_backward(&g, &x, &mut short_out),
        ErrorKind::LengthMismatch,
        &["`grad_input`", "2", "3"],
    );
    untouched(&short_out);
    let mut grad = [SENTINEL; 3];
    expect(
        relukit::relu_backward_inplace(&mut grad, &short),
        ErrorKind::LengthMismatch,
        &["`input`", "2", "3", "`grad`"],
    );
    untouched(&grad);
    expect(
        relukit::leaky_relu_backward(&g, &short, 0.1, &mut out),
        ErrorKind::LengthMismatch,
        &["`input`", "2", "3"],
    );
    untouched(&out);
    expect(
        relukit::leaky_relu_backward(&g, &x, 0.1, &mut short_out),
        ErrorKind::LengthMismatch,
        &["`grad_input`"],
    );
    untouched(&short_out);
    expect(
        relukit::leaky_relu_backward_inplace(&mut grad, &short, 0.1),
        ErrorKind::LengthMismatch,
        &["`input`", "`grad`"],
    );
    untouched(&grad);
}

#[test]
fn slopes_must_be_finite() {
    let x = [1.0f32, -1.0];
    for slope in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut out = [SENTINEL; 2];
        expect(
            relukit::leaky_relu(&x, slope, &mut out),
            ErrorKind::NonFiniteSlope,
            &["`negative_slope`", "finite"],
        );
        untouched(&out);
        let mut data = [SENTINEL; 2];
        expect(
            relukit::leaky_relu_inplace(&mut data, slope),
            ErrorKind::NonFiniteSlope,
            &["`negative_slope`"],
        );
        untouched(&data);
        expect(
            relukit::leaky_relu_backward(&x, &x, slope, &mut out),
            ErrorKind::NonFiniteSlope,
            &["`negative_slope`"],
        );
        untouched(&out);
        let mut grad = [SENTINEL; 2];
        expect(
            relukit::leaky_relu_backward_inplace(&mut grad, &x, slope),
            ErrorKind::NonFiniteSlope,
            &["`negative_slope`"],
        );
        untouched(&grad);
    }
    let mut out = [SENTINEL; 3];
    expect(
        relukit::leaky_relu(&x, 0.1, &mut out),
        ErrorKind::LengthMismatch,
        &["`output`", "3", "2"],
    );
    untouched(&out);
}

#[test]
fn prelu_checks_layout_weight_and_outputs() {
    let x = [1.0f32; 12];
    let layout = ChannelLayout::new(2, 3, 2);
    let weight = [0.25f32; 3];
    let mut out = [SENTINEL; 12];

    let wrong = ChannelLayout::new(2, 3, 3);
    expect(
        relukit::prelu(&x, &weight, wrong, &mut out),
        ErrorKind::LayoutMismatch,
        &["`input`", "12", "18", "outer 2", "channels 3", "inner 3"],
    );
    untouched(&out);
    let huge = ChannelLayout::new(usize::MAX, 2, 2);
    expect(
        relukit::prelu(&x, &weight, huge, &mut out),
        ErrorKind::LayoutMismatch,
        &["more than usize::MAX"],
    );
    untouched(&out);
    for bad in [&[][..], &[0.1f32, 0.2][..], &[0.1f32; 4][..]] {
        expect(
            relukit::prelu(&x, bad, layout, &mut out),
            ErrorKind::WeightMismatch,
            &[
                "`weight`",
                &bad.len().to_string(),
                "1 (a shared slope) or 3",
            ],
        );
        untouched(&out);
    }
    let mut short = [SENTINEL; 11];
    expect(
        relukit::prelu(&x, &weight, layout, &mut short),
        ErrorKind::LengthMismatch,
        &["`output`", "11", "12"],
    );
    untouched(&short);

    let mut data = [SENTINEL; 12];
    expect(
        relukit::prelu_inplace(&mut data, &weight, wrong),
        ErrorKind::LayoutMismatch,
        &["`data`", "12", "18"],
    );
    untouched(&data);
    expect(
        relukit::prelu_inplace(&mut data, &[0.1, 0.2], layout),
        ErrorKind::WeightMismatch,
        &["`weight`", "2"],
    );
    untouched(&data);
}

/// A `prelu_backward` call writing into (`grad_input`, `grad_weight`).
type Call<'a> = Box<dyn Fn(&mut [f32], &mut [f32]) -> Result<(), Error> + 'a>;

#[test]
fn prelu_backward_checks_every_argument() {
    let x = [1.0f32; 12];
    let g = [1.0f32; 12];
    let layout = ChannelLayout::new(2, 3, 2);
    let weight = [0.25f32; 3];
    let mut gx = [SENTINEL; 12];
    let mut gw = [SENTINEL; 3];
    let cases: Vec<(Call<'_>, ErrorKind, Vec<&str>)> = vec![
        (
            Box::new(|gx, gw| {
                relukit::prelu_backward(&g, &x, &weight, ChannelLayout::new(4, 3, 2), gx, gw)
            }),
            ErrorKind::LayoutMismatch,
            vec!["`input`", "12", "24"],
        ),
        (
            Box::new(|gx, gw| relukit::prelu_backward(&g, &x, &[0.1, 0.2], layout, gx, gw)),
            ErrorKind::WeightMismatch,
            vec!["`weight`", "2"],
        ),
        (
            Box::new(|gx, gw| relukit::prelu_backward(&g[..11], &x, &weight, layout, gx, gw)),
            ErrorKind::LengthMismatch,
            vec!["`grad_output`", "11", "12"],
        ),
        (
            Box::new(|gx, gw| relukit::prelu_backward(&g, &x, &weight, layout, &mut gx[..10], gw)),
            ErrorKind::LengthMismatch,
            vec!["`grad_input`", "10", "12"],
        ),
        (
            Box::new(|gx, gw| relukit::prelu_backward(&g, &x, &weight, layout, gx, &mut gw[..2])),
            ErrorKind::WeightMismatch,
            vec!["`grad_weight`", "2", "3"],
        ),
    ];
    for (call, kind, words) in cases {
        expect(call(&mut gx, &mut gw), kind, &words);
        untouched(&gx);
        untouched(&gw);
    }
}

#[test]
fn empty_inputs_are_fine() {
    let empty: [f32; 0] = [];
    let mut out: [f32; 0] = [];
    relukit::relu(&empty, &mut out).unwrap();
    relukit::relu_backward(&empty, &empty, &mut out).unwrap();
    relukit::leaky_relu(&empty, 0.1, &mut out).unwrap();
    relukit::prelu(&empty, &[0.5], ChannelLayout::new(0, 4, 4), &mut out).unwrap();
    let mut gw = [SENTINEL; 4];
    relukit::prelu_backward(
        &empty,
        &empty,
        &[0.5; 4],
        ChannelLayout::new(0, 4, 4),
        &mut out,
        &mut gw,
    )
    .unwrap();
    assert_eq!(gw, [0.0; 4], "an empty channel has a zero gradient");
}
