// A plain detached pthread for the launcher's helpers (the gateway's monitor and handover):
// they block in syscalls (read, waitpid, setsockopt), which must not happen on Swift's
// cooperative pool, and nobody joins them.

import Glibc

/// Runs `body` on a new detached thread. Returns pthread_create's result (0: started).
func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Int32 {
    final class Job: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let job = Unmanaged.passRetained(Job(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            guard let raw else { return nil }
            Unmanaged<Job>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, job)
    if rc == 0 {
        pthread_detach(thread)
    } else {
        Unmanaged<Job>.fromOpaque(job).release()
    }
    return rc
}
