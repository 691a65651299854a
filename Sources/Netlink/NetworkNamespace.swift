import CNetShims
import Posix

#if canImport(Glibc)
    import Glibc
#endif

/// A network namespace, named the ways a caller holds one.
public enum NetworkNamespace: Sendable, Equatable {
    /// The namespace of the calling thread.
    case current
    /// An open namespace file (from /proc/PID/ns/net or a bind mount). Borrowed: never closed here.
    case fileDescriptor(Int32)
    /// The path of a namespace file (`/proc/1234/ns/net`, `/run/netns/NAME`).
    case path(String)
    /// The namespace of a process, by pid.
    case process(Int32)
}

/// Opens NETLINK_ROUTE sockets inside a given namespace.
///
/// A netlink socket belongs to the namespace of the thread that created it, for life, and
/// setns(2) moves only the calling thread. So the socket is made on a short-lived pthread of
/// our own: it joins the target namespace with setns, creates the socket, hands the fd back
/// and exits. No thread of the caller (nor a Swift concurrency pool thread, which would carry
/// the foreign namespace into unrelated work) ever changes namespace, so this is safe to call
/// from any thread at any time, concurrently.
enum NamespaceSocketOpener {
    static func openRouteSocket(in namespace: NetworkNamespace) throws(NetlinkError) -> Int32 {
        switch namespace {
        case .current:
            return try openRouteSocketHere()
        case .fileDescriptor(let fd):
            return try openOnHelperThread(namespaceFD: fd)
        case .path(let path):
            let fd = try openNamespaceFile(path)
            defer { close(fd) }
            return try openOnHelperThread(namespaceFD: fd)
        case .process(let pid):
            let fd = try openNamespaceFile("/proc/\(pid)/ns/net")
            defer { close(fd) }
            return try openOnHelperThread(namespaceFD: fd)
        }
    }

    static func openNamespaceFile(_ path: String) throws(NetlinkError) -> Int32 {
        try system { () throws(PosixError) in try Posix.call("open \(path)") { open(path, O_RDONLY | O_CLOEXEC) } }
    }

    /// socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) bound to a kernel-chosen port id, with
    /// extended acks (the kernel's error text) and capped acks (errors do not echo the request).
    static func openRouteSocketHere() throws(NetlinkError) -> Int32 {
        let fd = try system { () throws(PosixError) in
            try Posix.call("socket(AF_NETLINK)") {
                socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
            }
        }
        return try configure(fd, bind: true)
    }

    /// A close-on-exec duplicate of `socket`, configured like our own sockets, after checking
    /// that it is a NETLINK_ROUTE socket. The caller keeps (and closes) the original.
    static func duplicateRouteSocket(_ socket: Int32) throws(NetlinkError) -> Int32 {
        func option(_ name: Int32) throws(NetlinkError) -> Int32 {
            var value: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            _ = try system { () throws(PosixError) in
                try Posix.call("getsockopt(\(name == SO_DOMAIN ? "SO_DOMAIN" : "SO_PROTOCOL"))") {
                    getsockopt(socket, SOL_SOCKET, name, &value, &size)
                }
            }
            return value
        }
        guard try option(SO_DOMAIN) == AF_NETLINK, try option(SO_PROTOCOL) == NETLINK_ROUTE else {
            throw .invalidArgument("descriptor \(socket) is not a NETLINK_ROUTE socket")
        }
        let fd = try system { () throws(PosixError) in
            try Posix.call("fcntl(F_DUPFD_CLOEXEC)") { fcntl(socket, F_DUPFD_CLOEXEC, 0) }
        }
        // An unbound socket is bound on its first sendto (autobind); one already bound keeps
        // its port id, so no bind here.
        return try configure(fd, bind: false)
    }

    /// Socket options every client socket carries; closes `fd` on failure.
    private static func configure(_ fd: Int32, bind shouldBind: Bool) throws(NetlinkError) -> Int32 {
        do throws(NetlinkError) {
            var one: Int32 = 1
            let size = socklen_t(MemoryLayout<Int32>.size)
            // Both are optional comforts (kernels since 4.12 / 4.3); a failure only loses detail.
            _ = setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, size)
            _ = setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, size)
            // A reply the kernel owes never fails to come, but a bug must not hang the launcher.
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            _ = try system { () throws(PosixError) in
                try Posix.call("setsockopt(SO_RCVTIMEO)") {
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                }
            }
            guard shouldBind else { return fd }
            var address = sockaddr_nl()
            address.nl_family = sa_family_t(AF_NETLINK)
            _ = try system { () throws(PosixError) in
                try Posix.call("bind(AF_NETLINK)") {
                    withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                        }
                    }
                }
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// What the helper thread reports back. Owned by the caller, which joins the thread
    /// before reading it, so there is no concurrent access.
    private final class Job {
        let namespaceFD: Int32
        var result: Result<Int32, NetlinkError> = .failure(.invalidArgument("namespace helper thread did not run"))
        init(namespaceFD: Int32) { self.namespaceFD = namespaceFD }
    }

    private static func openOnHelperThread(namespaceFD: Int32) throws(NetlinkError) -> Int32 {
        let job = Job(namespaceFD: namespaceFD)
        let context = Unmanaged.passRetained(job).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                let job = Unmanaged<Job>.fromOpaque(raw).takeRetainedValue()
                // This thread dies right after, so its namespace change dies with it.
                do throws(NetlinkError) {
                    _ = try system { () throws(PosixError) in
                        try Posix.call("setns(CLONE_NEWNET)") { netlink_shims_enter_network_namespace(job.namespaceFD) }
                    }
                    job.result = .success(try NamespaceSocketOpener.openRouteSocketHere())
                } catch {
                    job.result = .failure(error)
                }
                return nil
            }, context)
        guard created == 0 else {
            Unmanaged<Job>.fromOpaque(context).release()
            throw .system(PosixError(call: "pthread_create", errno: created))
        }
        let joined = pthread_join(thread, nil)
        guard joined == 0 else { throw .system(PosixError(call: "pthread_join", errno: joined)) }
        return try job.result.get()
    }
}
