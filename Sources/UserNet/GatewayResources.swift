// What the gateway needs the launcher's privileges for, opened before it gives them up: the
// pcap and connection-log files (paths resolve in the launcher's file system, which the
// confined gateway no longer sees) and the published ports' host sockets (a port below 1024
// needs CAP_NET_BIND_SERVICE). The confined gateway process receives these descriptors and
// never opens a path or binds a port itself.

import Glibc
import Posix

public struct GatewayResources: Sendable, Equatable {
    public var pcapFD: Int32?
    public var connectionLogFD: Int32?
    /// One socket per `UserNetOptions.publishedPorts` entry, in that order: bound, and
    /// listening when TCP.
    public var publishedPortFDs: [Int32]

    public init(pcapFD: Int32? = nil, connectionLogFD: Int32? = nil, publishedPortFDs: [Int32] = []) {
        self.pcapFD = pcapFD
        self.connectionLogFD = connectionLogFD
        self.publishedPortFDs = publishedPortFDs
    }

    /// Opens everything `options` asks for; on failure closes what it opened.
    public static func open(for options: UserNetOptions) throws(GatewayError) -> GatewayResources {
        var resources = GatewayResources()
        if let path = options.pcapPath {
            do { resources.pcapFD = try PcapWriter.openFile(path) } catch { throw .pcapFile(path, error) }
        }
        if let path = options.connectionLogPath {
            do { resources.connectionLogFD = try ConnectionLog.openFile(path) } catch {
                resources.close()
                throw .connectionLogFile(path, error)
            }
        }
        for port in options.publishedPorts {
            do {
                resources.publishedPortFDs.append(try PortPublisher.openSocket(for: port))
            } catch {
                resources.close()
                throw .publish(port, error)
            }
        }
        return resources
    }

    /// `ports` (the `publishedPorts` these were opened for) with the host port each socket
    /// was bound to: the kernel's pick where none was given.
    public func bound(_ ports: [PublishedPort]) -> [PublishedPort] {
        zip(ports, publishedPortFDs).map { port, fd in port.bound(to: fd) }
    }

    /// Every descriptor, in a fixed order (pcap, log, ports): how they are handed on.
    public var all: [Int32] { [pcapFD, connectionLogFD].compactMap { $0 } + publishedPortFDs }

    public func close() {
        for fd in all { Posix.close(fd) }
    }
}
