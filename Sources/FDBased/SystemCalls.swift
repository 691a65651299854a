// The endpoint's own system calls, each through Posix.call (EINTR retried, failures named):
// fd flags, socket options of any type, the stop eventfd.

import CNetShims
import Glibc
import Posix

enum SystemCalls {
    static func setNonBlocking(_ fd: Int32) throws(PosixError) {
        let flags = try Posix.call("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
        if flags & O_NONBLOCK != 0 { return }
        _ = try Posix.call("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    static func isSocket(_ fd: Int32) throws(PosixError) -> Bool {
        var info = stat()
        _ = try Posix.call("fstat") { fstat(fd, &info) }
        return info.st_mode & S_IFMT == S_IFSOCK
    }

    static func socketOption(_ fd: Int32, level: Int32, name: Int32, call: String) throws(PosixError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try Posix.call(call) { getsockopt(fd, level, name, &value, &length) }
        return value
    }

    static func setSocketOption<T: BitwiseCopyable>(
        _ fd: Int32, level: Int32, name: Int32, value: T,
        call: String
    ) throws(PosixError) {
        _ = try Posix.call(call) {
            withUnsafeBytes(of: value) { setsockopt(fd, level, name, $0.baseAddress, socklen_t($0.count)) }
        }
    }

    static func eventFD() throws(PosixError) -> Int32 {
        try Posix.call("eventfd") { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }
    }

    static func signalEventFD(_ fd: Int32) {
        var one: UInt64 = 1
        _ = try? Posix.call("write(eventfd)") { write(fd, &one, 8) }
    }

    static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }
}
