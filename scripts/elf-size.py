#!/usr/bin/env python3
"""Berkeley-style sizes of an ELF image (like `size`, for any architecture):
text = allocated read-only sections (code, rodata, vectors), data = allocated writable
sections with contents, bss = allocated sections without contents. Regions that a runtime
reserves for the stack or heap (sections named .stack, .heap) are not counted."""
import struct
import sys

SHF_WRITE, SHF_ALLOC, SHT_NOBITS = 0x1, 0x2, 8


def sizes(path):
    with open(path, "rb") as f:
        elf = f.read()
    if elf[:4] != b"\x7fELF":
        sys.exit(f"{path}: not an ELF file")
    is64, little = elf[4] == 2, elf[5] == 1
    e = "<" if little else ">"
    if is64:
        shoff, = struct.unpack_from(e + "Q", elf, 0x28)
        shentsize, shnum = struct.unpack_from(e + "HH", elf, 0x3A)
    else:
        shoff, = struct.unpack_from(e + "I", elf, 0x20)
        shentsize, shnum = struct.unpack_from(e + "HH", elf, 0x2E)
    if is64:
        shstrndx, = struct.unpack_from(e + "H", elf, 0x3E)
    else:
        shstrndx, = struct.unpack_from(e + "H", elf, 0x32)
    stroff = shoff + shstrndx * shentsize
    names_at = struct.unpack_from(e + ("Q" if is64 else "I"), elf, stroff + (0x18 if is64 else 0x10))[0]

    def name(idx):
        end = elf.index(b"\0", names_at + idx)
        return elf[names_at + idx:end].decode()

    text = data = bss = 0
    for i in range(shnum):
        off = shoff + i * shentsize
        if is64:
            _, typ, flags, _, _, size = struct.unpack_from(e + "IIQQQQ", elf, off)
        else:
            _, typ, flags, _, _, size = struct.unpack_from(e + "IIIIII", elf, off)
        name_idx, = struct.unpack_from(e + "I", elf, off)
        if not flags & SHF_ALLOC or name(name_idx) in (".stack", ".heap"):
            continue
        if typ == SHT_NOBITS:
            bss += size
        elif flags & SHF_WRITE:
            data += size
        else:
            text += size
    return text, data, bss


if __name__ == "__main__":
    t, d, b = sizes(sys.argv[1])
    print(f"text={t} data={d} bss={b}")
