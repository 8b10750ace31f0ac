//! Dropout draws the same mask as Python's from the same seed. A binary of its own:
//! the random state is global, and other tests draw from it in parallel.

use ferrox::io;
use ferrox_nn::Dropout;

#[test]
fn dropout_mask_equals_pythons_for_the_same_seed() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/misc.safetensors");
    let io::Loaded::Arrays(misc) = io::load(path).unwrap() else {
        panic!("misc.safetensors holds named arrays")
    };
    ferrox::random::seed(3);
    let y = Dropout::new(0.5).unwrap().forward(&misc["x"]).unwrap();
    let bits = |a: &ferrox::Array| -> Vec<u32> {
        a.to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&y), bits(&misc["dropout_seed3"]));
}
