#!/usr/bin/env python3
"""Checks how a built object with the CUDA path finds LibTorch's CUDA half and the CUDA
runtime: libtorch_cuda.so and libc10_cuda.so are NEEDED (not dropped by --as-needed), the
RUNPATH holds the CUDA runtime's directory, and ldd resolves libcudart from there.

    check_runtime.py --skip REASON
    check_runtime.py OBJECT CUDART_DIR [CUDART_DIR is where libcudart.so.N must come from]

Exit 0: fine; 1: a problem (named); 77: skipped (meson counts it as a skip).
"""
import os
import re
import subprocess
import sys


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("check_runtime: %s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r.stdout


def main(argv):
    if len(argv) == 3 and argv[1] == "--skip":
        print("SKIP: " + argv[2])
        return 77
    if len(argv) != 3:
        sys.exit(__doc__)
    obj, cudart_dir = argv[1], os.path.realpath(argv[2])
    dyn = run(["readelf", "-d", obj])
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    runpath = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]", dyn)
    dirs = [os.path.realpath(d) for p in runpath for d in p.split(":") if d]
    print("NEEDED: " + " ".join(needed))
    print("RUNPATH: " + ":".join(runpath))
    bad = []
    for lib in ("libtorch_cuda.so", "libc10_cuda.so"):
        if lib not in needed:
            bad.append("%s is not NEEDED (--as-needed dropped it: CUDA would be missing at run time)" % lib)
    cudart = [n for n in needed if n.startswith("libcudart.so")]
    if not cudart:
        bad.append("no libcudart.so.N is NEEDED")
    if cudart_dir not in dirs:
        bad.append("the RUNPATH lacks the CUDA runtime's directory %s" % cudart_dir)
    # ldd with an empty LD_LIBRARY_PATH: only what the object itself says counts.
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    r = subprocess.run(["ldd", obj], capture_output=True, text=True, env=env)
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", r.stdout, re.M))
    for n in cudart:
        where = resolved.get(n)
        print("ldd: %s => %s" % (n, where))
        if where is None or where == "not":
            bad.append("ldd does not find %s" % n)
        elif os.path.dirname(os.path.realpath(where)) != cudart_dir:
            bad.append("ldd loads %s from %s, not from %s" % (n, where, cudart_dir))
    missing = [n for n, w in resolved.items() if w == "not"]
    if missing:
        bad.append("ldd finds no %s" % ", ".join(missing))
    if bad:
        print("FAIL: " + "; ".join(bad))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
