import Glibc
import Posix
import Synchronization
import Testing

@Suite struct PosixCallTests {
    @Test func retriesEINTRUntilTheCallAnswers() throws {
        var attempts = 0
        let result = try Posix.call("fake") { () -> Int32 in
            attempts += 1
            guard attempts < 3 else { return 7 }
            errno = EINTR
            return -1
        }
        #expect(result == 7)
        #expect(attempts == 3)
    }

    @Test func otherErrnoThrowsTheNamedError() {
        #expect(throws: PosixError(call: "connect", errno: ECONNREFUSED)) {
            try Posix.call("connect") { () -> Int32 in
                errno = ECONNREFUSED
                return -1
            }
        }
    }

    @Test func descriptionNamesTheCallAndTheError() {
        let error = PosixError(call: "connect", errno: ECONNREFUSED)
        #expect(error.description == "connect: Connection refused (errno \(ECONNREFUSED))")
        #expect(Posix.errnoText(ENOENT) == "No such file or directory (errno \(ENOENT))")
    }

    @Test func eagainIsAResultForIO() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { fds.forEach(Posix.close) }
        #expect(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0)
        var byte: UInt8 = 0
        let empty = try Posix.io("read") { Glibc.read(fds[0], &byte, 1) }
        #expect(empty == .wouldBlock)
        byte = 42
        #expect(try Posix.io("write") { Glibc.write(fds[1], &byte, 1) } == .done(1))
        byte = 0
        #expect(try Posix.io("read") { Glibc.read(fds[0], &byte, 1) } == .done(1))
        #expect(byte == 42)
    }

    @Test func readAndWriteAnswerWithIOResult() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { fds.forEach(Posix.close) }
        #expect(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0)
        var bytes: [UInt8] = [1, 2, 3]
        #expect(try bytes.withUnsafeMutableBytes { try Posix.read(fds[0], $0) } == .wouldBlock)
        #expect(try bytes.withUnsafeBytes { try Posix.write(fds[1], $0) } == .done(3))
        bytes = [0, 0, 0, 0]
        #expect(try bytes.withUnsafeMutableBytes { try Posix.read(fds[0], $0) } == .done(3))
        #expect(bytes == [1, 2, 3, 0])
    }

    @Test func ioThrowsWhatIsNotEAGAIN() {
        #expect(throws: PosixError(call: "read", errno: EBADF)) {
            var byte: UInt8 = 0
            _ = try Posix.io("read") { Glibc.read(-1, &byte, 1) }
        }
    }

    @Test func fileHelpersRoundTripAndNameTheCall() throws {
        var template = Array("/tmp/posix-test-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        #expect(fd >= 0)
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(path) }
        try Posix.writeAll(fd, Array("hello, file".utf8))
        Posix.close(fd)
        #expect(try Posix.readFile(path) == Array("hello, file".utf8))
        #expect(try Posix.readFile(path, limit: 5) == Array("hello".utf8))
        try Posix.writeFile(path, "short")
        #expect(try Posix.readFile(path).prefix(5) == Array("short".utf8)[...])
        #expect(throws: PosixError(call: "open", errno: ENOENT)) { try Posix.readFile(path + ".absent") }
    }
}

/// A real signal interrupting a blocked read(): the handler is installed without SA_RESTART,
/// so the kernel returns EINTR and only the wrapper's retry lets the read see the byte.
@Suite struct PosixSignalTests {
    @Test func signalDuringBlockingReadIsRetried() throws {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0
        var previous = sigaction()
        #expect(sigaction(SIGURG, &action, &previous) == 0)
        defer { sigaction(SIGURG, &previous, nil) }

        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { fds.forEach(Posix.close) }
        let state = Box(fd: fds[0])
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                let state = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
                // The test runner's threads block signals, and a new thread inherits that mask.
                var mask = sigset_t()
                sigemptyset(&mask)
                sigaddset(&mask, SIGURG)
                pthread_sigmask(SIG_UNBLOCK, &mask, nil)
                var byte: UInt8 = 0
                let result = try? Posix.call("read") { () -> Int in
                    state.attempts.add(1, ordering: .sequentiallyConsistent)
                    return Glibc.read(state.fd, &byte, 1)
                }
                state.result.store(result ?? -1, ordering: .sequentiallyConsistent)
                return nil
            }, Unmanaged.passRetained(state).toOpaque())
        #expect(started == 0)

        // Signal until the read has been entered a second time: the first was interrupted.
        for _ in 0..<1000 where state.attempts.load(ordering: .sequentiallyConsistent) < 2 {
            pthread_kill(thread, SIGURG)
            usleep(10_000)
        }
        var byte: UInt8 = 1
        #expect(write(fds[1], &byte, 1) == 1)
        pthread_join(thread, nil)
        #expect(state.attempts.load(ordering: .sequentiallyConsistent) >= 2)
        #expect(state.result.load(ordering: .sequentiallyConsistent) == 1)
    }

    private final class Box: Sendable {
        let fd: Int32
        let attempts = Atomic<Int>(0)
        let result = Atomic<Int>(0)
        init(fd: Int32) { self.fd = fd }
    }
}
