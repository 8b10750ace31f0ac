"""Devices and streams: the functions of mlx.core, their reprs and the `with mx.stream` scope;
the metal and cuda modules and custom kernels as on a machine without those back ends."""

import threading

import pytest

import ferrox.core as mx

try:
    import mlx.core as mlx
except Exception:  # pragma: no cover - the oracle checks are skipped without MLX
    mlx = None


def test_stream_scope_sets_and_restores_the_default(oracle):
    s = mx.new_stream(mx.cpu)
    before = mx.default_stream(mx.cpu)
    with mx.stream(s):
        # Ops built inside run on s; the device's default stream is unchanged, as in MLX.
        assert mx.default_stream(mx.cpu) == before
        a = mx.ones(3) + 1
    assert a.tolist() == [2.0, 2.0, 2.0]
    ctx = mx.stream(mx.cpu)
    assert type(ctx).__name__ == type(oracle.stream(oracle.cpu)).__name__ == "StreamContext"
    with ctx as entered:
        assert entered is None
    ctx = mx.stream(mx.gpu)  # no GPU here: an error on entering, as in MLX
    with pytest.raises(ValueError):
        with ctx:
            pass
    assert (mx.ones(1) + 1).item() == 2.0


def test_thread_local_and_unsafe_streams(oracle):
    t = mx.new_thread_local_stream(mx.cpu)
    assert type(t).__name__ == type(oracle.new_thread_local_stream(oracle.cpu)).__name__
    assert repr(t).startswith("ThreadLocalStream(Device(cpu, 0), ")
    assert t.device == mx.Device(mx.cpu)
    assert (mx.add(mx.ones(2), 1, stream=t)).tolist() == [2.0, 2.0]
    u = mx.new_thread_unsafe_stream(mx.cpu)
    assert repr(u).startswith("Stream(Device(cpu, 0), ")
    mx.synchronize(t)
    mx.synchronize(u)
    mx.synchronize()


def test_scope_is_per_thread():
    s = mx.new_stream(mx.cpu)
    seen = []

    def other():
        seen.append((mx.ones(1) * 2).item())

    with mx.stream(s):
        th = threading.Thread(target=other)
        th.start()
        th.join()
    assert seen == [2.0]


def test_device_info_and_clear_streams(oracle):
    info = mx.device_info()
    want = oracle.device_info()
    assert info == want
    assert mx.device_info(mx.cpu) == oracle.device_info(oracle.cpu)
    s = mx.new_stream(mx.cpu)
    mx.set_default_stream(s)
    assert mx.default_stream(mx.cpu) == s
    assert mx.clear_streams() is None
    assert mx.default_stream(mx.cpu) != s
    assert mx.device_info(mx.gpu) == oracle.device_info(oracle.gpu) == {}


def test_the_gil_is_released_while_a_graph_evaluates():
    # Another Python thread keeps running while eval (and item/tolist/printing, which
    # evaluate) compute: they release the GIL.
    a = mx.ones((512, 512))
    mx.eval(a)
    for read in [mx.eval, lambda x: x.item(), lambda x: x.tolist(), repr]:
        y = a
        for _ in range(4):
            y = mx.matmul(y, a) * (1 / 512)
        y = mx.sum(y)
        done = threading.Event()
        th = threading.Thread(target=lambda: (read(y), done.set()))
        ticks = 0
        th.start()
        while not done.is_set():
            ticks += 1
        th.join()
        assert ticks > 1000, f"only {ticks} ticks: the GIL was held during evaluation"


# ------------------------------------------- back ends this build has not (as MLX's CPU build)

def test_metal_and_cuda_are_not_available_and_metal_memory_forwards(capfd):
    import ferrox.core.metal as metal
    assert mx.metal is metal
    assert metal.is_available() is False and mx.cuda.is_available() is False
    x = mx.ones((1024,))
    mx.eval(x)
    assert metal.get_active_memory() == mx.get_active_memory()
    assert metal.get_peak_memory() == mx.get_peak_memory()
    assert metal.get_cache_memory() == mx.get_cache_memory()
    old = mx.set_cache_limit(1 << 30)
    assert metal.set_cache_limit(old) == 1 << 30
    assert metal.device_info() == {}
    assert metal.start_capture("/tmp/trace.gputrace") is None and metal.stop_capture() is None
    err = capfd.readouterr().err
    assert "mx.metal.get_active_memory is deprecated" in err
    assert "Use mx.set_cache_limit instead." in err


def test_custom_kernels_raise_as_in_mlx_without_those_back_ends():
    for m in [mx] + ([mlx] if mlx is not None else []):
        kernel = m.fast.metal_kernel(name="k", input_names=["a"], output_names=["o"],
                                     source="o[0] = a[0];")
        with pytest.raises(RuntimeError, match="No Metal back-end"):
            kernel(inputs=[m.ones((2,))], grid=(1, 1, 1), threadgroup=(1, 1, 1),
                   output_shapes=[(2,)], output_dtypes=[m.float32])
        with pytest.raises(RuntimeError, match="No CUDA back-end"):
            m.fast.cuda_kernel(name="k", input_names=["a"], output_names=["o"], source="")
    with pytest.raises(RuntimeError, match="No CUDA back-end"):
        mx.fast.precompiled_cuda_kernel(name="k", compiled_source=b"", inputs=[],
                                        output_shapes=[(1,)], output_dtypes=[mx.float32],
                                        scalars=[], grid=(1, 1, 1), threadgroup=(1, 1, 1))
