// One thin wrapper per system call the endpoint makes: EINTR is retried, failures come back
// as a typed error carrying the call's name and errno (the swift-nio / swift-system habit).
// Kept by hand because swift-system has no recvmmsg/sendmmsg/packet-socket options.

import CShims
import Glibc
import Link

/// A failed system call: its name and errno.
public struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    public var call: String
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }

    var linkError: LinkError { .system(call: call, errno: errno) }
}

enum SystemCalls {
    @inline(__always)
    static func retryingEINTR(_ call: String, _ body: () -> Int) throws(SystemCallError) -> Int {
        while true {
            let result = body()
            if result >= 0 { return result }
            let error = Glibc.errno
            if error != EINTR { throw SystemCallError(call: call, errno: error) }
        }
    }

    static func setNonBlocking(_ fd: Int32) throws(SystemCallError) {
        let flags = try retryingEINTR("fcntl(F_GETFL)") { Int(fcntl(fd, F_GETFL)) }
        if Int32(flags) & O_NONBLOCK != 0 { return }
        _ = try retryingEINTR("fcntl(F_SETFL)") { Int(fcntl(fd, F_SETFL, Int32(flags) | O_NONBLOCK)) }
    }

    static func isSocket(_ fd: Int32) throws(SystemCallError) -> Bool {
        var info = stat()
        _ = try retryingEINTR("fstat") { Int(fstat(fd, &info)) }
        return info.st_mode & S_IFMT == S_IFSOCK
    }

    static func socketOption(_ fd: Int32, level: Int32, name: Int32, call: String) throws(SystemCallError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try retryingEINTR(call) { Int(getsockopt(fd, level, name, &value, &length)) }
        return value
    }

    static func setSocketOption<T: BitwiseCopyable>(_ fd: Int32, level: Int32, name: Int32, value: T,
                                                    call: String) throws(SystemCallError) {
        _ = try retryingEINTR(call) {
            withUnsafeBytes(of: value) { Int(setsockopt(fd, level, name, $0.baseAddress, socklen_t($0.count))) }
        }
    }

    static func eventFD() throws(SystemCallError) -> Int32 {
        Int32(try retryingEINTR("eventfd") { Int(eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))) })
    }

    static func signalEventFD(_ fd: Int32) {
        var one: UInt64 = 1
        _ = try? retryingEINTR("write(eventfd)") { write(fd, &one, 8) }
    }

    static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }
}
