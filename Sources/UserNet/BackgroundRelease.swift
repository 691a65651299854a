// Closing an AF_PACKET socket waits for RCU grace periods in the kernel (synchronize_net in
// packet_release, twice with a ring attached: 20-30 ms here), most of a short `sandbox run`.
// The wait is the last reference's: let a throwaway process hold it (CNetShims does the forking,
// since no Swift may run in a child of this multi-threaded process), or, where no process may
// be made (a network's confined gateway), a thread of this one that does nothing else.

import CNetShims
import Glibc

/// Closes `fd` here at once and lets a short-lived grandchild, which nobody waits for, drop
/// the last reference. Returns false (and closes nothing) when no process could be made.
public func closeInBackground(_ fd: Int32) -> Bool {
    usernet_close_in_background(fd) == 0
}

/// Closes `fd` on a thread that does nothing else (PacketSocketReleaser): the caller goes on at
/// once, and `fd` is not the caller's any more.
public func closeOnReleaserThread(_ fd: Int32) {
    PacketSocketReleaser.shared.release(fd)
}

/// A thread of the process's own that closes packet sockets, so the thread that hands one over
/// never waits out its release. For a network's gateway, whose members come and go while the
/// others' traffic flows through its one loop thread: its filter lets it make threads but not
/// the throwaway process `closeInBackground` uses.
final class PacketSocketReleaser: @unchecked Sendable {
    static let shared = PacketSocketReleaser()

    // Guarded by `mutex`; the thread waits on `condition` for descriptors.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// At most one entry per descriptor the process holds.
    private var waiting: [Int32] = []
    private var threadState: ThreadState = .notStarted

    private enum ThreadState { case notStarted, running, failed }

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    /// Closes `fd` on the releaser's thread (started at the first call), or here at once when
    /// no thread could be started. `fd` is the releaser's from here: nobody else may touch it.
    func release(_ fd: Int32) {
        pthread_mutex_lock(mutex)
        if threadState == .notStarted { threadState = startThread() ? .running : .failed }
        guard threadState == .running else {
            pthread_mutex_unlock(mutex)
            Glibc.close(fd)
            return
        }
        waiting.append(fd)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func startThread() -> Bool {
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { _ in PacketSocketReleaser.shared.run() }, nil)
        guard rc == 0 else { return false }
        pthread_detach(thread)
        return true
    }

    private func run() -> Never {
        while true {
            pthread_mutex_lock(mutex)
            while waiting.isEmpty { pthread_cond_wait(condition, mutex) }
            let batch = waiting
            waiting.removeAll(keepingCapacity: true)
            pthread_mutex_unlock(mutex)
            for fd in batch { Glibc.close(fd) }
        }
    }
}
