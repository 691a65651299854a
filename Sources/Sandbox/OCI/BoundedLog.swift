import CLauncher
import Glibc
import Posix
import Synchronization

/// A detached sandbox's output, kept in its state directory and bounded: `log` grows to
/// `maximumBytes`, then becomes `log.1` (replacing the one before) and a new `log` starts, so
/// at most twice that is kept. The bytes dropped with an old `log.1` are counted.
///
/// A pipe's write end becomes the supervisor's stdout and stderr (the program inherits them);
/// a thread copies the pipe into the file.
public final class BoundedLog: Sendable {
    public static let fileName = "log"
    public static let maximumBytes = 1 << 20

    private let directory: String
    private let readFD: Int32
    /// Bytes dropped by rotation so far.
    public let droppedBytes = Atomic<Int>(0)
    private let finished = PThreadSignal()

    private init(directory: String, readFD: Int32) {
        self.directory = directory
        self.readFD = readFD
    }

    /// Starts copying; returns the log and the pipe's write end (the caller makes it 1 and 2).
    public static func start(in directory: String) throws(SandboxError) -> (BoundedLog, writeFD: Int32) {
        var fds: [Int32] = [-1, -1]
        guard sbx_pipe_cloexec(&fds) == 0 else {
            throw .system(PosixError(call: "pipe2", errno: errno), detail: "(log)")
        }
        let log = BoundedLog(directory: directory, readFD: fds[0])
        guard startDetachedThread({ log.copy() }) == 0 else {
            SystemCalls.close(fds[0])
            SystemCalls.close(fds[1])
            throw .system(PosixError(call: "pthread_create", errno: EAGAIN), detail: "(log)")
        }
        return (log, fds[1])
    }

    /// Waits until every byte written before the last write end closed is in the file.
    public func drain() { finished.wait() }

    private func copy() {
        let path = directory + "/" + Self.fileName
        var file = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        var size = Int(lseek(file, 0, SEEK_END))
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            if size + count > Self.maximumBytes, size > 0 {
                close(file)
                var old = stat()
                if stat(path + ".1", &old) == 0 { droppedBytes.add(Int(old.st_size), ordering: .relaxed) }
                rename(path, path + ".1")
                file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                size = 0
            }
            // Without a file (the state directory went away) the output is read and dropped.
            if file >= 0 { _ = buffer.withUnsafeBytes { try? Posix.writeAll(file, Array($0.prefix(count))) } }
            size += count
        }
        if file >= 0 { close(file) }
        close(readFD)
        finished.signal()
    }
}

/// A one-shot event one thread waits for and another signals.
final class PThreadSignal: Sendable {
    private let state = Mutex<Bool>(false)

    func signal() { state.withLock { $0 = true } }

    func wait() {
        while !state.withLock({ $0 }) { usleep(1_000) }
    }
}
