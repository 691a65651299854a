// Options.disconnectOK: the peer's going away (EOF, ECONNRESET) ends the link with nil for
// onClosed; without the option that end is reported as it happened. Other failures are
// reported either way.

import FDBased
import Glibc
import Link
import Posix
import Testing

@Suite struct DisconnectOKTests {
    private static func endpoint(
        _ fd: Int32, mode: PacketDispatchMode, disconnectOK: Bool,
        closed: ClosedRecorder
    ) throws -> FDBasedEndpoint {
        var options = FDBasedEndpoint.Options(
            fds: [fd], mtu: 1500, onClosed: closed.handler, dispatchMode: mode,
            driver: .external)
        options.disconnectOK = disconnectOK
        let endpoint = try FDBasedEndpoint(options: options)
        endpoint.attach(RecordingDispatcher())
        return endpoint
    }

    @Test(arguments: [PacketDispatchMode.readv, .recvmmsg], [false, true])
    func peerCloseEndsTheLink(mode: PacketDispatchMode, disconnectOK: Bool) throws {
        let pair = SocketPair.seqpacket
        let closed = ClosedRecorder()
        let endpoint = try Self.endpoint(pair.endpointSide, mode: mode, disconnectOK: disconnectOK, closed: closed)
        defer { endpoint.close() }
        pair.closePeer()
        #expect(endpoint.dispatchAvailable().closed)
        #expect(!endpoint.dispatchAvailable().closed)
        #expect(closed.errors == (disconnectOK ? [nil] : [.closed]))
    }

    @Test(arguments: [PacketDispatchMode.readv, .recvmmsg], [false, true])
    func peerResetEndsTheLink(mode: PacketDispatchMode, disconnectOK: Bool) throws {
        let pair = SocketPair.seqpacket
        let closed = ClosedRecorder()
        let endpoint = try Self.endpoint(pair.endpointSide, mode: mode, disconnectOK: disconnectOK, closed: closed)
        defer { endpoint.close() }
        // A peer that closes with a frame unread resets the connection: the next read fails
        // with ECONNRESET (unix_release_sock).
        try endpoint.write([0x45, 0, 0, 20])
        try endpoint.flush()
        pair.closePeer()
        #expect(endpoint.dispatchAvailable().closed)
        let call = mode == .readv ? "read" : "recvmmsg"
        #expect(closed.errors == (disconnectOK ? [nil] : [.system(PosixError(call: call, errno: ECONNRESET))]))
    }

    @Test func otherFailuresAreStillReported() throws {
        // read(2) on a stream socket that was never connected: EINVAL (ENOTCONN on other
        // kernels), a failure of the fd, not its peer's going away.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        let closed = ClosedRecorder()
        let endpoint = try Self.endpoint(fd, mode: .readv, disconnectOK: true, closed: closed)
        defer { endpoint.close() }
        #expect(endpoint.dispatchAvailable().closed)
        #expect(
            closed.errors == [.system(PosixError(call: "read", errno: EINVAL))]
                || closed.errors == [.system(PosixError(call: "read", errno: ENOTCONN))])
    }
}
