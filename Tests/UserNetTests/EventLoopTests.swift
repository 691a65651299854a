import Glibc
import Posix
import Synchronization
import Testing
import UserNet

@Suite struct EventLoopTests {
    @Test func timersFireInDeadlineOrderAndCancelledOnesDoNot() throws {
        let loop = try EventLoop()
        var fired: [Int] = []
        let base = EventLoop.now()
        _ = try loop.scheduleTimer(at: base + 3_000_000) { fired.append(3) }
        _ = try loop.scheduleTimer(at: base + 1_000_000) { fired.append(1) }
        let cancelled = try loop.scheduleTimer(at: base + 2_000_000) { fired.append(2) }
        _ = try loop.scheduleTimer(at: base + 4_000_000) {
            fired.append(4)
            loop.handle.stop()
        }
        #expect(loop.cancelTimer(cancelled))
        #expect(!loop.cancelTimer(cancelled))
        try loop.run()
        #expect(fired == [1, 3, 4])
        #expect(loop.counters.timersFired == 3)
        #expect(loop.timerCount == 0)
    }

    @Test func timerInThePastFiresOnTheNextRound() throws {
        let loop = try EventLoop()
        var fired = false
        _ = try loop.scheduleTimer(at: 1) {
            fired = true
            loop.handle.stop()
        }
        try loop.run()
        #expect(fired)
    }

    @Test func timerRescheduledAtTheSameDeadlineAfterFiringStillFires() throws {
        // The timerfd disarms itself on expiry; the loop must re-arm even for an equal deadline.
        let loop = try EventLoop()
        var rounds = 0
        let deadline = EventLoop.now() + 1_000_000
        func arm() throws {
            _ = try loop.scheduleTimer(at: deadline) {
                rounds += 1
                if rounds == 3 { loop.handle.stop() } else { try? arm() }
            }
        }
        try arm()
        try loop.run()
        #expect(rounds == 3)
    }

    @Test func timerTableIsBoundedAndCountsRefusals() throws {
        let loop = try EventLoop(maxTimers: 2)
        _ = try loop.scheduleTimer(after: 1_000_000_000) {}
        _ = try loop.scheduleTimer(after: 1_000_000_000) {}
        #expect(throws: EventLoopError.tooManyTimers) { _ = try loop.scheduleTimer(after: 1) {} }
        #expect(loop.counters.timersRejected == 1)
    }

    @Test func readableFdCallsItsHandlerAndUnregisterStopsIt() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        let loop = try EventLoop()
        var reads = 0
        var registration: EventLoop.Registration?
        registration = try loop.register(fd: fds[0], interest: .read) { readiness in
            #expect(readiness.contains(.readable))
            var byte: UInt8 = 0
            _ = read(fds[0], &byte, 1)
            reads += 1
            if let r = registration { loop.unregister(r) }
            loop.handle.stop()
        }
        var byte: UInt8 = 7
        _ = write(fds[1], &byte, 1)
        try loop.run()
        #expect(reads == 1)
        #expect(loop.registrationCount == 0)
        // After unregistering, more data must not reach the old handler.
        _ = write(fds[1], &byte, 1)
        try loop.runOnce(blocking: false)
        #expect(reads == 1)
    }

    @Test func registrationsAreBoundedAndCounted() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        let loop = try EventLoop(maxRegistrations: 1)
        _ = try loop.register(fd: fds[0], interest: .read) { _ in }
        #expect(throws: EventLoopError.tooManyRegistrations) {
            _ = try loop.register(fd: fds[1], interest: .write) { _ in }
        }
        #expect(loop.counters.registrationsRejected == 1)
    }

    @Test func registeringABadFdThrowsTheSyscallError() throws {
        let loop = try EventLoop()
        #expect(throws: EventLoopError.system(PosixError(call: "epoll_ctl", errno: EBADF))) {
            _ = try loop.register(fd: 987_654, interest: .read) { _ in }
        }
        #expect(loop.registrationCount == 0)
    }

    @Test func writeInterestCanBeAddedLater() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        let loop = try EventLoop()
        var sawWritable = false
        let registration = try loop.register(fd: fds[1], interest: []) { readiness in
            sawWritable = readiness.contains(.writable)
            loop.handle.stop()
        }
        try loop.runOnce(blocking: false)
        #expect(!sawWritable)
        try loop.setInterest(registration, .write)
        try loop.run()
        #expect(sawWritable)
    }

    final class RoundCounter: Sendable {
        let rounds = Atomic<UInt64>(0)
    }

    @Test func stopFromAnotherThreadWakesABlockedLoop() throws {
        // The loop has no fds and no timers: it can only leave epoll_wait through the eventfd.
        let thread = try EventLoopThread { _ in }
        usleep(50_000)
        #expect(thread.stopAndJoin() == nil)
    }

    @Test func idleLoopOnItsThreadDoesNotSpin() throws {
        let counter = RoundCounter()
        let thread = try EventLoopThread { loop in
            loop.afterIteration = { counter.rounds.add(1, ordering: .relaxed) }
        }
        usleep(200_000)
        thread.handle.wake()
        usleep(50_000)
        #expect(thread.stopAndJoin() == nil)
        // Idle for 250 ms with one wake: at most the wake round and the stop round.
        #expect(counter.rounds.load(ordering: .relaxed) <= 2)
    }

    @Test func setupErrorIsReportedByTheThreadStarter() {
        #expect(throws: EventLoopError.tooManyTimers) {
            _ = try EventLoopThread(maxTimers: 1) { loop throws(EventLoopError) in
                _ = try loop.scheduleTimer(after: 1_000_000_000) {}
                _ = try loop.scheduleTimer(after: 1_000_000_000) {}
            }
        }
    }
}
