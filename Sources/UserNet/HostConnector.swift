// Drives one non-blocking host connect on the event loop to its end: connected, failed, or
// timed out by the gateway's own deadline (the kernel's SYN retries take minutes; the app's
// SYN should learn sooner). The completion runs exactly once, on the loop thread.

import Glibc
import Posix

/// Opens the host side of a forwarded TCP flow: `SocketHostConnector` with real sockets, or a
/// test's double that scripts the outcome (connected, refused, unreachable, and when).
public protocol HostTCPConnecting {
    /// Starts connecting to `destination`; `completion` runs exactly once, on the loop thread,
    /// perhaps before this returns. On success it gets the socket and, when the connect had to
    /// wait, its registration (see `HostConnector.connectKeepingRegistration`).
    func connect(
        to destination: SocketAddress, on loop: EventLoop, timeoutNanoseconds: UInt64,
        completion: @escaping (Result<(HostTCPSocket, EventLoop.Registration?), HostConnectError>) -> Void)
}

/// Non-blocking connects of real host sockets, driven on the loop (`HostConnector`).
public struct SocketHostConnector: HostTCPConnecting {
    public init() {}

    public func connect(
        to destination: SocketAddress, on loop: EventLoop, timeoutNanoseconds: UInt64,
        completion: @escaping (Result<(HostTCPSocket, EventLoop.Registration?), HostConnectError>) -> Void
    ) {
        HostConnector.connectKeepingRegistration(
            to: destination, on: loop, timeoutNanoseconds: timeoutNanoseconds,
            completion: completion)
    }
}

public enum HostConnector {
    /// Starts connecting to `destination`; `completion` gets the connected socket (now owned
    /// by the caller, not registered anywhere) or the reason it failed.
    public static func connect(
        to destination: SocketAddress,
        on loop: EventLoop,
        timeoutNanoseconds: UInt64,
        completion: @escaping (Result<HostTCPSocket, HostConnectError>) -> Void
    ) {
        connectKeepingRegistration(to: destination, on: loop, timeoutNanoseconds: timeoutNanoseconds) { result in
            completion(
                result.map { socket, registration in
                    if let registration { loop.unregister(registration) }
                    return socket
                })
        }
    }

    /// Like `connect`, but a socket that had to wait for its connect stays in the epoll set:
    /// the completion gets its registration (still watching writability), which the caller
    /// must move on at once with `setInterest` (or `unregister`). This saves the
    /// EPOLL_CTL_DEL + ADD pair per connection of the gateway's hot path. A connect that
    /// completed at once has no registration.
    static func connectKeepingRegistration(
        to destination: SocketAddress,
        on loop: EventLoop,
        timeoutNanoseconds: UInt64,
        completion: @escaping (Result<(HostTCPSocket, EventLoop.Registration?), HostConnectError>) -> Void
    ) {
        let socket: HostTCPSocket
        switch Result(catching: { () throws(HostConnectError) in try HostTCPSocket.connect(to: destination) }) {
        case .failure(let error):
            completion(.failure(error))
            return
        case .success((let connected, .connected)):
            completion(.success((connected, nil)))
            return
        case .success((let pending, .inProgress)):
            socket = pending
        }

        // Shared by the fd handler and the timer; whichever runs first settles it.
        final class Attempt {
            var registration: EventLoop.Registration?
            var timer: TimerID?
            var completion: ((Result<(HostTCPSocket, EventLoop.Registration?), HostConnectError>) -> Void)?
        }
        let attempt = Attempt()
        attempt.completion = completion

        func settle(_ result: Result<HostTCPSocket, HostConnectError>) {
            var handedOver: EventLoop.Registration?
            if let registration = attempt.registration {
                if case .success = result { handedOver = registration } else { loop.unregister(registration) }
            }
            if let timer = attempt.timer { loop.cancelTimer(timer) }
            attempt.registration = nil
            attempt.timer = nil
            let completion = attempt.completion
            attempt.completion = nil
            completion?(result.map { ($0, handedOver) })
        }

        do throws(EventLoopError) {
            attempt.registration = try loop.register(fd: socket.fd, interest: .write) { readiness in
                // Writable with no error and no hang-up is a completed connect (connect(2):
                // "select(2) or poll(2) for completion by selecting the socket for writing");
                // anything else asks SO_ERROR what happened.
                if readiness == .writable {
                    settle(.success(socket))
                    return
                }
                switch socket.finishConnect() {
                case .success: settle(.success(socket))
                case .failure(let failure):
                    if let registration = attempt.registration { loop.unregister(registration, closingFD: true) }
                    attempt.registration = nil
                    socket.close()
                    settle(.failure(.failed(failure)))
                }
            }
            attempt.timer = try loop.scheduleTimer(after: timeoutNanoseconds) {
                if let registration = attempt.registration { loop.unregister(registration, closingFD: true) }
                attempt.registration = nil
                socket.abort()
                settle(.failure(.failed(.timedOut)))
            }
        } catch {
            if let registration = attempt.registration { loop.unregister(registration, closingFD: true) }
            attempt.registration = nil
            socket.close()
            let errno: Int32 =
                switch error {
                case .system(let e): e.errno
                case .tooManyRegistrations, .tooManyTimers: ENOBUFS
                }
            settle(.failure(.system(PosixError(call: "epoll_ctl", errno: errno))))
        }
    }
}
