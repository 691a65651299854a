// The last step of starting the gateway's process, on a thread of the launcher's own: set up
// the packet socket's ring, then write the handoff. Setting up a PACKET_RX_RING makes the
// kernel wait for an RCU grace period (synchronize_net in packet_set_ring, 10-15 ms here), the
// longest step of a `--net=user` start; on this thread it overlaps the gateway's exec and the
// launcher's wiring of the veth, instead of following them. The gateway's process reads the
// handoff before it confines itself, and then only maps the ring.

import Glibc
import Posix
import UserNet

final class GatewayHandover: @unchecked Sendable {
    // Set by the thread before it writes (or abandons) the handoff; read after the gateway
    // answered, which it can do only once the handoff pipe was written or closed.
    private var failure: SandboxError?
    private let handoff: GatewayHandoff
    private let packetSocket: Int32
    private let pipeFD: Int32
    private let options: UserNetOptions

    /// Owns `packetSocket` (a copy for this thread) and `pipeFD` (the handoff's write end).
    private init(handoff: GatewayHandoff, packetSocket: Int32, pipeFD: Int32, options: UserNetOptions) {
        self.handoff = handoff
        self.packetSocket = packetSocket
        self.pipeFD = pipeFD
        self.options = options
    }

    /// Starts the thread (or, if no thread can start, does the work before returning).
    static func start(
        _ handoff: GatewayHandoff, packetSocket: Int32, pipeFD: Int32,
        options: UserNetOptions
    ) -> GatewayHandover {
        let handover = GatewayHandover(handoff: handoff, packetSocket: packetSocket, pipeFD: pipeFD, options: options)
        if startDetachedThread({ handover.run() }) != 0 { handover.run() }
        return handover
    }

    private func run() {
        defer {
            if packetSocket >= 0 { Posix.close(packetSocket) }
            Posix.close(pipeFD)
        }
        var settings = Gateway.Settings()
        settings.dispatchMode = handoff.dispatch
        do {
            // A network's gateway has no socket yet: its members' launchers prepare their own.
            if packetSocket >= 0 { try Gateway.preparePacketSocket(packetSocket, options: options, settings: settings) }
            try SystemCalls.writeAll(pipeFD, handoff.encoded, name: "gateway handoff")
        } catch let error as GatewayError {
            failure = .network("start the gateway: \(error)")
        } catch let error as SandboxError {
            failure = error
        } catch {
            failure = .network("start the gateway: \(error)")
        }
    }

    /// Why the handover failed, if it did (the gateway then reports a handoff it cannot read).
    var error: SandboxError? { failure }
}
