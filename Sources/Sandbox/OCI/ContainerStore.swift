import FoundationEssentials
import Glibc
import Posix

/// The state root: one directory per container (0700), holding state.json, a lock file, the
/// start fifo and a detached sandbox's log. Default: /run/sandbox/containers for root,
/// $XDG_RUNTIME_DIR/sandbox/containers otherwise (runc's `--root` picks another).
public struct ContainerStore: Sendable {
    public let root: String

    static let stateFile = "state.json"
    static let lockFile = "lock"
    static let startFifo = "start"

    /// Opens (and makes, 0711) the state root; nil picks the default for this caller.
    public init(root: String? = nil) throws(SandboxError) {
        if let root {
            guard root.hasPrefix("/") else { throw .invalidArgument("--root must be an absolute path, got \(root)") }
            for path in Self.ancestors(of: root) { try Self.makeDirectory(path, mode: 0o711) }
            self.root = root
        } else {
            guard let base = try StateDirectory.subdirectory("containers") else {
                throw .invalidArgument(
                    "no state directory: XDG_RUNTIME_DIR is not set (set it, or pass --root DIR)")
            }
            _ = chmod(base, 0o711)
            self.root = base
        }
    }

    public func directory(_ id: String) -> String { root + "/" + id }

    /// Makes the directory of a new container; an id in use is refused.
    public func create(_ id: String) throws(SandboxError) {
        try OCIRuntime.validate(id: id)
        do throws(PosixError) { _ = try Posix.call("mkdir") { mkdir(directory(id), 0o700) } } catch {
            if error.errno == EEXIST { throw .invalidArgument("container \(id) already exists") }
            throw .system(error, detail: directory(id))
        }
    }

    public func read(_ id: String) throws(SandboxError) -> ContainerRecord {
        try OCIRuntime.validate(id: id)
        let bytes: [UInt8]
        do { bytes = try Posix.readFile(directory(id) + "/" + Self.stateFile, limit: 1 << 20) } catch {
            if error.errno == ENOENT { throw .invalidArgument("container \(id) does not exist") }
            throw .system(error, detail: directory(id) + "/" + Self.stateFile)
        }
        do { return try JSONDecoder().decode(ContainerRecord.self, from: Data(bytes)) } catch {
            throw .invalidArgument("container \(id): its state file is damaged (\(error)); `delete --force` removes it")
        }
    }

    /// Writes the record whole (a temporary file renamed over the old one).
    public func write(_ record: ContainerRecord) throws(SandboxError) {
        let path = directory(record.id) + "/" + Self.stateFile
        let bytes: [UInt8]
        do { bytes = Array(try JSONEncoder().encode(record)) } catch {
            throw .invalidArgument("container \(record.id): cannot encode its state: \(error)")
        }
        let temporary = path + ".new"
        try SystemCalls.createFile(temporary, String(decoding: bytes, as: UTF8.self))
        do throws(PosixError) { _ = try Posix.call("rename") { rename(temporary, path) } } catch {
            throw .system(error, detail: path)
        }
    }

    /// The status now: the record's, unless its supervisor is gone.
    public func status(of record: ContainerRecord) -> ContainerStatus {
        record.observed(supervisorAlive: ProcessStartTime.of(record.pid) == record.pidStartTime)
    }

    /// Every container id under the root, sorted.
    public func ids() -> [String] {
        guard let dir = opendir(root) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != ".", name != "..", (try? OCIRuntime.validate(id: name)) != nil,
                SystemCalls.fileExists(directory(name) + "/" + Self.stateFile)
            {
                out.append(name)
            }
        }
        return out.sorted()
    }

    /// Removes a container's directory and what is in it (files only: the store makes no
    /// subdirectories).
    public func remove(_ id: String) {
        let path = directory(id)
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name != ".", name != ".." { unlinkat(dirfd(dir), name, 0) }
            }
            closedir(dir)
        }
        rmdir(path)
    }

    /// An exclusive lock on one container, held until `release` (or the process ends): two
    /// commands on one container never interleave their reads and writes of its state.
    public func lock(_ id: String) throws(SandboxError) -> ContainerLock {
        try OCIRuntime.validate(id: id)
        guard SystemCalls.isDirectory(directory(id)) else { throw .invalidArgument("container \(id) does not exist") }
        let fd = try SystemCalls.open(directory(id) + "/" + Self.lockFile, O_RDWR | O_CREAT | O_CLOEXEC, mode: 0o600)
        while flock(fd, LOCK_EX) < 0 {
            if errno != EINTR {
                let code = errno
                SystemCalls.close(fd)
                throw .system(PosixError(call: "flock", errno: code), detail: directory(id))
            }
        }
        return ContainerLock(fd: fd)
    }

    private static func makeDirectory(_ path: String, mode: mode_t) throws(SandboxError) {
        do throws(PosixError) { _ = try Posix.call("mkdir") { mkdir(path, mode) } } catch {
            if error.errno != EEXIST { throw .system(error, detail: path) }
        }
    }

    private static func ancestors(of path: String) -> [String] {
        var out: [String] = []
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            out.append(current)
        }
        return out
    }
}

/// A held container lock (flock on its lock file).
public final class ContainerLock: Sendable {
    private let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { SystemCalls.close(fd) }
}

/// A process's start time, which tells a live process from a recycled pid.
public enum ProcessStartTime {
    /// Field 22 of /proc/PID/stat (after the command name, which may hold spaces and
    /// parentheses: it is read from the last ')').
    public static func of(_ pid: Int32) -> UInt64? {
        guard pid > 0, let bytes = try? Posix.readFile("/proc/\(pid)/stat", limit: 4096),
            let close = bytes.lastIndex(of: UInt8(ascii: ")"))
        else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state); field 22 is fields[19]. A zombie is not alive.
        guard fields.count > 19, fields[0].first != UInt8(ascii: "Z") else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }
}
