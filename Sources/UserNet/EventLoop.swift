// The gateway's event loop: one epoll set, one timerfd for every timer (armed to the earliest
// deadline in a TimerQueue) and one eventfd to wake or stop it from another thread. It blocks
// in epoll_wait with no timeout, so an idle gateway costs nothing.
//
// Single-threaded by design: register/unregister/schedule are called on the loop's thread
// (from handlers, or before `run`). Only `EventLoopHandle` (stop, wake) crosses threads.
//
// How the other parts plug in:
// - a link endpoint's fd, every host socket: `register(fd:interest:handler:)`;
// - the stack's "next timer due": `scheduleTimer(at:)` / `cancelTimer`, re-armed from
//   `afterIteration` (the place to flush the link's TX batch and ask the stack what is due).

import CNetShims
import Glibc
import Posix
import Synchronization

public enum EventLoopError: Error, Sendable, Equatable {
    case system(PosixError)
    /// `maxRegistrations` fds are registered already (counted in `counters.registrationsRejected`).
    case tooManyRegistrations
    /// `maxTimers` timers are live already (counted in `counters.timersRejected`).
    case tooManyTimers
}

/// Counters a status page or a test reads.
public struct EventLoopCounters: Sendable, Equatable {
    /// Returns from epoll_wait.
    public var iterations: UInt64 = 0
    /// Readiness reports handed to fd handlers.
    public var ioEvents: UInt64 = 0
    public var timersFired: UInt64 = 0
    public var timersRejected: UInt64 = 0
    public var registrationsRejected: UInt64 = 0
    /// Wake-ups through the eventfd (stop or wake from another thread).
    public var wakeups: UInt64 = 0
}

/// The thread-safe side of a loop: stop it or wake it from anywhere. Owns the eventfd, so a
/// handle outliving the loop never writes to a reused fd number.
public final class EventLoopHandle: Sendable {
    let eventFD: Int32
    let stopRequested = Atomic<Bool>(false)

    init() throws(PosixError) {
        let flags = Int32(EFD_NONBLOCK | EFD_CLOEXEC)
        eventFD = try Posix.call("eventfd") { eventfd(0, flags) }
    }

    deinit { Posix.close(eventFD) }

    /// Makes `run` return after the handlers of the current round; takes effect at once even
    /// when the loop is blocked in epoll_wait.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    public var isStopRequested: Bool { stopRequested.load(ordering: .acquiring) }

    /// Interrupts epoll_wait so the loop runs one more round (e.g. after work was handed over).
    public func wake() {
        var one: UInt64 = 1
        // EAGAIN means the counter is already non-zero: the loop will wake anyway.
        _ = withUnsafeBytes(of: &one) { try? Posix.write(eventFD, $0) }
    }
}

public final class EventLoop {
    /// What a registration wants to hear about.
    public struct Interest: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let read = Interest(rawValue: 1 << 0)
        public static let write = Interest(rawValue: 1 << 1)
    }

    /// What happened on an fd.
    public struct Readiness: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let readable = Readiness(rawValue: 1 << 0)
        public static let writable = Readiness(rawValue: 1 << 1)
        /// The peer closed its side (EPOLLRDHUP) or both sides are closed (EPOLLHUP).
        public static let hangup = Readiness(rawValue: 1 << 2)
        /// EPOLLERR: read SO_ERROR (or the error queue) to learn what.
        public static let error = Readiness(rawValue: 1 << 3)
    }

    public typealias Handler = (Readiness) -> Void

    /// A registered fd. The generation makes a stale readiness report (for an fd unregistered
    /// earlier in the same round, whose slot was reused) recognisable.
    public struct Registration: Hashable, Sendable {
        let slot: UInt32
        let generation: UInt32
        var token: UInt64 { UInt64(generation) << 32 | UInt64(slot) }
    }

    private struct Slot {
        var fd: Int32 = -1
        var generation: UInt32 = 0
        var handler: Handler?
    }

    private static let wakeToken = UInt64.max
    private static let timerToken = UInt64.max - 1
    private static let readyCapacity = 256

    public let handle: EventLoopHandle
    public let maxRegistrations: Int
    public private(set) var counters = EventLoopCounters()
    /// Runs once after every round of handlers and timers: flush batched writes here and
    /// re-arm the stack's timer from its "next timer due".
    public var afterIteration: (() -> Void)?
    /// The monotonic time (ns) the current round began, read once when the wait returned: the
    /// one `now` every handler of the round shares.
    public private(set) var roundStart: UInt64 = EventLoop.now()

    private let epollFD: Int32
    private let timerFD: Int32
    private var slots: [Slot] = []
    private var freeSlots: [UInt32] = []
    private var liveRegistrations = 0
    private var timers: TimerQueue<() -> Void>
    private var armedDeadline: UInt64 = 0
    private let ready: UnsafeMutablePointer<usernet_ready_event>

    public init(maxRegistrations: Int = 65_536, maxTimers: Int = 65_536) throws(PosixError) {
        self.maxRegistrations = max(1, maxRegistrations)
        timers = TimerQueue(capacity: maxTimers)
        let handle = try EventLoopHandle()
        let epollFD = try Posix.call("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        let timerFD: Int32
        do throws(PosixError) {
            let flags = Int32(TFD_NONBLOCK | TFD_CLOEXEC)
            timerFD = try Posix.call("timerfd_create") { timerfd_create(CLOCK_MONOTONIC, flags) }
        } catch {
            Posix.close(epollFD)
            throw error
        }
        do throws(PosixError) {
            _ = try Posix.call("epoll_ctl") {
                usernet_epoll_ctl(epollFD, EPOLL_CTL_ADD, handle.eventFD, EPOLLIN.rawValue, Self.wakeToken)
            }
            _ = try Posix.call("epoll_ctl") {
                usernet_epoll_ctl(epollFD, EPOLL_CTL_ADD, timerFD, EPOLLIN.rawValue, Self.timerToken)
            }
        } catch {
            Posix.close(timerFD)
            Posix.close(epollFD)
            throw error
        }
        self.handle = handle
        self.epollFD = epollFD
        self.timerFD = timerFD
        ready = .allocate(capacity: Self.readyCapacity)
    }

    deinit {
        ready.deallocate()
        Posix.close(timerFD)
        Posix.close(epollFD)
    }

    /// CLOCK_MONOTONIC in nanoseconds: the time base of every timer here.
    public static func now() -> UInt64 { usernet_monotonic_now_ns() }

    // MARK: fds

    /// Watches `fd` (which stays owned by the caller; unregister before closing it).
    public func register(fd: Int32, interest: Interest, handler: @escaping Handler) throws(EventLoopError)
        -> Registration
    {
        guard liveRegistrations < maxRegistrations else {
            counters.registrationsRejected &+= 1
            throw .tooManyRegistrations
        }
        let slot: UInt32
        if let reused = freeSlots.popLast() {
            slot = reused
        } else {
            slot = UInt32(slots.count)
            slots.append(Slot())
        }
        let index = Int(slot)
        slots[index].generation &+= 1
        let registration = Registration(slot: slot, generation: slots[index].generation)
        do throws(PosixError) {
            _ = try Posix.call("epoll_ctl") {
                usernet_epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, Self.epollEvents(interest), registration.token)
            }
        } catch {
            freeSlots.append(slot)
            throw .system(error)
        }
        slots[index].fd = fd
        slots[index].handler = handler
        liveRegistrations += 1
        return registration
    }

    /// Changes what a registration listens for (e.g. add `.write` while output is pending).
    public func setInterest(_ registration: Registration, _ interest: Interest) throws(PosixError) {
        guard let fd = liveFD(registration) else { throw PosixError(call: "epoll_ctl", errno: ENOENT) }
        _ = try Posix.call("epoll_ctl") {
            usernet_epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, Self.epollEvents(interest), registration.token)
        }
    }

    /// Changes what a registration listens for and who hears it, in one EPOLL_CTL_MOD (a host
    /// socket handed from its connect to its flow keeps its place in the epoll set).
    public func setInterest(
        _ registration: Registration, _ interest: Interest,
        handler: @escaping Handler
    ) throws(PosixError) {
        try setInterest(registration, interest)
        slots[Int(registration.slot)].handler = handler
    }

    /// Stops watching; safe to call from the registration's own handler. Unknown or already
    /// removed registrations are ignored. `closingFD`: the caller closes the fd right away
    /// (and holds no duplicate of it), which removes it from the epoll set by itself, so the
    /// EPOLL_CTL_DEL is skipped (one syscall less per connection).
    public func unregister(_ registration: Registration, closingFD: Bool = false) {
        guard let fd = liveFD(registration) else { return }
        // ENOENT/EBADF here mean the fd was closed first, which already removed it from epoll.
        if !closingFD { _ = usernet_epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, 0, 0) }
        let index = Int(registration.slot)
        slots[index].fd = -1
        slots[index].handler = nil
        slots[index].generation &+= 1
        freeSlots.append(registration.slot)
        liveRegistrations -= 1
    }

    public var registrationCount: Int { liveRegistrations }

    private func liveFD(_ registration: Registration) -> Int32? {
        let index = Int(registration.slot)
        guard index < slots.count, slots[index].generation == registration.generation, slots[index].fd >= 0 else {
            return nil
        }
        return slots[index].fd
    }

    private static func epollEvents(_ interest: Interest) -> UInt32 {
        var events = EPOLLRDHUP.rawValue
        if interest.contains(.read) { events |= EPOLLIN.rawValue }
        if interest.contains(.write) { events |= EPOLLOUT.rawValue }
        return events
    }

    // MARK: timers

    /// Calls `handler` on the loop thread at the monotonic time `deadline` (ns, see `now()`).
    public func scheduleTimer(at deadline: UInt64, _ handler: @escaping () -> Void) throws(EventLoopError) -> TimerID {
        guard let id = timers.schedule(at: deadline, handler) else {
            counters.timersRejected &+= 1
            throw .tooManyTimers
        }
        return id
    }

    public func scheduleTimer(after nanoseconds: UInt64, _ handler: @escaping () -> Void) throws(EventLoopError)
        -> TimerID
    {
        try scheduleTimer(at: Self.now() &+ nanoseconds, handler)
    }

    @discardableResult
    public func cancelTimer(_ id: TimerID) -> Bool { timers.cancel(id) }

    public var timerCount: Int { timers.count }

    // MARK: running

    /// Runs rounds until `handle.stop()`; returns at once if stop was requested before.
    public func run() throws(PosixError) {
        while !handle.isStopRequested {
            try runOnce(blocking: true)
        }
    }

    /// One round: wait (or not) for readiness, dispatch, fire due timers, run `afterIteration`.
    public func runOnce(blocking: Bool) throws(PosixError) {
        try armTimerFD()
        let count = try Posix.call("epoll_wait") {
            usernet_epoll_wait(epollFD, ready, Int32(Self.readyCapacity), blocking ? -1 : 0)
        }
        roundStart = Self.now()
        counters.iterations &+= 1
        for i in 0..<Int(count) {
            let event = ready[i]
            switch event.token {
            case Self.wakeToken:
                counters.wakeups &+= 1
                drain(handle.eventFD)
            case Self.timerToken:
                // A one-shot timerfd disarms itself when it fires.
                drain(timerFD)
                armedDeadline = 0
            default:
                dispatch(event)
            }
            if handle.isStopRequested { return }
        }
        fireDueTimers()
        afterIteration?()
    }

    private func dispatch(_ event: usernet_ready_event) {
        let slot = Int(truncatingIfNeeded: event.token & 0xFFFF_FFFF)
        let generation = UInt32(truncatingIfNeeded: event.token >> 32)
        guard slot < slots.count, slots[slot].generation == generation, let handler = slots[slot].handler else {
            return
        }
        var readiness: Readiness = []
        if event.events & (EPOLLIN.rawValue | EPOLLPRI.rawValue) != 0 { readiness.insert(.readable) }
        if event.events & EPOLLOUT.rawValue != 0 { readiness.insert(.writable) }
        if event.events & (EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 { readiness.insert(.hangup) }
        if event.events & EPOLLERR.rawValue != 0 { readiness.insert(.error) }
        counters.ioEvents &+= 1
        handler(readiness)
    }

    private func fireDueTimers() {
        let now = Self.now()
        while let (_, handler) = timers.popExpired(now: now) {
            counters.timersFired &+= 1
            handler()
            if handle.isStopRequested { return }
        }
    }

    /// Keeps the timerfd armed at the earliest live deadline (disarmed when there is none).
    private func armTimerFD() throws(PosixError) {
        let wanted = timers.nextDeadline() ?? 0
        // A deadline in the past must still fire: 0 would disarm, so use 1 ns after boot.
        let effective = wanted == 0 ? 0 : max(wanted, 1)
        guard effective != armedDeadline else { return }
        _ = try Posix.call("timerfd_settime") { usernet_timerfd_arm_absolute(timerFD, effective) }
        armedDeadline = effective
    }

    private func drain(_ fd: Int32) {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { try? Posix.read(fd, $0) }
    }
}
