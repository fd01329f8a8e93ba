#!/usr/bin/env python3
"""Embeds a component's WIT package, doc comments included, into the component.

The Rust toolchain's linker drops WIT doc comments when it builds a component, but Cordon
shows them to users and models as tool and field descriptions. This script encodes the
tool's WIT directory (plus the shared `wit/` package it depends on) with
`wasm-tools component wit --wasm` and appends it to the component as a custom section
named `cordon:wit`. Custom sections never change what a component does.

usage: embed-wit.py COMPONENT.wasm TOOL_WIT_DIR SHARED_WIT_DIR OUT.wasm
"""
import os
import shutil
import subprocess
import sys
import tempfile


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def main() -> None:
    component, tool_wit, shared_wit, out = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as tmp:
        pkg = os.path.join(tmp, "wit")
        shutil.copytree(tool_wit, pkg)
        if os.path.abspath(tool_wit) != os.path.abspath(shared_wit):
            shutil.copytree(shared_wit, os.path.join(pkg, "deps", "cordon-tool"))
        encoded = subprocess.run(
            ["wasm-tools", "component", "wit", pkg, "--wasm"],
            check=True,
            capture_output=True,
        ).stdout
    name = b"cordon:wit"
    payload = leb128(len(name)) + name + encoded
    with open(component, "rb") as f:
        data = f.read()
    with open(out, "wb") as f:
        f.write(data + b"\x00" + leb128(len(payload)) + payload)


if __name__ == "__main__":
    main()
