// EOF and fatal errors call onClosed exactly once; deliberate stops do not; stopping wakes a
// blocked dispatcher thread.

import FDBased
import Glibc
import Link
import Posix
import Synchronization
import Testing

final class ClosedRecorder: Sendable {
    private let calls = Mutex<[LinkError?]>([])
    var handler: @Sendable (LinkError?) -> Void { { [self] error in calls.withLock { $0.append(error) } } }
    var errors: [LinkError?] { calls.withLock { $0 } }

    func wait(seconds: Double = 20) -> Bool {
        var waited = 0.0
        while errors.isEmpty {
            if waited > seconds { return false }
            usleep(2_000)
            waited += 0.002
        }
        return true
    }
}

@Suite struct CloseSemanticsTests {
    @Test(arguments: [PacketDispatchMode.readv, .recvmmsg])
    func peerCloseCallsOnClosedOnceFromThread(mode: PacketDispatchMode) throws {
        let pair = SocketPair.seqpacket
        let closed = ClosedRecorder()
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, onClosed: closed.handler,
                dispatchMode: mode))
        defer { endpoint.close() }
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        pair.send(Frames.ethernet(type: 0x0800, payload: [1]))
        pair.closePeer()
        #expect(closed.wait())
        #expect(recorder.wait { $0 >= 1 })
        // Restarting the loops must not report the same end again.
        endpoint.attach(recorder)
        endpoint.attach(nil)
        #expect(closed.errors == [.closed])
        #expect(recorder.count == 1)
    }

    @Test func peerCloseWithExternalDriverReportsClosedOnce() throws {
        let pair = SocketPair.seqpacket
        let closed = ClosedRecorder()
        let endpoint = try FDBasedEndpoint(
            options: .init(fds: [pair.endpointSide], onClosed: closed.handler, driver: .external))
        defer { endpoint.close() }
        endpoint.attach(RecordingDispatcher())
        pair.closePeer()
        #expect(endpoint.dispatchAvailable().closed)
        #expect(!endpoint.dispatchAvailable().closed)
        #expect(closed.errors == [.closed])
    }

    @Test func detachStopsABlockedThreadWithoutOnClosed() throws {
        let pair = SocketPair.datagram
        let closed = ClosedRecorder()
        let endpoint = try FDBasedEndpoint(options: .init(fds: [pair.endpointSide], onClosed: closed.handler))
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        pair.send(Frames.ethernet(type: 0x0800, payload: [1]))
        #expect(recorder.wait { $0 == 1 })
        // The thread is now blocked in poll; detaching must return (it joins the thread).
        endpoint.attach(nil)
        #expect(!endpoint.isAttached)
        pair.send(Frames.ethernet(type: 0x0800, payload: [2]))
        usleep(20_000)
        #expect(recorder.count == 1)
        // Attaching again resumes with the frame that waited.
        endpoint.attach(recorder)
        #expect(recorder.wait { $0 == 2 })
        endpoint.close()
        #expect(closed.errors.isEmpty)
    }

    @Test func writesAfterCloseFail() throws {
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(options: .init(fds: [pair.endpointSide], mtu: 1500))
        endpoint.close()
        endpoint.close()
        #expect(throws: LinkError.closed) { try endpoint.write([0x45, 0, 0, 20]) }
        #expect(throws: LinkError.closed) { try endpoint.flush() }
        endpoint.attach(RecordingDispatcher())
        #expect(!endpoint.isAttached)
    }

    @Test func fatalReadErrorCallsOnClosedWithTheError() throws {
        // read(2) on a stream socket that was never connected fails (EINVAL, or ENOTCONN on
        // other kernels): not EAGAIN, not transient, so fatal.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        let closed = ClosedRecorder()
        let endpoint = try FDBasedEndpoint(options: .init(fds: [fd], onClosed: closed.handler, driver: .external))
        defer { endpoint.close() }
        endpoint.attach(RecordingDispatcher())
        #expect(endpoint.dispatchAvailable().closed)
        #expect(
            closed.errors == [.system(PosixError(call: "read", errno: EINVAL))]
                || closed.errors == [.system(PosixError(call: "read", errno: ENOTCONN))])
    }
}
