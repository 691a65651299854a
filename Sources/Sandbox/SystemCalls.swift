import Glibc
import Posix

/// The launcher's file calls: Posix's, with what they worked on (a path, "go pipe") named in
/// the SandboxError, since the launcher's messages are read by users.
enum SystemCalls {
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(SandboxError) -> Int32 {
        try detailed(path) { () throws(PosixError) in try Posix.open(path, flags, mode: mode) }
    }

    static func close(_ fd: Int32) {
        Posix.close(fd)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], name: String) throws(SandboxError) {
        try detailed(name) { () throws(PosixError) in try Posix.writeAll(fd, bytes) }
    }

    /// Writes `text` to the file at `path` in one write (as /proc and cgroup files want).
    static func writeFile(_ path: String, _ text: String) throws(SandboxError) {
        try detailed(path) { () throws(PosixError) in try Posix.writeFile(path, text) }
    }

    /// Creates (or truncates) `path` and writes `text`.
    static func createFile(_ path: String, _ text: String, mode: mode_t = 0o600) throws(SandboxError) {
        try detailed(path) { () throws(PosixError) in try Posix.createFile(path, Array(text.utf8), mode: mode) }
    }

    /// Reads up to `limit` bytes of a (small) file.
    static func readFile(_ path: String, limit: Int = 1 << 20) throws(SandboxError) -> [UInt8] {
        try detailed(path) { () throws(PosixError) in try Posix.readFile(path, limit: limit) }
    }

    static func readAll(_ fd: Int32, limit: Int, name: String) throws(SandboxError) -> [UInt8] {
        try detailed(name) { () throws(PosixError) in try Posix.readAll(fd, limit: limit) }
    }

    static func readText(_ path: String) throws(SandboxError) -> String {
        String(decoding: try readFile(path), as: UTF8.self)
    }

    static func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    private static func detailed<T>(_ detail: String, _ body: () throws(PosixError) -> T) throws(SandboxError) -> T {
        do { return try body() } catch { throw .system(error, detail: detail) }
    }
}
