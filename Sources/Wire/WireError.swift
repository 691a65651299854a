/// Why bytes could not be parsed. Every parser in Wire reports hostile or damaged input with one
/// of these and never traps.
public enum WireError: Error, Sendable, Equatable {
    /// The buffer is shorter than a header needs or than a length field claims.
    case truncated
    /// A length field is inconsistent (IHL < 5, total length < header length, ...).
    case badLength
    /// The version field is not the one this parser handles.
    case badVersion
    /// The checksum does not verify.
    case badChecksum
    /// A field holds a value the format forbids (a bad option length, a zero port, ...).
    case malformed
    /// Well-formed but outside what we handle (ARP for a non-IPv4 protocol, ...).
    case unsupported
}
