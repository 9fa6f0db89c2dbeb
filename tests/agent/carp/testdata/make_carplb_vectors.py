#!/usr/bin/env python3
"""Writes carplb_vhid42_love_b1_s0.hex: ten adverts as carplb's encoder must produce them
(vhid 42, password "love", VIP 192.0.2.100, advbase 1, advskew 0, demote 0, source
192.0.2.2, IP id 0, counters 0x1122334455667788 + i). Independent of the C++ code: python's
hmac/struct only. ucarp_vectors_test.cc checks our encoder reproduces every byte, and
interop_ucarp.sh feeds them to a live ucarp."""
import hashlib, hmac, struct, sys

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def packet(counter, vhid=42, password=b"love", vip=bytes([192, 0, 2, 100]), src=bytes([192, 0, 2, 2]),
           advbase=1, advskew=0, demote=0):
    ctr = struct.pack("!Q", counter)
    md = hmac.new(password, bytes([2, 1, vhid]) + vip + ctr, hashlib.sha1).digest()
    carp = bytearray(bytes([0x21, vhid, advskew, 7, demote, advbase, 0, 0]) + ctr + md)
    carp[6:8] = struct.pack("!H", csum(bytes(carp)))
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0x10, 56, 0, 0x4000, 255, 112, 0, src, bytes([224, 0, 0, 18])))
    ip[10:12] = struct.pack("!H", csum(bytes(ip)))
    return bytes(ip) + bytes(carp)

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "carplb_vhid42_love_b1_s0.hex"
    with open(out, "w") as f:
        for i in range(10):
            f.write(packet(0x1122334455667788 + i).hex() + "\n")
