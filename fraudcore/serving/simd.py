"""<8 x double> values in numba: the vector type and the handful of operations the TreeSHAP kernel uses.

numba runs LLVM without its SLP vectorizer and fully unrolls 8-trip loops before the loop vectorizer
would see them, so `fastshap`'s kernel writes its vector operations out with these intrinsics (LLVM
`<8 x double>` values: one AVX-512 register; a CPU without AVX-512 gets them split in halves).
Loads and stores take an array and an element offset and do no bounds or negative-index handling:
every offset comes from tables `fastshap` builds.
"""
from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 8  # float64 lanes per vector: one AVX-512 register

_VT = ir.VectorType(ir.DoubleType(), LANES)


class _F64x8(types.Type):
    def __init__(self) -> None:
        super().__init__(name="f64x8")


_f64x8 = _F64x8()


@register_model(_F64x8)
class _F64x8Model(models.PrimitiveModel):
    def __init__(self, dmm: Any, fe_type: Any) -> None:
        super().__init__(dmm, fe_type, _VT)


def _element(context: Any, builder: Any, aty: Any, arr: Any, off: Any) -> Any:
    return builder.gep(context.make_array(aty)(context, builder, arr).data, [off])


@intrinsic
def get(typingctx, arr, off):  # type: ignore[no-untyped-def]
    def codegen(context, builder, sig, args):
        p = _element(context, builder, sig.args[0], args[0], args[1])
        return context.unpack_value(builder, sig.return_type, p)
    if isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(off, types.Integer):
        return arr.dtype(arr, off), codegen
    return None


@intrinsic
def put(typingctx, arr, off, value):  # type: ignore[no-untyped-def]
    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[2], sig.args[2], sig.args[0].dtype)
        context.pack_value(builder, sig.args[0].dtype, v, _element(context, builder, sig.args[0], args[0], args[1]))
        return context.get_dummy_value()
    if isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(off, types.Integer):
        return types.none(arr, off, value), codegen
    return None


@intrinsic
def vload(typingctx, arr, off):  # type: ignore[no-untyped-def]
    def codegen(context, builder, sig, args):
        p = _element(context, builder, sig.args[0], args[0], args[1])
        return builder.load(builder.bitcast(p, _VT.as_pointer()), align=8)
    if isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.float64:
        return _f64x8(arr, off), codegen
    return None


@intrinsic
def vstore(typingctx, arr, off, v):  # type: ignore[no-untyped-def]
    def codegen(context, builder, sig, args):
        p = _element(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], builder.bitcast(p, _VT.as_pointer()), align=8)
        return context.get_dummy_value()
    if isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.float64 and v == _f64x8:
        return types.none(arr, off, v), codegen
    return None


@intrinsic
def prefetch(typingctx, arr, off):  # type: ignore[no-untyped-def]
    def codegen(context, builder, sig, args):
        i8p = ir.IntType(8).as_pointer()
        p = builder.bitcast(_element(context, builder, sig.args[0], args[0], args[1]), i8p)
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0")
        builder.call(fn, [p, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    if isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(off, types.Integer):
        return types.none(arr, off), codegen
    return None


@intrinsic
def vsplat(typingctx, x):  # type: ignore[no-untyped-def]
    def codegen(context, builder, sig, args):
        x = context.cast(builder, args[0], sig.args[0], types.float64)
        v = builder.insert_element(ir.Constant(_VT, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        return builder.shuffle_vector(v, ir.Constant(_VT, ir.Undefined), zeros)
    return _f64x8(x), codegen


def _binary(op: str) -> Any:
    @intrinsic
    def vop(typingctx, a, b):  # type: ignore[no-untyped-def]
        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1])
        return (_f64x8(a, b), codegen) if a == _f64x8 and b == _f64x8 else None
    return vop


vadd, vmul, vdiv = _binary("fadd"), _binary("fmul"), _binary("fdiv")


@intrinsic
def vfma(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """a * b + c, rounded once."""
    def codegen(context, builder, sig, args):
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VT, [_VT] * 3), "llvm.fma.v8f64")
        return builder.call(fma, list(args))
    return (_f64x8(a, b, c), codegen) if a == _f64x8 and b == _f64x8 and c == _f64x8 else None
