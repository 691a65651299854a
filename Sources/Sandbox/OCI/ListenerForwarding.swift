import Glibc
import Posix
import UserNet

/// Ports an OCI container's app listens on, published from the engine's network namespace
/// as they appear (pasta's `-t auto`), so that `podman run -p` (whose DNAT leads to the
/// container's address in that namespace) and a Kubernetes Service reach the app unchanged.
///
/// Once a second it reads the app's TCP listeners (/proc/INIT/net/tcp and tcp6, the view of
/// its network namespace) and has the gateway publish each new one on 0.0.0.0:PORT, bound
/// here. A listener on loopback only is not published (the app asked for it to stay inside).
/// Bounded: at most `maximumPorts`; a port that cannot be bound (in use) is not tried again.
enum ListenerForwarding {
    static let maximumPorts = 256
    static let interval: useconds_t = 1_000_000

    /// Starts the watching thread; it ends with the sandbox (its init's /proc entry goes).
    static func start(gateway: GatewayProcess, initPID: pid_t, onPublished: @escaping @Sendable (PublishedPort) -> Void)
    {
        let started = ProcessStartTime.of(initPID)
        _ = startDetachedThread {
            var tried = Set<UInt16>()
            while ProcessStartTime.of(initPID) == started, let listening = listeningPorts(initPID: initPID) {
                for port in listening.subtracting(tried).sorted() where tried.count < maximumPorts {
                    tried.insert(port)
                    let published = PublishedPort(hostPort: port, appPort: port)
                    guard let socket = try? PortPublisher.openSocket(for: published) else { continue }
                    let handed = gateway.publish(published, socket: socket)
                    Posix.close(socket)
                    guard handed else { return }
                    onPublished(published)
                }
                usleep(interval)
            }
        }
    }

    /// The non-loopback TCP listening ports of the app's namespace; nil once it is gone.
    static func listeningPorts(initPID: pid_t) -> Set<UInt16>? {
        guard let v4 = try? Posix.readFile("/proc/\(initPID)/net/tcp", limit: 4 << 20) else { return nil }
        let v6 = (try? Posix.readFile("/proc/\(initPID)/net/tcp6", limit: 4 << 20)) ?? []
        return listeners(in: String(decoding: v4, as: UTF8.self)).union(
            listeners(in: String(decoding: v6, as: UTF8.self)))
    }

    /// Parses /proc/net/tcp{,6}: "sl local_address rem_address st ...", addresses as hex
    /// ADDRESS:PORT, state 0A is LISTEN.
    static func listeners(in table: String) -> Set<UInt16> {
        var ports = Set<UInt16>()
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[3] == "0A" else { continue }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, let port = UInt16(local[1], radix: 16), !isLoopback(local[0]) else { continue }
            ports.insert(port)
        }
        return ports
    }

    /// 127.0.0.0/8 (printed as a host-order word: ..7F), ::1 and ::ffff:127.x.
    static func isLoopback(_ hex: Substring) -> Bool {
        switch hex.count {
        case 8: return hex.hasSuffix("7F")
        case 32:
            return hex == "00000000000000000000000001000000"
                || (hex.hasPrefix("0000000000000000FFFF0000") && hex.hasSuffix("7F"))
        default: return true
        }
    }
}
