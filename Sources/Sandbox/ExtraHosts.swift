// `--add-host NAME:IP` (docker's flag): lines added to the sandbox's /etc/hosts. IP may be
// IPv4, IPv6 (bare or in brackets) or `host-gateway`, the gateway's addresses (the host's
// loopback under --allow-host-loopback), as docker and podman spell it.

import UserNet
import Wire

public struct ExtraHost: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case address(IPAddress)
        case gateway
    }

    public var name: String
    public var target: Target

    public static func parse(_ text: String) throws(SandboxError) -> ExtraHost {
        guard let colon = text.firstIndex(of: ":") else {
            throw .invalidArgument("bad --add-host \(text): expected NAME:IP (or NAME:host-gateway)")
        }
        let name = String(text[..<colon])
        var rest = Substring(text[text.index(after: colon)...])
        if rest.hasPrefix("["), rest.hasSuffix("]") { rest = rest.dropFirst().dropLast() }
        do { try HostnameRules.validate(name) } catch {
            throw .invalidArgument("bad --add-host \(text): '\(name)' is not a host name (letters, digits, '-', '.')")
        }
        if rest == "host-gateway" { return ExtraHost(name: name, target: .gateway) }
        guard let address = IPAddress(rest) else {
            throw .invalidArgument("bad --add-host \(text): '\(rest)' is not an IPv4 or IPv6 address (or host-gateway)")
        }
        return ExtraHost(name: name, target: .address(address))
    }

    /// The /etc/hosts lines for this entry in `network`.
    func hostsLines(in network: NetworkConfiguration) -> [String] {
        switch target {
        case .address(let address): ["\(address) \(name)"]
        case .gateway: ["\(network.gatewayV4) \(name)", "\(network.gatewayV6) \(name)"]
        }
    }
}
