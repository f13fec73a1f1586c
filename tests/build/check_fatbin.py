#!/usr/bin/env python3
"""Checks that the CUDA kernel's objects hold SASS for every requested architecture and PTX
of the newest, with cuobjdump --list-elf / --list-ptx.

    check_fatbin.py --skip REASON
    check_fatbin.py CUOBJDUMP LIBRARY ARCHS PTX     (ARCHS: comma list such as 75,80,90)

Exit 0: all there; 1: something missing (named); 77: skipped (meson counts it as a skip).
"""
import os
import re
import subprocess
import sys


def objects(lib):
    """The files to read: meson's static libraries are thin archives (only the members'
    paths, which cuobjdump cannot follow), so their members; anything else as it is."""
    with open(lib, "rb") as f:
        if f.read(8) != b"!<thin>\n":
            return [lib]
    r = subprocess.run(["ar", "t", lib], capture_output=True, text=True, check=True)
    # GNU ar prints the members' paths as seen from here; others relative to the archive.
    base = os.path.dirname(os.path.abspath(lib))
    return [m if os.path.exists(m) else os.path.join(base, m) for m in r.stdout.split()]


def listed(cuobjdump, lib, what):
    out = []
    for obj in objects(lib):
        r = subprocess.run([cuobjdump, "--list-" + what, obj], capture_output=True, text=True)
        if r.returncode != 0 and "does not contain" not in r.stderr:
            sys.exit("check_fatbin: %s --list-%s %s failed (%d): %s"
                     % (cuobjdump, what, obj, r.returncode, r.stderr.strip()))
        out.append(r.stdout)
    r.stdout = "".join(out)
    # Lines such as "ELF file    3: libta_cuda.3.sm_86.cubin" / "PTX file 1: x.1.sm_121.ptx".
    return set(re.findall(r"\.sm_(\d+[a-z]?)\.(?:cubin|ptx)\s*$", r.stdout, re.M)), r.stdout


def main(argv):
    if len(argv) == 3 and argv[1] == "--skip":
        print("SKIP: " + argv[2])
        return 77
    if len(argv) != 5:
        sys.exit(__doc__)
    cuobjdump, lib, archs, ptx = argv[1], argv[2], [a for a in argv[3].split(",") if a], argv[4]
    if not os.path.exists(lib):
        sys.exit("check_fatbin: %s does not exist: build it first" % lib)
    elf, elf_text = listed(cuobjdump, lib, "elf")
    ptxs, ptx_text = listed(cuobjdump, lib, "ptx")
    print("SASS in %s: sm_%s" % (os.path.basename(lib), ", sm_".join(sorted(elf, key=lambda a: int(re.sub(r"\D", "", a))))))
    print("PTX: compute_%s" % ", compute_".join(sorted(ptxs)))
    missing = ["sm_" + a for a in archs if a not in elf]
    extra = ["sm_" + a for a in elf if a not in archs]
    bad = []
    if missing:
        bad.append("no SASS for %s (asked for by -Dgpu_arch)" % ", ".join(missing))
    if extra:
        bad.append("SASS for %s, which was not asked for" % ", ".join(sorted(extra)))
    if ptxs != {ptx}:
        bad.append("PTX should be compute_%s only, found: %s" % (ptx, ", ".join(sorted(ptxs)) or "none"))
    if bad:
        print(elf_text + ptx_text)
        print("FAIL: " + "; ".join(bad))
        return 1
    print("OK: %d architectures and compute_%s PTX" % (len(archs), ptx))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
