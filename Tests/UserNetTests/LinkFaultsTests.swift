import Testing
import UserNet

@Suite struct LinkFaultsTests {
    @Test func parsesNetemsForms() throws {
        let faults = try LinkFaults(
            delay: "100ms,10ms", loss: "3%", rate: "10mbit", duplicate: "0.5", reorder: "25%", seed: "42")
        #expect(faults.delayNanoseconds == 100_000_000 && faults.jitterNanoseconds == 10_000_000)
        #expect(faults.loss == 0.03 && faults.duplicate == 0.005 && faults.reorder == 0.25)
        #expect(faults.rateBitsPerSecond == 10_000_000 && faults.seed == 42)
        #expect(try LinkFaults(delay: "1.5s").delayNanoseconds == 1_500_000_000)
        #expect(try LinkFaults(delay: "250us").delayNanoseconds == 250_000)
        #expect(try LinkFaults(rate: "1mbps").rateBitsPerSecond == 8_000_000, "tc's bps is bytes")
        #expect(try LinkFaults(rate: "512kbit").rateBitsPerSecond == 512_000)
        #expect(try LinkFaults().isEmpty && !(try LinkFaults(loss: "1%").isEmpty))
        #expect(
            faults.flagText
                == "--net-delay 100ms,10ms --net-loss 3% --net-duplicate 0.5% --net-reorder 25% --net-rate 10000000bit")
        #expect(LinkFaults().flagText == "no link faults")
    }

    @Test func refusesWithTheFlagAndTheForm() {
        #expect(throws: LinkFaultError.bad("--net-loss", "101%", "expected a percentage from 0% to 100%")) {
            try LinkFaults(loss: "101%")
        }
        #expect(throws: LinkFaultError.self) { try LinkFaults(delay: "10") }
        #expect(throws: LinkFaultError.self) { try LinkFaults(delay: "10ms,1ms,1ms") }
        #expect(throws: LinkFaultError.self) { try LinkFaults(rate: "10") }
        #expect(throws: LinkFaultError.self) { try LinkFaults(rate: "1bit") }
        #expect(throws: LinkFaultError.self) { try LinkFaults(seed: "-1") }
        #expect(throws: LinkFaultError.self) { try LinkFaults(reorder: "5%") }
    }

    /// The gateway's process gets the faults through its flags: they must come back the same.
    @Test func roundTripsThroughTheGatewaysFlags() throws {
        var options = try UserNetOptions(mtu: 9000)
        options.linkFaults = try LinkFaults(delay: "20ms,5ms", loss: "2%", rate: "1gbit", seed: "9")
        let again = try UserNetOptions(flags: options.flags)
        #expect(again.linkFaults == options.linkFaults)
        #expect(
            LinkFaults(encoded: "delay=1,jitter=2,loss=0,duplicate=0,reorder=0,rate=0,seed=1") == nil, "jitter > delay")
        #expect(LinkFaults(encoded: "delay=1") == nil)
    }
}
