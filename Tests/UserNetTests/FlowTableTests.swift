import Netstack
import Testing
import UserNet
import Wire

@Suite struct FlowTableTests {
    func key(_ port: UInt16, _ transport: IPProtocol = .udp) -> FlowKey {
        FlowKey(
            protocolNumber: transport, source: .v4(IPv4Address(10, 0, 2, 100)), sourcePort: port,
            destination: .v4(IPv4Address(192, 0, 2, 1)), destinationPort: 53)
    }

    @Test func atTheFlowLimitNewFlowsAreRefusedAndOldOnesStay() throws {
        var limits = FlowLimits()
        limits.maxFlows = 2
        var table = FlowTable<String>(limits: limits)
        try table.insert(key(1), "a", now: 0)
        try table.insert(key(2), "b", now: 0)
        #expect(throws: FlowRefusal.tooManyFlows) { try table.insert(key(3), "c", now: 0) }
        #expect(throws: FlowRefusal.alreadyExists) { try table.insert(key(1), "again", now: 0) }
        #expect(table.counters.refusedTooManyFlows == 1)
        #expect(table[key(1)] == "a" && table[key(2)] == "b" && table[key(3)] == nil)
        #expect(table.remove(key(1)) == "a")
        try table.insert(key(3), "c", now: 0)
        #expect(table.count == 2 && table.counters.peakFlows == 2)
    }

    /// With a share per source, one source at its share is refused (counted) while another
    /// still opens flows; each way a flow goes (removed, expired, its member gone) frees its place.
    @Test func aSourceAtItsShareIsRefusedWhileAnotherOpensFlows() throws {
        var table = FlowTable<Int>(perSourceLimit: 2)
        let other = IPAddress.v4(IPv4Address(10, 0, 2, 101))
        func from(_ source: IPAddress, _ port: UInt16) -> FlowKey {
            FlowKey(
                protocolNumber: .udp, source: source, sourcePort: port,
                destination: .v4(IPv4Address(192, 0, 2, 1)), destinationPort: 53)
        }
        let first = key(1).source
        try table.insert(key(1), 1, now: 0)
        try table.insert(key(2), 2, now: 0)
        #expect(throws: FlowRefusal.sourceAtItsShare) { try table.insert(key(3), 3, now: 0) }
        try table.insert(from(other, 1), 4, now: 0)
        #expect(table.counters.refusedSourceAtItsShare == 1)
        #expect(table.count(from: first) == 2 && table.count(from: other) == 1 && table.isAtItsShare(first))
        table.remove(key(1))
        try table.insert(key(3), 3, now: 0)
        _ = table.expireIdle(now: 61_000_000_000)
        #expect(table.count == 0 && table.count(from: first) == 0 && table.count(from: other) == 0)
        try table.insert(key(4), 4, now: 0)
        try table.insert(key(5), 5, now: 0)
        _ = table.removeAll { $0.source == first }
        #expect(!table.isAtItsShare(first))
        // Without a share nothing is counted per source.
        var unlimited = FlowTable<Int>()
        for port in UInt16(1)...3 { try unlimited.insert(key(port), 0, now: 0) }
        #expect(unlimited.count(from: first) == 0 && !unlimited.isAtItsShare(first))
    }

    @Test func idleFlowsExpireByProtocolTimeout() throws {
        var table = FlowTable<Int>()
        let second: UInt64 = 1_000_000_000
        try table.insert(key(1, .udp), 1, now: 0)
        try table.insert(key(2, .udp), 2, now: 0)
        try table.insert(key(3, .tcp), 3, now: 0)
        table.touch(key(2, .udp), now: 30 * second)
        let expired = table.expireIdle(now: 60 * second)
        #expect(expired.map(\.0) == [key(1, .udp)], "UDP idle 60 s by default; the touched one and TCP stay")
        #expect(table.count == 2)
        let later = table.expireIdle(now: 90 * second)
        #expect(later.map(\.1) == [2])
        #expect(table.counters.expired == 2)
        let tcp = table.expireIdle(now: 7_440 * second)
        #expect(tcp.map(\.1) == [3], "TCP after 2 h 4 min (RFC 5382)")
    }
}
