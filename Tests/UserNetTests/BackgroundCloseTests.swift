import Glibc
import Testing
import UserNet

/// `closeInBackground` (Gateway.Settings.releasesPacketSocketInBackground): the caller's
/// descriptor is closed when it returns, and the last reference goes with a throwaway process
/// soon after (the peer of a socket pair sees EOF). `closeOnReleaserThread` (a network member's
/// packet socket): closed soon after on the releaser's thread, every one handed to it.
@Suite struct BackgroundCloseTests {
    @Test func closesHereAndReleasesTheLastReferenceElsewhere() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        defer { close(pair[1]) }
        // Moved to a high number: the tests run in parallel, and another one's next descriptor
        // would take a low number as soon as it is closed.
        let fd = fcntl(pair[0], F_DUPFD_CLOEXEC, 900)
        close(pair[0])
        try #require(fd >= 900)
        #expect(closeInBackground(fd))
        // Closed in this process at once...
        #expect(fcntl(fd, F_GETFD) == -1 && errno == EBADF)
        // ...and the socket itself is released once the throwaway process exits: EOF on the
        // peer (a poll bounded at 10 s so a hang fails instead of blocking the suite).
        var pollfd = Glibc.pollfd(fd: pair[1], events: Int16(POLLIN), revents: 0)
        #expect(poll(&pollfd, 1, 10_000) == 1)
        var byte: UInt8 = 0
        #expect(read(pair[1], &byte, 1) == 0)
    }

    @Test func theReleaserThreadClosesEveryDescriptorHandedToIt() throws {
        var peers: [Int32] = []
        defer { for peer in peers { close(peer) } }
        for _ in 0..<3 {
            var pair: [Int32] = [-1, -1]
            try #require(
                socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
            peers.append(pair[1])
            closeOnReleaserThread(pair[0])
        }
        // Each peer sees EOF once its other end is closed (bounded at 10 s: a hang fails).
        for peer in peers {
            var pollfd = Glibc.pollfd(fd: peer, events: Int16(POLLIN), revents: 0)
            #expect(poll(&pollfd, 1, 10_000) == 1)
            var byte: UInt8 = 0
            #expect(read(peer, &byte, 1) == 0)
        }
    }
}
