"""``mx.__array_namespace_info__()``: what the array API inspection functions report."""


class ArrayNamespaceInfo:
    """Capabilities, devices and default dtypes of ferrox.core as an array API namespace."""

    def capabilities(self):
        return {"boolean indexing": False, "data-dependent shapes": False, "max dimensions": 10}

    def default_device(self):
        from . import core

        return core.default_device()

    def devices(self):
        from . import core

        return tuple(
            core.Device(t) for t in (core.cpu, core.gpu) if core.is_available(core.Device(t))
        )

    def default_dtypes(self, *, device=None):
        from . import core

        return {
            "real floating": core.float32,
            "complex floating": core.complex64,
            "integral": core.int32,
            "indexing": core.int32,
        }

    def dtypes(self, *, device=None, kind=None):
        from . import core

        groups = {
            "bool": ["bool_"],
            "signed integer": ["int8", "int16", "int32", "int64"],
            "unsigned integer": ["uint8", "uint16", "uint32", "uint64"],
            # The array API's standard dtypes only (no float16/bfloat16), as MLX lists them.
            "real floating": ["float32", "float64"],
            "complex floating": ["complex64"],
        }
        groups["integral"] = groups["signed integer"] + groups["unsigned integer"]
        groups["numeric"] = groups["integral"] + ["float32", "complex64", "float64"]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = []
        for k in kinds:
            names += groups["bool"] + groups["numeric"] if k is None else groups[k]
        return {("bool" if n == "bool_" else n): getattr(core, n) for n in names}


def __array_namespace_info__():
    return ArrayNamespaceInfo()
