// The default deployment: one loop on one dedicated thread. The loop is created on that thread
// and never leaves it; the caller keeps only the Sendable handle, to stop and join it.

import Glibc
import Posix

public final class EventLoopThread: Sendable {
    public let handle: EventLoopHandle
    private let thread: pthread_t

    private final class Start: @unchecked Sendable {
        // Written by the new thread before it signals `ready`, read by the starter after.
        var loop: EventLoop?
        var setupError: EventLoopError?
        var runError: PosixError?
        var ready = false
        var mutex = pthread_mutex_t()
        var condition = pthread_cond_t()
        let setup: (EventLoop) throws(EventLoopError) -> Void
        let maxRegistrations: Int
        let maxTimers: Int

        init(setup: @escaping (EventLoop) throws(EventLoopError) -> Void, maxRegistrations: Int, maxTimers: Int) {
            self.setup = setup
            self.maxRegistrations = maxRegistrations
            self.maxTimers = maxTimers
            pthread_mutex_init(&mutex, nil)
            pthread_cond_init(&condition, nil)
        }

        deinit {
            pthread_cond_destroy(&condition)
            pthread_mutex_destroy(&mutex)
        }
    }

    private let start: Start

    /// Starts a thread that creates a loop, runs `setup` on it (register fds, timers), then
    /// runs it until `stop()`. Throws what loop creation or `setup` threw.
    public init(
        maxRegistrations: Int = 65_536, maxTimers: Int = 65_536,
        setup: @escaping (EventLoop) throws(EventLoopError) -> Void
    ) throws(EventLoopError) {
        let start = Start(setup: setup, maxRegistrations: maxRegistrations, maxTimers: maxTimers)
        let context = Unmanaged.passRetained(start).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                let start = Unmanaged<Start>.fromOpaque(raw).takeRetainedValue()
                EventLoopThread.body(start)
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            throw .system(PosixError(call: "pthread_create", errno: rc))
        }
        pthread_mutex_lock(&start.mutex)
        while !start.ready { pthread_cond_wait(&start.condition, &start.mutex) }
        pthread_mutex_unlock(&start.mutex)
        if let error = start.setupError {
            pthread_join(thread, nil)
            throw error
        }
        guard let handle = start.loop?.handle else {
            pthread_join(thread, nil)
            throw .system(PosixError(call: "pthread_create", errno: EINVAL))
        }
        self.handle = handle
        self.thread = thread
        self.start = start
    }

    private static func body(_ start: Start) {
        var loop: EventLoop?
        do {
            let created = try EventLoop(maxRegistrations: start.maxRegistrations, maxTimers: start.maxTimers)
            try start.setup(created)
            loop = created
        } catch let error as EventLoopError {
            start.setupError = error
        } catch let error as PosixError {
            start.setupError = .system(error)
        } catch {
            start.setupError = .system(PosixError(call: "setup", errno: EINVAL))
        }
        pthread_mutex_lock(&start.mutex)
        start.loop = loop
        start.ready = true
        pthread_cond_signal(&start.condition)
        pthread_mutex_unlock(&start.mutex)
        guard let loop else { return }
        do { try loop.run() } catch { start.runError = error }
        // Whatever `afterIteration` captured (the gateway's engine, which holds the loop) would
        // otherwise keep the loop and its epoll, timerfd and eventfd alive forever.
        loop.afterIteration = nil
        // The loop (and every closure registered on it) dies on its own thread.
        start.loop = nil
    }

    /// Stops the loop and waits for its thread; returns the error `run` ended with, if any.
    @discardableResult
    public func stopAndJoin() -> PosixError? {
        handle.stop()
        pthread_join(thread, nil)
        return start.runError
    }
}
