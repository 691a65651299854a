// `-p [HOSTIP:][HOSTPORT:]PORT[/tcp|/udp]`: a host port whose connections (or datagrams) the
// gateway carries inward to the app's PORT. Docker's and podman's forms: no HOSTIP means every
// address of both families; IPv6 host addresses go in brackets (`-p [::1]:8080:80`); no
// HOSTPORT means one the kernel picks (printed at start); `8080-8089:80-89` is ten ports.

import Wire

public struct PublishedPort: Hashable, Sendable, CustomStringConvertible {
    public enum Transport: String, Sendable, Hashable {
        case tcp
        case udp
    }

    /// nil: every address of both families (one dual-stack socket, IPv4 alone where the host
    /// has no IPv6).
    public var hostAddress: IPAddress?
    /// 0: the kernel picks one when the socket is bound.
    public var hostPort: UInt16
    public var appPort: UInt16
    public var transport: Transport

    /// Ports a sandbox may publish in all (ranges count each port): each is a host socket and
    /// a descriptor of the gateway's.
    public static let maximum = 1024

    public init(hostAddress: IPAddress? = nil, hostPort: UInt16, appPort: UInt16, transport: Transport = .tcp) {
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.appPort = appPort
        self.transport = transport
    }

    /// "0.0.0.0:8080", "[::1]:8080", or "*:8080" for every address.
    public var hostText: String {
        guard let hostAddress else { return "*:\(hostPort)" }
        return hostAddress.isV4 ? "\(hostAddress):\(hostPort)" : "[\(hostAddress)]:\(hostPort)"
    }

    public var description: String {
        (hostAddress == nil ? "\(hostPort)" : hostText) + ":\(appPort)/\(transport.rawValue)"
    }

    /// The same mapping with the host port `socket` is bound to (the kernel's pick for 0).
    public func bound(to socket: Int32) -> PublishedPort {
        guard hostPort == 0, let local = try? Syscall.localAddress(socket) else { return self }
        var copy = self
        copy.hostPort = local.port
        return copy
    }

    /// Exactly one port (`-p` without a range), as the gateway's control socket sends it.
    public init(parsing text: String) throws(PublishedPortError) {
        let ports = try Self.parse(text)
        guard ports.count == 1 else { throw .badSyntax(text) }
        self = ports[0]
    }

    /// Every port one `-p` names, in order.
    public static func parse(_ text: String) throws(PublishedPortError) -> [PublishedPort] {
        var rest = Substring(text)
        var transport = Transport.tcp
        if let slash = rest.lastIndex(of: "/") {
            guard let parsed = Transport(rawValue: String(rest[rest.index(after: slash)...])) else {
                throw .badTransport(text)
            }
            transport = parsed
            rest = rest[..<slash]
        }
        var hostAddress: IPAddress?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"),
                let address = IPAddress(rest[rest.index(after: rest.startIndex)..<close]), !address.isV4
            else { throw .badHostAddress(text) }
            hostAddress = address
            rest = rest[rest.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .badSyntax(text) }
            rest = rest.dropFirst()
        }
        var parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 3, hostAddress == nil {
            guard let address = IPAddress(parts[0]), address.isV4 else { throw .badHostAddress(text) }
            hostAddress = address
            parts.removeFirst()
        }
        let hostPorts: ClosedRange<UInt16>?
        switch parts.count {
        case 1 where hostAddress == nil:
            hostPorts = nil
        case 2 where parts[0].isEmpty && hostAddress != nil:
            hostPorts = nil
        case 2:
            guard let range = portRange(parts[0]) else { throw .badPort(text) }
            hostPorts = range
        default:
            throw .badSyntax(text)
        }
        guard let appPorts = portRange(parts[parts.count - 1]) else { throw .badPort(text) }
        if let hostPorts, hostPorts.count != appPorts.count { throw .rangeMismatch(text) }
        guard appPorts.count <= maximum else { throw .tooMany(text) }
        return appPorts.enumerated().map { offset, appPort in
            let hostPort = hostPorts.map { $0.lowerBound + UInt16(offset) } ?? 0
            return PublishedPort(hostAddress: hostAddress, hostPort: hostPort, appPort: appPort, transport: transport)
        }
    }

    /// "80" or "8080-8089", each port 1-65535, the range ascending.
    private static func portRange(_ text: Substring) -> ClosedRange<UInt16>? {
        let ends = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let low = port(ends[0]), let high = ends.count == 2 ? port(ends[1]) : low, low <= high else {
            return nil
        }
        return low...high
    }

    private static func port(_ text: Substring) -> UInt16? {
        guard (1...5).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = UInt16(text), value != 0
        else { return nil }
        return value
    }
}

public enum PublishedPortError: Error, Sendable, Equatable, CustomStringConvertible {
    case badSyntax(String)
    case badHostAddress(String)
    case badPort(String)
    case badTransport(String)
    case rangeMismatch(String)
    case tooMany(String)

    public var description: String {
        switch self {
        case .badSyntax(let t): "-p \(t): expected [HOSTIP:][HOSTPORT:]PORT[/tcp|/udp]"
        case .badHostAddress(let t): "-p \(t): the host address is not an IP address (IPv6 goes in brackets)"
        case .badPort(let t): "-p \(t): ports must be 1-65535 (a range as LOW-HIGH)"
        case .badTransport(let t): "-p \(t): the protocol must be tcp or udp"
        case .rangeMismatch(let t): "-p \(t): the host and app port ranges must be the same length"
        case .tooMany(let t): "-p \(t): at most \(PublishedPort.maximum) published ports in all"
        }
    }
}
