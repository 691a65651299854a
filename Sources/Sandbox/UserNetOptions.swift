import Glibc

/// The options of the user-mode gateway (`--net=user`), validated here so that a mistake is
/// reported before anything starts. They are handed to UserNet once that module is wired in.
public struct UserNetOptions: Sendable, Equatable {
    public var publish: [PortMapping] = []
    public var allowHostLoopback = false
    public var allow: [EgressRule] = []
    public var deny: [EgressRule] = []
    public var allowDomains: [String] = []
    public var dnsServers: [String] = []
    /// The app's IPv4 network; nil means the slirp default 10.0.2.0/24.
    public var cidr: IPv4Network?
    public var mtu: Int?
    public var pcapPath: String?
    public var logConnections = false
    public var dispatch: DispatchMode?

    public init() {}

    /// The flags that were given, by name (to refuse them with another --net mode).
    public var flagsInUse: [String] {
        var flags: [String] = []
        if !publish.isEmpty { flags.append("--publish") }
        if allowHostLoopback { flags.append("--allow-host-loopback") }
        if !allow.isEmpty { flags.append("--allow") }
        if !deny.isEmpty { flags.append("--deny") }
        if !allowDomains.isEmpty { flags.append("--allow-domain") }
        if !dnsServers.isEmpty { flags.append("--dns") }
        if cidr != nil { flags.append("--cidr") }
        if mtu != nil { flags.append("--mtu") }
        if pcapPath != nil { flags.append("--pcap") }
        if logConnections { flags.append("--log-connections") }
        if dispatch != nil { flags.append("--dispatch") }
        return flags
    }

    public static let mtuRange = 1280...65520

    public static func parseMTU(_ text: String) throws(SandboxError) -> Int {
        guard let value = Int(text), mtuRange.contains(value) else {
            throw .invalidArgument("bad --mtu \(text): use \(mtuRange.lowerBound) to \(mtuRange.upperBound) (IPv6 needs at least 1280)")
        }
        return value
    }

    public static func parseDNS(_ text: String) throws(SandboxError) -> String {
        guard IPAddressText.isIPv4(text) || IPAddressText.isIPv6(text) else {
            throw .invalidArgument("bad --dns \(text): expected an IPv4 or IPv6 address")
        }
        return text
    }

    public static func parseDomain(_ text: String) throws(SandboxError) -> String {
        let name = text.hasPrefix("*.") ? String(text.dropFirst(2)) : text
        guard name.utf8.count <= 253, HostnameRules.isValidName(name) else {
            throw .invalidArgument("bad --allow-domain \(text): expected a domain name such as example.com or *.example.com")
        }
        return text.lowercased()
    }
}

/// `--dispatch`: how the gateway reads frames from the veth (FDBased's PacketDispatchMode).
public enum DispatchMode: String, Sendable, CaseIterable, Equatable {
    case readv
    case recvmmsg
    case packetMMap = "packet-mmap"
}

/// `-p [HOST_IP:]HOST_PORT:SANDBOX_PORT[/tcp|/udp]`: a port published inward.
public struct PortMapping: Sendable, Equatable {
    public enum TransportProtocol: String, Sendable, Equatable { case tcp, udp }
    public var hostAddress: String?
    public var hostPort: UInt16
    public var sandboxPort: UInt16
    public var transport: TransportProtocol

    public init(hostAddress: String?, hostPort: UInt16, sandboxPort: UInt16, transport: TransportProtocol) {
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.sandboxPort = sandboxPort
        self.transport = transport
    }

    public static func parse(_ text: String) throws(SandboxError) -> PortMapping {
        let usage = "expected [HOST_IP:]HOST_PORT:SANDBOX_PORT[/tcp|/udp], e.g. 8080:80"
        var spec = Substring(text)
        var transport = TransportProtocol.tcp
        if let slash = spec.lastIndex(of: "/") {
            guard let parsed = TransportProtocol(rawValue: String(spec[spec.index(after: slash)...])) else {
                throw .invalidArgument("bad --publish \(text): the protocol must be tcp or udp")
            }
            transport = parsed
            spec = spec[..<slash]
        }
        // An IPv6 host address is written in brackets: [::1]:8080:80.
        var hostAddress: String?
        if spec.hasPrefix("[") {
            guard let close = spec.firstIndex(of: "]") else { throw .invalidArgument("bad --publish \(text): \(usage)") }
            hostAddress = String(spec[spec.index(after: spec.startIndex)..<close])
            spec = spec[spec.index(after: close)...]
            guard spec.hasPrefix(":") else { throw .invalidArgument("bad --publish \(text): \(usage)") }
            spec = spec.dropFirst()
        }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        let ports: ArraySlice<Substring>
        switch (parts.count, hostAddress) {
        case (2, _): ports = parts[0...1]
        case (3, nil): hostAddress = String(parts[0]); ports = parts[1...2]
        default: throw .invalidArgument("bad --publish \(text): \(usage)")
        }
        guard let hostPort = UInt16(ports[ports.startIndex]), hostPort > 0,
              let sandboxPort = UInt16(ports[ports.startIndex + 1]), sandboxPort > 0 else {
            throw .invalidArgument("bad --publish \(text): ports are 1 to 65535")
        }
        if let address = hostAddress, !IPAddressText.isIPv4(address), !IPAddressText.isIPv6(address) {
            throw .invalidArgument("bad --publish \(text): \(address) is not an IP address")
        }
        return PortMapping(hostAddress: hostAddress, hostPort: hostPort, sandboxPort: sandboxPort, transport: transport)
    }
}

/// `--allow` / `--deny`: `CIDR[:PORT]` or `ADDRESS[:PORT]` (IPv6 in brackets), an egress rule.
public struct EgressRule: Sendable, Equatable {
    public var address: String
    public var prefixLength: Int
    public var port: UInt16?

    public init(address: String, prefixLength: Int, port: UInt16?) {
        self.address = address
        self.prefixLength = prefixLength
        self.port = port
    }

    public static func parse(_ text: String, flag: String) throws(SandboxError) -> EgressRule {
        let usage = "expected ADDRESS[/PREFIX][:PORT], e.g. 192.0.2.0/24:443 or [2001:db8::]/32"
        var spec = Substring(text)
        var port: UInt16?
        var addressPart: Substring
        if spec.hasPrefix("[") {
            guard let close = spec.firstIndex(of: "]") else { throw .invalidArgument("bad \(flag) \(text): \(usage)") }
            addressPart = spec[spec.index(after: spec.startIndex)..<close]
            spec = spec[spec.index(after: close)...]
            if spec.hasPrefix("/"), let colon = spec.firstIndex(of: ":") {
                addressPart = addressPart + spec[..<colon]
                spec = spec[colon...]
            } else if spec.hasPrefix("/") {
                addressPart = addressPart + spec
                spec = ""
            }
            if spec.hasPrefix(":") {
                guard let parsed = UInt16(spec.dropFirst()), parsed > 0 else { throw .invalidArgument("bad \(flag) \(text): bad port") }
                port = parsed
            } else if !spec.isEmpty {
                throw .invalidArgument("bad \(flag) \(text): \(usage)")
            }
        } else {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw .invalidArgument("bad \(flag) \(text): \(usage) (IPv6 goes in brackets)") }
            addressPart = parts[0]
            if parts.count == 2 {
                guard let parsed = UInt16(parts[1]), parsed > 0 else { throw .invalidArgument("bad \(flag) \(text): bad port") }
                port = parsed
            }
        }
        let pieces = addressPart.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count <= 2 else { throw .invalidArgument("bad \(flag) \(text): \(usage)") }
        let address = String(pieces[0])
        let maxPrefix: Int
        if IPAddressText.isIPv4(address) { maxPrefix = 32 } else if IPAddressText.isIPv6(address) { maxPrefix = 128 } else {
            throw .invalidArgument("bad \(flag) \(text): \(address) is not an IP address")
        }
        var prefix = maxPrefix
        if pieces.count == 2 {
            guard let parsed = Int(pieces[1]), (0...maxPrefix).contains(parsed) else {
                throw .invalidArgument("bad \(flag) \(text): the prefix length must be 0 to \(maxPrefix)")
            }
            prefix = parsed
        }
        return EgressRule(address: address, prefixLength: prefix, port: port)
    }
}

/// `--cidr A.B.C.D/N`: the app's IPv4 network (room for gateway, DNS and app: N <= 29).
public struct IPv4Network: Sendable, Equatable {
    public var address: String
    public var prefixLength: Int

    public init(address: String, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public static func parse(_ text: String) throws(SandboxError) -> IPv4Network {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, IPAddressText.isIPv4(String(parts[0])), let prefix = Int(parts[1]) else {
            throw .invalidArgument("bad --cidr \(text): expected an IPv4 network such as 10.0.2.0/24")
        }
        guard (8...29).contains(prefix) else {
            throw .invalidArgument("bad --cidr \(text): the prefix length must be 8 to 29 (room for gateway, DNS and app)")
        }
        return IPv4Network(address: String(parts[0]), prefixLength: prefix)
    }
}

enum IPAddressText {
    static func isIPv4(_ text: String) -> Bool {
        var out = in_addr()
        return inet_pton(AF_INET, text, &out) == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        var out = in6_addr()
        return inet_pton(AF_INET6, text, &out) == 1
    }
}
