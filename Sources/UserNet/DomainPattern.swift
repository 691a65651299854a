// The NAME of `--allow-domain NAME[:PORTS]`: an exact name (`api.example.com`), or a wildcard
// (`*.example.com`) that matches every name below example.com but not example.com itself, as
// a TLS certificate's wildcard does not. Validated strictly so a typo cannot widen a fence:
// labels of letters, digits, '-' and '_' (RFC 952/1123 host names plus SRV-style labels), a
// '*' only as the whole first label, and at least two labels in all.

public struct DomainPattern: Sendable, Hashable, CustomStringConvertible {
    /// The name itself, or (wildcard) the name the matches lie below.
    public let base: DNSName
    public let isWildcard: Bool

    public init(parsing text: String) throws(PolicyParseError) {
        var trimmed = Substring(text.lowercased())
        if trimmed.hasSuffix(".") { trimmed = trimmed.dropLast() }
        var wildcard = false
        if trimmed.hasPrefix("*.") {
            wildcard = true
            trimmed = trimmed.dropFirst(2)
        }
        let labels = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= (wildcard ? 1 : 2) else {
            throw .badDomain(
                text, wildcard ? "a wildcard needs a domain below '*.'" : "a single label matches no Internet name")
        }
        for label in labels {
            guard !label.isEmpty else { throw .badDomain(text, "empty label") }
            guard label.utf8.count <= 63 else { throw .badDomain(text, "a label is longer than 63 bytes") }
            guard label != "*" else {
                throw .badDomain(text, "'*' may only be the whole first label, as in *.example.com")
            }
            guard label.utf8.allSatisfy(Self.isLabelByte) else {
                throw .badDomain(text, "labels hold letters, digits, '-' and '_' only")
            }
            guard !label.hasPrefix("-"), !label.hasSuffix("-") else {
                throw .badDomain(text, "a label starts or ends with '-'")
            }
        }
        guard let name = DNSName(String(trimmed)) else { throw .badDomain(text, "longer than 255 bytes") }
        base = name
        isWildcard = wildcard
    }

    public func matches(_ name: DNSName) -> Bool {
        guard name.isWithin(base) else { return false }
        return isWildcard ? name.labels.count > base.labels.count : name.labels.count == base.labels.count
    }

    public var description: String { isWildcard ? "*.\(base)" : base.description }

    private static func isLabelByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}
