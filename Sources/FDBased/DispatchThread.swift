// A plain POSIX thread for one receive loop. Not a Swift concurrency task: the loop blocks
// in poll(2), which must not happen on the cooperative pool.

import Glibc
import Posix

final class DispatchThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private let handle: pthread_t

    init(_ run: @escaping @Sendable () -> Void) throws(PosixError) {
        let body = Unmanaged.passRetained(Body(run)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                let body = Unmanaged<Body>.fromOpaque(argument).takeRetainedValue()
                body.run()
                return nil
            }, body)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(body).release()
            throw PosixError(call: "pthread_create", errno: result)
        }
        handle = thread
    }

    func join() {
        pthread_join(handle, nil)
    }
}
