import Glibc

/// Thin wrappers over the few file system calls the launcher makes: each retries EINTR and
/// throws a typed error that carries errno and the call's name.
enum SystemCalls {
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(SandboxError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw .systemCall(name: "open", errno: errno, detail: path) }
        }
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)  // EINTR on close must not be retried on Linux: the fd is gone
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], name: String) throws(SandboxError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw .systemCall(name: "write", errno: errno, detail: name)
            }
            offset += written
        }
    }

    /// Writes `text` to the file at `path` in one write (as /proc and cgroup files want).
    static func writeFile(_ path: String, _ text: String) throws(SandboxError) {
        let fd = try open(path, O_WRONLY)
        defer { close(fd) }
        try writeAll(fd, Array(text.utf8), name: path)
    }

    /// Reads up to `limit` bytes of a (small) file.
    static func readFile(_ path: String, limit: Int = 1 << 20) throws(SandboxError) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        return try readAll(fd, limit: limit, name: path)
    }

    static func readAll(_ fd: Int32, limit: Int, name: String) throws(SandboxError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, limit - result.count)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .systemCall(name: "read", errno: errno, detail: name)
            }
            if got == 0 { break }
            result.append(contentsOf: chunk[0..<got])
        }
        return result
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
}
