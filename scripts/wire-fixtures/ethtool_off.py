#!/usr/bin/env python3
"""Turns off tx checksum offload, scatter-gather, TSO and GSO on an interface (ethtool -K
without ethtool): the frames a capture sees then carry final checksums and MTU-sized segments."""
import ctypes, fcntl, socket, struct, sys

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO = 0x17, 0x19, 0x1F, 0x24

def ethtool_set(sock, ifname, cmd, value):
    value_buffer = ctypes.create_string_buffer(struct.pack("II", cmd, value))
    ifreq = struct.pack("16sP16x", ifname.encode(), ctypes.addressof(value_buffer))
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for ifname in sys.argv[1:]:
    for cmd in (ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SSG, ETHTOOL_STXCSUM):
        ethtool_set(sock, ifname, cmd, 0)
