// `-p [HOSTIP:]HOSTPORT:PORT[/tcp|/udp]`: a host port whose connections (or datagrams) the
// gateway carries inward to the app's PORT. Like docker/podman, no HOSTIP means every host
// address; IPv6 host addresses go in brackets (`-p [::1]:8080:80`).

import Wire

public struct PublishedPort: Hashable, Sendable, CustomStringConvertible {
    public enum Transport: String, Sendable, Hashable {
        case tcp
        case udp
    }

    public var hostAddress: IPAddress
    public var hostPort: UInt16
    public var appPort: UInt16
    public var transport: Transport

    public init(hostAddress: IPAddress = .v4(.any), hostPort: UInt16, appPort: UInt16, transport: Transport = .tcp) {
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.appPort = appPort
        self.transport = transport
    }

    public var hostSocketAddress: SocketAddress { SocketAddress(hostAddress, port: hostPort) }

    public var description: String {
        let host = hostAddress.isV4 ? "\(hostAddress)" : "[\(hostAddress)]"
        return "\(host):\(hostPort):\(appPort)/\(transport.rawValue)"
    }

    public init(parsing text: String) throws(PublishedPortError) {
        var rest = Substring(text)
        transport = .tcp
        if let slash = rest.lastIndex(of: "/") {
            guard let parsed = Transport(rawValue: String(rest[rest.index(after: slash)...])) else {
                throw .badTransport(text)
            }
            transport = parsed
            rest = rest[..<slash]
        }
        hostAddress = .v4(.any)
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"),
                let address = IPAddress(rest[rest.index(after: rest.startIndex)..<close]),
                !address.isV4
            else { throw .badHostAddress(text) }
            hostAddress = address
            rest = rest[rest.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .badSyntax(text) }
            rest = rest.dropFirst()
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        let portParts: ArraySlice<Substring>
        switch parts.count {
        case 2:
            portParts = parts[0...1]
        case 3 where hostAddress == .v4(.any) && !text.hasPrefix("["):
            guard let address = IPAddress(parts[0]), address.isV4 else { throw .badHostAddress(text) }
            hostAddress = address
            portParts = parts[1...2]
        default:
            throw .badSyntax(text)
        }
        guard let hostPort = Self.port(portParts[portParts.startIndex]) else { throw .badPort(text) }
        guard let appPort = Self.port(portParts[portParts.startIndex + 1]) else { throw .badPort(text) }
        self.hostPort = hostPort
        self.appPort = appPort
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

    public var description: String {
        switch self {
        case .badSyntax(let t): "-p \(t): expected [HOSTIP:]HOSTPORT:PORT[/tcp|/udp]"
        case .badHostAddress(let t): "-p \(t): the host address is not an IP address (IPv6 goes in brackets)"
        case .badPort(let t): "-p \(t): ports must be 1-65535"
        case .badTransport(let t): "-p \(t): the protocol must be tcp or udp"
        }
    }
}
