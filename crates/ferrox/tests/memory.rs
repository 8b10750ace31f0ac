//! Memory behaviour of the engine. One test function, run alone in this binary, because
//! the allocator's statistics are process-wide.

use ferrox::memory::*;
use ferrox::ops::*;
use ferrox::Array;

fn training_like_step(w: &Array, x: &Array) -> Array {
    // A few ops whose intermediates must be freed once the step is evaluated.
    let y = matmul(x, w).unwrap();
    let y = tanh(&y).unwrap();
    let g = matmul(&transpose(x, &[]).unwrap(), &y).unwrap();
    let w2 = subtract(w, &multiply(&g, 1e-3).unwrap()).unwrap();
    w2.eval().unwrap();
    w2
}

#[test]
fn memory_stays_flat_and_limits_are_errors() {
    // 1. A 10k-step loop: active memory after the warm-up does not grow.
    let x = full(&[32, 64], 0.01, None).unwrap();
    let mut w = full(&[64, 64], 0.02, None).unwrap();
    w.eval().unwrap();
    x.eval().unwrap();
    for _ in 0..100 {
        w = training_like_step(&w, &x);
    }
    let active_after_warmup = get_active_memory();
    for _ in 0..10_000 {
        w = training_like_step(&w, &x);
    }
    let active_end = get_active_memory();
    assert!(
        active_end <= active_after_warmup,
        "active memory grew from {active_after_warmup} to {active_end}"
    );
    assert!(w.to_vec::<f32>().unwrap().iter().all(|v| v.is_finite()));

    // 2. Intermediates are freed after their last reader: a chain of 64 MB temporaries
    //    needs a few buffers at a time, not the whole chain.
    clear_cache();
    reset_peak_memory();
    let base = get_active_memory();
    let n = 16 << 20; // 16M f32 = 64 MB
    let a = full(&[n], 1.0, None).unwrap();
    let mut y = add(&a, 1.0).unwrap();
    for _ in 0..20 {
        y = add(&multiply(&y, 0.5).unwrap(), 1.0).unwrap();
    }
    drop(a);
    y.eval().unwrap();
    let peak = get_peak_memory() - base;
    assert!(
        peak <= 4 * 64 << 20,
        "peak {peak} bytes for a chain of 64 MB ops"
    );
    drop(y);

    // 3. Freed buffers are cached and reused.
    let before = get_cache_memory();
    assert!(
        before >= 64 << 20,
        "the cache keeps freed buffers ({before})"
    );
    let z = full(&[n], 2.0, None).unwrap();
    z.eval().unwrap();
    assert!(
        get_cache_memory() < before,
        "a new array reuses a cached buffer"
    );
    drop(z);
    clear_cache();
    assert_eq!(get_cache_memory(), 0);

    // 4. Past the memory limit: an error, and earlier arrays stay intact.
    let keep = full(&[4], 7.0, None).unwrap();
    keep.eval().unwrap();
    let old = set_memory_limit(get_active_memory() + (1 << 20));
    let big = zeros(&[64 << 20], None).unwrap();
    let err = big.eval().unwrap_err();
    assert!(err.to_string().contains("memory limit"), "{err}");
    set_memory_limit(old);
    assert_eq!(keep.to_vec::<f32>().unwrap(), vec![7.0; 4]);
    big.eval().unwrap();
    assert_eq!(big.size(), 64 << 20);

    // 5. Cache limit 0 disables caching.
    drop(big);
    let old_cache = set_cache_limit(0);
    assert_eq!(get_cache_memory(), 0);
    let t = full(&[1 << 20], 1.0, None).unwrap();
    t.eval().unwrap();
    drop(t);
    assert_eq!(get_cache_memory(), 0);
    set_cache_limit(old_cache);
}
