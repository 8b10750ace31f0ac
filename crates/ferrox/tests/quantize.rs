//! to_fp8 / from_fp8 (E4M3) against the format's definition.

use ferrox::{ops, Array, Dtype, Error};

/// Every finite code decodes to its value and encodes back to itself; halfway values
/// round to the even code; large values, infinities and NaN saturate.
#[test]
fn fp8_codes_round_trip_and_ties_go_to_even() {
    let codes: Vec<u8> = (0..=255).collect();
    let values = ops::from_fp8(&Array::from_slice(&codes, &[256]).unwrap(), Dtype::Float32)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    for (c, v) in values.iter().enumerate() {
        let (e, m) = ((c >> 3) & 15, c & 7);
        if (e, m) == (15, 7) {
            assert!(v.is_nan(), "code {c}");
            continue;
        }
        let mag = if e == 0 {
            m as f32 / 512.0
        } else {
            (1.0 + m as f32 / 8.0) * 2f32.powi(e as i32 - 7)
        };
        assert_eq!(v.abs(), mag, "code {c}");
        assert_eq!(v.is_sign_negative(), c >= 128, "code {c}");
    }
    let finite: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let back = ops::to_fp8(&Array::from_slice(&finite, &[finite.len()]).unwrap()).unwrap();
    let want: Vec<u8> = codes.iter().copied().filter(|c| c & 0x7f != 0x7f).collect();
    assert_eq!(back.to_vec::<u8>().unwrap(), want);
    let odd = [
        1.0625f32,
        1.1875,
        0.0009765625,
        0.0029296875,
        449.0,
        f32::INFINITY,
        -1e9,
        f32::NAN,
    ];
    let got = ops::to_fp8(&Array::from_slice(&odd, &[odd.len()]).unwrap()).unwrap();
    assert_eq!(
        got.to_vec::<u8>().unwrap(),
        [56, 58, 0, 2, 126, 126, 254, 126]
    );
}

#[test]
fn fp8_rejects_other_dtypes() {
    let ints = Array::from_slice(&[1i32, 2], &[2]).unwrap();
    assert!(matches!(ops::to_fp8(&ints), Err(Error::Invalid(_))));
    assert!(matches!(
        ops::from_fp8(&ints, Dtype::Float32),
        Err(Error::Invalid(_))
    ));
    let codes = Array::from_slice(&[1u8], &[1]).unwrap();
    assert!(matches!(
        ops::from_fp8(&codes, Dtype::Int32),
        Err(Error::Invalid(_))
    ));
}
