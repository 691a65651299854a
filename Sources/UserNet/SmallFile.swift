// Reads a small configuration file whole, with a size bound (no Foundation needed).

import Posix
import Glibc

func readSmallFile(_ path: String, limit: Int) throws(PosixError) -> String {
    let fd = try retryingEINTR("open") { open(path, O_RDONLY | O_CLOEXEC) }
    defer { Syscall.close(fd) }
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
    defer { chunk.deallocate() }
    var bytes: [UInt8] = []
    while bytes.count < limit {
        guard case .done(let n) = try Syscall.read(fd, chunk), n > 0 else { break }
        bytes += chunk[0..<min(n, limit - bytes.count)]
    }
    return String(decoding: bytes, as: UTF8.self)
}
