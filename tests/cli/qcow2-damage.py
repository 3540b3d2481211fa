#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Damages a qcow2 image in one precise way, for the repair tests.

  qcow2-damage.py IMAGE ACTION [ARGS...]

Actions (GUEST is a guest byte offset, CLUSTER a host cluster index):
  refcount CLUSTER VALUE         store VALUE as the refcount of CLUSTER
  data-refcount GUEST VALUE      the same for the data cluster mapping GUEST (for a
                                 compressed one, where its data starts)
  l2-refcount GUEST VALUE        the same for the L2 table mapping GUEST
  data-copied GUEST on|off       set or clear OFLAG_COPIED in the L2 entry of GUEST
  l2-copied GUEST on|off         set or clear OFLAG_COPIED in the L1 entry of GUEST
  leak N                         append N clusters and give each refcount 1
  flags dirty|corrupt            set the dirty or the corrupt incompatible bit
  show GUEST                     print the host offsets mapping GUEST
"""
import struct
import sys

COPIED = 1 << 63
COMPRESSED = 1 << 62
OFFSET_MASK = 0x00FFFFFFFFFFFE00


class Image:
    def __init__(self, path):
        self.f = open(path, "r+b")
        h = self.read(0, 104)
        (magic, self.version) = struct.unpack(">II", h[0:8])
        assert magic == 0x514649FB, "not a qcow2 image"
        self.cluster_bits = struct.unpack(">I", h[20:24])[0]
        self.cluster = 1 << self.cluster_bits
        self.l1_size = struct.unpack(">I", h[36:40])[0]
        self.l1_offset = struct.unpack(">Q", h[40:48])[0]
        self.reftable_offset = struct.unpack(">Q", h[48:56])[0]
        self.reftable_clusters = struct.unpack(">I", h[56:60])[0]
        self.incompat = struct.unpack(">Q", h[72:80])[0] if self.version == 3 else 0
        self.refcount_order = struct.unpack(">I", h[96:100])[0] if self.version == 3 else 4
        self.entry = 16 if self.incompat & (1 << 4) else 8

    def read(self, offset, n):
        self.f.seek(offset)
        return self.f.read(n)

    def write(self, offset, data):
        self.f.seek(offset)
        self.f.write(data)

    def l1_entry_pos(self, guest):
        l2_entries = self.cluster // self.entry
        return self.l1_offset + 8 * (guest // self.cluster // l2_entries)

    def l2_entry_pos(self, guest):
        l1e = struct.unpack(">Q", self.read(self.l1_entry_pos(guest), 8))[0]
        l2 = l1e & OFFSET_MASK
        assert l2 != 0, "no L2 table maps that offset"
        l2_entries = self.cluster // self.entry
        return l2 + self.entry * ((guest // self.cluster) % l2_entries)

    def data_cluster(self, guest):
        l2e = struct.unpack(">Q", self.read(self.l2_entry_pos(guest), 8))[0]
        if l2e & COMPRESSED:
            # The host cluster where the compressed data starts.
            shift = 62 - (self.cluster_bits - 8)
            return (l2e & ((1 << shift) - 1)) >> self.cluster_bits
        assert l2e & OFFSET_MASK, "not an allocated cluster"
        return (l2e & OFFSET_MASK) >> self.cluster_bits

    def l2_cluster(self, guest):
        l1e = struct.unpack(">Q", self.read(self.l1_entry_pos(guest), 8))[0]
        return (l1e & OFFSET_MASK) >> self.cluster_bits

    def set_refcount(self, cluster, value):
        bits = 1 << self.refcount_order
        per_block = self.cluster * 8 // bits
        idx = cluster // per_block
        assert idx < self.reftable_clusters * self.cluster // 8, "past the refcount table"
        block = struct.unpack(">Q", self.read(self.reftable_offset + 8 * idx, 8))[0]
        block &= ~0x1FF
        assert block != 0, "no refcount block covers that cluster"
        k = cluster % per_block
        if bits >= 8:
            fmt = {8: ">B", 16: ">H", 32: ">I", 64: ">Q"}[bits]
            self.write(block + k * bits // 8, struct.pack(fmt, value))
        else:
            pos = block + k * bits // 8
            byte = self.read(pos, 1)[0]
            shift = (k * bits) % 8
            mask = ((1 << bits) - 1) << shift
            byte = (byte & ~mask) | ((value << shift) & mask)
            self.write(pos, bytes([byte]))

    def set_flag(self, pos, on):
        e = struct.unpack(">Q", self.read(pos, 8))[0]
        e = e | COPIED if on else e & ~COPIED
        self.write(pos, struct.pack(">Q", e))


def main(argv):
    img = Image(argv[1])
    action, args = argv[2], argv[3:]
    if action == "refcount":
        img.set_refcount(int(args[0], 0), int(args[1], 0))
    elif action == "data-refcount":
        img.set_refcount(img.data_cluster(int(args[0], 0)), int(args[1], 0))
    elif action == "l2-refcount":
        img.set_refcount(img.l2_cluster(int(args[0], 0)), int(args[1], 0))
    elif action == "data-copied":
        img.set_flag(img.l2_entry_pos(int(args[0], 0)), args[1] == "on")
    elif action == "l2-copied":
        img.set_flag(img.l1_entry_pos(int(args[0], 0)), args[1] == "on")
    elif action == "leak":
        img.f.seek(0, 2)
        end = img.f.tell()
        first = (end + img.cluster - 1) // img.cluster
        for i in range(int(args[0], 0)):
            img.write((first + i) * img.cluster, b"\x5a" * img.cluster)
            img.set_refcount(first + i, 1)
    elif action == "flags":
        bit = {"dirty": 0, "corrupt": 1}[args[0]]
        img.write(72, struct.pack(">Q", img.incompat | (1 << bit)))
    elif action == "show":
        g = int(args[0], 0)
        print("l2 cluster %d data cluster %d" % (img.l2_cluster(g), img.data_cluster(g)))
    else:
        sys.exit("unknown action " + action)
    img.f.close()


if __name__ == "__main__":
    main(sys.argv)
