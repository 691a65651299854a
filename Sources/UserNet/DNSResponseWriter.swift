// The answers the DNS forwarder writes itself (RFC 1035 4.1): REFUSED for a name the policy
// does not let out, the sandbox's own names, NXDOMAIN inside its own zone. The question is
// echoed byte for byte from the query; answer records name it by a pointer to offset 12
// (RFC 1035 4.1.4). EDNS and other additional records of the query are not echoed.

import Wire

public enum DNSResponseCode: UInt8, Sendable {
    case noError = 0
    case nameError = 3
    case refused = 5
}

public enum DNSResponseWriter {
    /// The response to `query` (raw bytes of a parsed query with one question), or nil when
    /// its first question cannot be delimited.
    public static func response(
        toQuery query: UnsafeRawBufferPointer, code: DNSResponseCode, authoritative: Bool,
        addresses: [IPAddress] = [], pointer: DNSName? = nil, ttl: UInt32 = 60
    ) -> [UInt8]? {
        guard let questionEnd = endOfFirstQuestion(query) else { return nil }
        var out = [UInt8](query[0..<2])
        // QR, the query's opcode and RD, AA when the name is ours, RA (RFC 1035 4.1.1).
        let opcodeAndRD = query[2] & 0x79
        out.append(0x80 | opcodeAndRD | (authoritative ? 0x04 : 0))
        out.append(0x80 | code.rawValue)
        append16(&out, 1)
        append16(&out, UInt16(addresses.count + (pointer == nil ? 0 : 1)))
        append16(&out, 0)
        append16(&out, 0)
        out += query[DNSHeader.length..<questionEnd]
        for address in addresses {
            append16(&out, 0xC00C)
            switch address {
            case .v4(let a):
                append16(&out, DNSRecordType.a.rawValue)
                append16(&out, 1)
                append32(&out, ttl)
                append16(&out, 4)
                append32(&out, a.rawValue)
            case .v6(let a):
                append16(&out, DNSRecordType.aaaa.rawValue)
                append16(&out, 1)
                append32(&out, ttl)
                append16(&out, 16)
                append32(&out, UInt32(truncatingIfNeeded: a.high >> 32))
                append32(&out, UInt32(truncatingIfNeeded: a.high))
                append32(&out, UInt32(truncatingIfNeeded: a.low >> 32))
                append32(&out, UInt32(truncatingIfNeeded: a.low))
            }
        }
        if let pointer {
            // RFC 1035 3.3.12: PTRDNAME, written out (no compression).
            var name: [UInt8] = []
            for label in pointer.labels { name += [UInt8(truncatingIfNeeded: label.utf8.count)] + Array(label.utf8) }
            name.append(0)
            append16(&out, 0xC00C)
            append16(&out, DNSRecordType.ptr.rawValue)
            append16(&out, 1)
            append32(&out, ttl)
            append16(&out, UInt16(name.count))
            out += name
        }
        return out
    }

    /// Offset just past QNAME, QTYPE and QCLASS of the first question; nil when the name is
    /// cut short or holds a compression pointer. Nothing precedes the first name of a query but
    /// the header, so a pointer there can only point into the header, whose ID the forwarder
    /// rewrites: upstream would read another name than the policy judged (found by fuzzing).
    public static func endOfFirstQuestion(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var offset = DNSHeader.length
        while offset < bytes.count {
            let length = Int(bytes[offset])
            if length == 0 {
                offset += 1
                break
            }
            guard length <= 63 else { return nil }
            offset += 1 + length
        }
        guard offset <= bytes.count, bytes[offset - 1] == 0, offset + 4 <= bytes.count else { return nil }
        return offset + 4
    }

    private static func append16(_ out: inout [UInt8], _ value: UInt16) {
        out.append(UInt8(value >> 8))
        out.append(UInt8(value & 0xFF))
    }

    private static func append32(_ out: inout [UInt8], _ value: UInt32) {
        append16(&out, UInt16(value >> 16))
        append16(&out, UInt16(value & 0xFFFF))
    }
}
