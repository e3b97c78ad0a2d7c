"""Build the one compiled extension, ``tinyllm._C``, from ``csrc/`` (C99) and ``tinyllm/_C.pyx``.

Flags: ``-O3 -fno-trapping-math -fno-math-errno`` (results unchanged; they let GCC vectorise the exp
and sqrt loops on AVX2); OpenMP when the compiler accepts it (probed), else a serial build; ``-march=native``
when accepted, unless ``TINYLLM_PORTABLE=1`` (set it when building a wheel for other machines).
Everything else about the package lives in pyproject.toml.
"""

import glob
import os
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _compiler_accepts(compiler, compile_flags, link_flags=(), source="int main(void){return 0;}\n"):
    """Return True when ``compiler`` compiles and links ``source`` with the given flags."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=list(compile_flags))
            compiler.link_executable(objects, os.path.join(tmp, "probe"),
                                     extra_postargs=list(link_flags))
        except Exception:
            return False
    return True


_OMP_PROBE = "#include <omp.h>\nint main(void){\n#pragma omp parallel\n{}\nreturn omp_get_max_threads() < 1;}\n"


class BuildExt(build_ext):
    """build_ext that probes OpenMP and -march=native before compiling."""

    def build_extensions(self):
        cc = self.compiler
        if cc.compiler_type == "msvc":
            compile_flags, link_flags = ["/O2", "/openmp"], []
        else:
            compile_flags, link_flags = ["-O3"], []
            # No value changes, only no FP exception flags and no errno: under GCC's default
            # -ftrapping-math a float compare before arithmetic (the clamps of tl_expf) kept every
            # loop that calls exp, and sqrtf (errno) the AdamW loop, from vectorising without
            # AVX-512's masked instructions (GELU, cross-entropy and softmax ran scalar on AVX2).
            compile_flags += [f for f in ("-fno-trapping-math", "-fno-math-errno") if _compiler_accepts(cc, [f])]
            if os.environ.get("TINYLLM_PORTABLE") != "1" and _compiler_accepts(cc, ["-march=native"]):
                compile_flags.append("-march=native")
            elif _compiler_accepts(cc, ["-Wno-psabi"]):   # GCC's note about 64-byte vector returns
                compile_flags.append("-Wno-psabi")
            if _compiler_accepts(cc, ["-fopenmp"], ["-fopenmp"], _OMP_PROBE):
                compile_flags.append("-fopenmp")
                link_flags.append("-fopenmp")
            else:
                sys.stderr.write("tinyllm: compiler has no OpenMP; building the C kernels serially\n")
                if _compiler_accepts(cc, ["-fopenmp-simd"]):   # keep the `omp simd` hints
                    compile_flags.append("-fopenmp-simd")
        for ext in self.extensions:
            ext.extra_compile_args = compile_flags + list(ext.extra_compile_args or [])
            ext.extra_link_args = link_flags + list(ext.extra_link_args or [])
        super().build_extensions()


extension = Extension(
    "tinyllm._C",
    sources=["tinyllm/_C.pyx", "csrc/kernels_f32.c", "csrc/kernels_f64.c"],
    depends=sorted(glob.glob("csrc/*.c") + glob.glob("csrc/*.h")),   # the included bodies too
    include_dirs=["csrc", np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

setup(
    ext_modules=cythonize([extension], language_level=3,
                          compiler_directives={"boundscheck": False, "wraparound": False}),
    cmdclass={"build_ext": BuildExt},
)
