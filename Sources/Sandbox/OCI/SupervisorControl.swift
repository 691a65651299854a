// A detached sandbox's supervisor answers `sandbox update` on a socket in the sandbox's state
// directory (0700, so only its owner reaches it): one request a connection, one answer. The
// only request today replaces the gateway's link faults: "faults ENCODED" (LinkFaults'
// one-token form), answered "ok", or "error WHY".

import CLauncher
import Glibc
import Posix
import UserNet

/// A sandbox's link whose faults change while it runs: its own gateway, or its port on a
/// named network's switch.
public protocol LinkFaultsAdjustable: Sendable {
    /// True once taken; false if the link has no fault stage; nil if its gateway is gone.
    func setLinkFaults(_ faults: LinkFaults) -> Bool?
}

extension GatewayProcess: LinkFaultsAdjustable {}
extension NetworkAttachment: LinkFaultsAdjustable {}

public enum SupervisorControl {
    static let socketName = "control.sock"
    static let maximumRequest = 1024

    /// Starts answering in the background, for as long as the supervisor lives.
    static func serve(in directory: String, gateway: any LinkFaultsAdjustable) {
        let path = directory + "/" + socketName
        unlink(path)
        let listener = sbx_listen_unix(path)
        guard listener >= 0 else { return }
        _ = startDetachedThread {
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return
                }
                // accept4 is not imported from Glibc; the sandbox is running by now, so nothing
                // clones between the two calls to inherit it.
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                let answer = handle(read(from: connection), gateway: gateway)
                _ = Array(answer.utf8).withUnsafeBytes {
                    send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                Posix.close(connection)
            }
        }
    }

    static func handle(_ request: String, gateway: any LinkFaultsAdjustable) -> String {
        guard request.hasPrefix("faults "), let faults = LinkFaults(encoded: String(request.dropFirst(7))) else {
            return "error unknown request"
        }
        switch gateway.setLinkFaults(faults) {
        case true?: return "ok"
        case false?: return "error this sandbox's link has no fault stage (it was not started detached)"
        case nil: return "error the sandbox's gateway is gone"
        }
    }

    /// Sends `request` to the supervisor of the sandbox whose state is `directory`; its answer.
    public static func ask(_ request: String, directory: String) throws(SandboxError) -> String {
        let connection = sbx_connect_unix(directory + "/" + socketName)
        guard connection >= 0 else {
            throw .system(
                PosixError(call: "connect", errno: errno), detail: "(the sandbox's supervisor: is it running?)")
        }
        defer { Posix.close(connection) }
        let sent = Array(request.utf8).withUnsafeBytes {
            send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
        }
        guard sent == request.utf8.count else {
            throw .system(PosixError(call: "send", errno: errno), detail: "(the sandbox's supervisor)")
        }
        return read(from: connection)
    }

    static func read(from fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: maximumRequest)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
    }
}
