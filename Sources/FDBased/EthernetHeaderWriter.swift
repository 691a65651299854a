// Writes the 14-byte Ethernet II header of an outbound frame.
import Wire

enum EthernetHeaderWriter {
    @inline(__always)
    static func write(destination: MACAddress, source: MACAddress, etherType: EtherType,
                      into header: UnsafeMutableRawBufferPointer) {
        for i in 0..<6 {
            header[i] = destination.octet(i)
            header[6 + i] = source.octet(i)
        }
        header[12] = UInt8(truncatingIfNeeded: etherType.rawValue >> 8)
        header[13] = UInt8(truncatingIfNeeded: etherType.rawValue)
    }
}
