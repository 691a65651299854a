// Builds DNS messages for the tests (an encoder the product does not need).

import UserNet
import Wire

enum DNSTestMessages {
    static func encode(name: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in name.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out += label.utf8
        }
        out.append(0)
        return out
    }

    static func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func u32(_ v: UInt32) -> [UInt8] { u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF)) }

    static func query(id: UInt16, name: String, type: UInt16 = 1) -> [UInt8] {
        u16(id) + u16(0x0100) + u16(1) + u16(0) + u16(0) + u16(0) + encode(name: name) + u16(type) + u16(1)
    }

    /// A response to `name` with an optional CNAME to `cname` and A/AAAA records on the final
    /// name; names after the question use compression pointers to offset 12.
    static func response(id: UInt16, name: String, cname: String? = nil, addresses: [String], ttl: UInt32) throws
        -> [UInt8]
    {
        var answers: [[UInt8]] = []
        var targetPointer: [UInt8] = [0xC0, 12]
        let questionEnd = 12 + encode(name: name).count + 4
        if let cname {
            let rdata = encode(name: cname)
            answers.append(targetPointer + u16(5) + u16(1) + u32(ttl) + u16(UInt16(rdata.count)) + rdata)
            // The CNAME target sits after its record's fixed part: question end + 2 + 10.
            let offset = questionEnd + 2 + 10
            targetPointer = [0xC0 | UInt8(offset >> 8), UInt8(offset & 0xFF)]
        }
        for text in addresses {
            guard let address = IPAddress(text) else { throw TestFailure.setup("address", 0) }
            switch address {
            case .v4(let a):
                answers.append(targetPointer + u16(1) + u16(1) + u32(ttl) + u16(4) + u32(a.rawValue))
            case .v6(let a):
                answers.append(
                    targetPointer + u16(28) + u16(1) + u32(ttl) + u16(16)
                        + u32(UInt32(a.high >> 32)) + u32(UInt32(a.high & 0xFFFF_FFFF))
                        + u32(UInt32(a.low >> 32)) + u32(UInt32(a.low & 0xFFFF_FFFF)))
            }
        }
        return u16(id) + u16(0x8180) + u16(1) + u16(UInt16(answers.count)) + u16(0) + u16(0)
            + encode(name: name) + u16(1) + u16(1) + answers.flatMap { $0 }
    }
}
