import CLauncher
import Glibc
import Posix

/// `--tty`: a pseudo-terminal whose replica becomes the app's controlling terminal and stdio;
/// the launcher relays bytes between its own stdin/stdout and the pty's primary side, puts its
/// terminal in raw mode meanwhile, and keeps the window size in step (SIGWINCH interrupts the
/// poll; the size is copied again after each interruption).
final class TerminalRelay {
    let primaryFD: Int32
    private(set) var replicaFD: Int32
    private var savedTerminal: termios?

    /// The replica's path on the host (/dev/pts/N): bound to /dev/console inside, because the
    /// sandbox's own devpts instance does not contain it.
    let replicaPath: String

    private init(primaryFD: Int32, replicaFD: Int32, replicaPath: String) {
        self.primaryFD = primaryFD
        self.replicaFD = replicaFD
        self.replicaPath = replicaPath
    }

    /// Relays a terminal opened elsewhere (an exec's, from the sandbox's devpts): `primaryFD`
    /// is owned from here.
    convenience init(adopting primaryFD: Int32) {
        self.init(primaryFD: primaryFD, replicaFD: -1, replicaPath: "")
        copyWindowSize()
    }

    static func open() throws(SandboxError) -> TerminalRelay {
        var primary: Int32 = -1, replica: Int32 = -1
        var name = [CChar](repeating: 0, count: 128)
        guard sbx_open_pty(&primary, &replica, &name, name.count) == 0 else {
            throw .system(PosixError(call: "posix_openpt", errno: errno))
        }
        let path = String(decoding: name.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let relay = TerminalRelay(primaryFD: primary, replicaFD: replica, replicaPath: path)
        relay.copyWindowSize()
        return relay
    }

    func closeReplica() {
        if replicaFD >= 0 { Posix.close(replicaFD) }
        replicaFD = -1
    }

    func close() {
        closeReplica()
        restoreTerminal()
        Posix.close(primaryFD)
    }

    private func copyWindowSize() {
        var rows: UInt16 = 0, cols: UInt16 = 0
        if sbx_get_winsize(STDIN_FILENO, &rows, &cols) == 0 { _ = sbx_set_winsize(primaryFD, rows, cols) }
    }

    private func enterRawMode() {
        guard isatty(STDIN_FILENO) == 1 else { return }
        var current = termios()
        guard tcgetattr(STDIN_FILENO, &current) == 0 else { return }
        savedTerminal = current
        cfmakeraw(&current)
        _ = tcsetattr(STDIN_FILENO, TCSANOW, &current)
    }

    private func restoreTerminal() {
        guard var saved = savedTerminal else { return }
        _ = tcsetattr(STDIN_FILENO, TCSANOW, &saved)
        savedTerminal = nil
    }

    /// Relays until the sandbox's init has exited (its pidfd becomes readable), then drains
    /// what the app wrote last.
    func relay(until pid: pid_t) {
        let pidfd = sbx_pidfd_open(pid)
        guard pidfd >= 0 else { return }
        defer { Posix.close(pidfd) }
        enterRawMode()
        defer { restoreTerminal() }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var inputOpen = true, outputOpen = true
        while outputOpen {
            var fds = [
                pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: primaryFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: inputOpen ? STDIN_FILENO : -1, events: Int16(POLLIN), revents: 0)
            ]
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR {
                    copyWindowSize()
                    continue
                }
                return
            }
            if fds[1].revents != 0 { outputOpen = copyOnce(from: primaryFD, to: STDOUT_FILENO, &buffer) }
            if fds[2].revents != 0 {
                inputOpen = copyOnce(from: STDIN_FILENO, to: primaryFD, &buffer)
                if !inputOpen {
                    // EOF on stdin: the app's terminal gets VEOF (^D), so a reader sees end of file.
                    var endOfTransmission: UInt8 = 4
                    _ = try? Posix.call("write") { Glibc.write(primaryFD, &endOfTransmission, 1) }
                }
            }
            if fds[0].revents != 0 {
                // The sandbox is gone; take what is still buffered without blocking.
                let flags = fcntl(primaryFD, F_GETFL)
                _ = fcntl(primaryFD, F_SETFL, flags | O_NONBLOCK)
                while copyOnce(from: primaryFD, to: STDOUT_FILENO, &buffer) {}
                return
            }
        }
    }
}

/// Copies one read's worth from `source` to `destination` (both relays use it); false at EOF,
/// on an error (EIO: a pty's other side closed), or when a non-blocking source is empty.
func copyOnce(from source: Int32, to destination: Int32, _ buffer: inout [UInt8]) -> Bool {
    let read = try? buffer.withUnsafeMutableBytes { raw in try Posix.read(source, raw) }
    guard case .done(let got)? = read, got > 0 else { return false }
    do { try SystemCalls.writeAll(destination, Array(buffer[0..<got]), name: "terminal relay") } catch { return false }
    return true
}
