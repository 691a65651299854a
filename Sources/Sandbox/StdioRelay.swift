import CLauncher
import Glibc
import Posix

/// Without `--tty`, the program never holds the user's terminal (issue 13): each of the
/// launcher's stdin, stdout and stderr that is a terminal reaches the program as a pipe, and
/// the launcher copies bytes between the two. So TIOCSTI (typing into the user's shell),
/// TIOCSETD, TCSETS and every other terminal ioctl find no terminal: ENOTTY. Descriptors that
/// are not terminals (files, pipes, sockets) are passed as they are, at no cost.
///
/// The terminal stays in the mode it was in (line editing and ^C, ^Z, ^D as the user's shell
/// set them): ^C reaches the launcher's process group and is forwarded to the sandbox; ^D ends
/// the program's input.
final class StdioRelay {
    /// For descriptor 0, 1, 2 of the program: the pipe end to give it, or -1 (pass as is).
    private(set) var programEnds: [Int32] = [-1, -1, -1]
    /// The launcher's ends: the write end for stdin, the read ends for stdout and stderr.
    private var launcherEnds: [Int32] = [-1, -1, -1]

    /// Nil when no standard descriptor is a terminal.
    static func forTerminals() throws(SandboxError) -> StdioRelay? {
        let terminals = (0...2).filter { isatty(Int32($0)) == 1 }
        guard !terminals.isEmpty else { return nil }
        let relay = StdioRelay()
        for fd in terminals {
            var ends: [Int32] = [-1, -1]
            guard sbx_pipe_cloexec(&ends) == 0 else {
                relay.close()
                throw .system(PosixError(call: "pipe2", errno: errno), detail: "(standard descriptor \(fd) relay)")
            }
            // stdin: the program reads ends[0]; stdout and stderr: the program writes ends[1].
            relay.programEnds[fd] = fd == 0 ? ends[0] : ends[1]
            relay.launcherEnds[fd] = fd == 0 ? ends[1] : ends[0]
            _ = fcntl(relay.launcherEnds[fd], F_SETFL, fcntl(relay.launcherEnds[fd], F_GETFL) | O_NONBLOCK)
        }
        return relay
    }

    /// After the clone: the program's ends belong to the sandbox now.
    func closeProgramEnds() {
        for index in programEnds.indices where programEnds[index] >= 0 {
            Posix.close(programEnds[index])
            programEnds[index] = -1
        }
    }

    func close() {
        closeProgramEnds()
        for index in launcherEnds.indices where launcherEnds[index] >= 0 {
            Posix.close(launcherEnds[index])
            launcherEnds[index] = -1
        }
    }

    /// Copies until the sandbox's init has exited (its pidfd becomes readable), then drains
    /// what the program wrote last.
    func relay(until pid: pid_t) {
        let pidfd = sbx_pidfd_open(pid)
        guard pidfd >= 0 else { return }
        defer { Posix.close(pidfd) }
        // A program that closes its stdin must not kill the launcher with SIGPIPE (EPIPE ends
        // the input instead). Set after the clone, so the program's signal state is untouched.
        signal(SIGPIPE, SIG_IGN)
        var input = PendingInput()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            var fds = [
                pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: launcherEnds[1], events: Int16(POLLIN), revents: 0),
                pollfd(fd: launcherEnds[2], events: Int16(POLLIN), revents: 0),
                // Read the terminal only when the pipe has room for what is already read.
                pollfd(
                    fd: input.isEmpty && launcherEnds[0] >= 0 ? STDIN_FILENO : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: input.isEmpty ? -1 : launcherEnds[0], events: Int16(POLLOUT), revents: 0)
            ]
            guard (try? Posix.call("poll") { poll(&fds, nfds_t(fds.count), -1) }) != nil else { return }
            for index in 1...2 where fds[index].revents != 0 {
                if !copyOnce(from: launcherEnds[index], to: Int32(index), &buffer) { closeLauncherEnd(index) }
            }
            if fds[3].revents != 0, !input.read(from: STDIN_FILENO) { closeLauncherEnd(0) }
            if !input.isEmpty || fds[4].revents != 0, launcherEnds[0] >= 0, !input.write(to: launcherEnds[0]) {
                closeLauncherEnd(0)
            }
            if fds[0].revents != 0 {
                // The sandbox is gone: take what is still in the pipes (they do not block).
                for index in 1...2 where launcherEnds[index] >= 0 {
                    while copyOnce(from: launcherEnds[index], to: Int32(index), &buffer) {}
                }
                return
            }
        }
    }

    private func closeLauncherEnd(_ index: Int) {
        if launcherEnds[index] >= 0 { Posix.close(launcherEnds[index]) }
        launcherEnds[index] = -1
    }
}

/// What was read from the terminal and not yet taken by the program's stdin pipe.
private struct PendingInput {
    private var bytes: [UInt8] = []
    private var offset = 0

    var isEmpty: Bool { offset == bytes.count }

    /// One read from the terminal; false at EOF (^D) or on an error: the program's input ends.
    mutating func read(from fd: Int32) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        switch try? chunk.withUnsafeMutableBytes({ buffer in try Posix.read(fd, buffer) }) {
        case .wouldBlock?: return true
        case .done(let got)? where got > 0:
            bytes = Array(chunk[0..<got])
            offset = 0
            return true
        default: return false
        }
    }

    /// As much as the pipe takes now; false when the program's end is closed (EPIPE).
    mutating func write(to fd: Int32) -> Bool {
        while !isEmpty {
            let start = offset
            let result = try? bytes.withUnsafeBytes { raw in
                try Posix.write(fd, UnsafeRawBufferPointer(rebasing: raw[start...]))
            }
            guard let result else { return false }
            // A full pipe takes the rest on a later POLLOUT.
            guard case .done(let written) = result else { return true }
            offset += written
        }
        return true
    }
}
