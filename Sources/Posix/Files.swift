// Whole small files and whole writes: /proc and cgroup files, configuration files, pipes that
// carry one record. Errors name the call; a caller that wants the path in its message adds it.

import Glibc

extension Posix {
    /// open() with O_CLOEXEC always added.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(PosixError) -> Int32 {
        try call("open") { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// Writes every byte, however many write() calls that takes.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(PosixError) {
        var offset = 0
        while offset < bytes.count {
            offset += try call("write") {
                bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            }
        }
    }

    /// Reads until end of file or `limit` bytes, whichever comes first.
    public static func readAll(_ fd: Int32, limit: Int) throws(PosixError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let wanted = min(chunk.count, limit - result.count)
            let got = try call("read") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, wanted) } }
            if got == 0 { break }
            result.append(contentsOf: chunk[0..<got])
        }
        return result
    }

    /// Reads up to `limit` bytes of a (small) file.
    public static func readFile(_ path: String, limit: Int = 1 << 20) throws(PosixError) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        return try readAll(fd, limit: limit)
    }

    /// Writes `text` to the existing file at `path` in one write (as /proc and cgroup files want).
    public static func writeFile(_ path: String, _ text: String) throws(PosixError) {
        let fd = try open(path, O_WRONLY)
        defer { close(fd) }
        try writeAll(fd, Array(text.utf8))
    }

    /// Creates (or truncates) the file at `path` with `mode` and writes `bytes`.
    public static func createFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws(PosixError) {
        let fd = try open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: mode)
        defer { close(fd) }
        try writeAll(fd, bytes)
    }
}
