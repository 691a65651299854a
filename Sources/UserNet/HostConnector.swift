// Drives one non-blocking host connect on the event loop to its end: connected, failed, or
// timed out by the gateway's own deadline (the kernel's SYN retries take minutes; the app's
// SYN should learn sooner). The completion runs exactly once, on the loop thread.

import FDBased
import Glibc

public enum HostConnector {
    /// Starts connecting to `destination`; `completion` gets the connected socket (now owned
    /// by the caller, not registered anywhere) or the reason it failed.
    public static func connect(
        to destination: SocketAddress,
        on loop: EventLoop,
        timeoutNanoseconds: UInt64,
        completion: @escaping (Result<HostTCPSocket, HostConnectError>) -> Void
    ) {
        let socket: HostTCPSocket
        switch Result(catching: { () throws(HostConnectError) in try HostTCPSocket.connect(to: destination) }) {
        case .failure(let error):
            completion(.failure(error))
            return
        case .success((let connected, .connected)):
            completion(.success(connected))
            return
        case .success((let pending, .inProgress)):
            socket = pending
        }

        // Shared by the fd handler and the timer; whichever runs first settles it.
        final class Attempt {
            var registration: EventLoop.Registration?
            var timer: TimerID?
            var completion: ((Result<HostTCPSocket, HostConnectError>) -> Void)?
        }
        let attempt = Attempt()
        attempt.completion = completion

        func settle(_ result: Result<HostTCPSocket, HostConnectError>) {
            if let registration = attempt.registration { loop.unregister(registration) }
            if let timer = attempt.timer { loop.cancelTimer(timer) }
            attempt.registration = nil
            attempt.timer = nil
            let completion = attempt.completion
            attempt.completion = nil
            completion?(result)
        }

        do throws(EventLoopError) {
            attempt.registration = try loop.register(fd: socket.fd, interest: .write) { _ in
                switch socket.finishConnect() {
                case .success: settle(.success(socket))
                case .failure(let failure):
                    socket.close()
                    settle(.failure(.failed(failure)))
                }
            }
            attempt.timer = try loop.scheduleTimer(after: timeoutNanoseconds) {
                socket.abort()
                settle(.failure(.failed(.timedOut)))
            }
        } catch {
            socket.close()
            let errno: Int32 = switch error {
            case .system(let e): e.errno
            case .tooManyRegistrations, .tooManyTimers: ENOBUFS
            }
            settle(.failure(.system(SystemCallError(call: "epoll_ctl", errno: errno))))
        }
    }
}
