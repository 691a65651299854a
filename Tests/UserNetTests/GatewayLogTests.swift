import Logging
import Synchronization
import Testing
import UserNet

/// The gateway's warnings through swift-log: a refusal names the flow and the rule, and a burst
/// of refusals (which a hostile app can cause at line rate) gives a bounded number of lines
/// whose `held-back` counts account for every refusal.
@Suite(.serialized, .tags(.root), .needsRoot) struct GatewayLogTests {
    final class Lines: Sendable {
        let lines = Mutex<[(message: String, metadata: Logger.Metadata)]>([])
    }

    struct CapturingHandler: LogHandler {
        let sink: Lines
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel = Logger.Level.warning
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.lines.withLock { $0.append((event.message.description, event.metadata ?? [:])) }
        }
    }

    @Test func refusalsAreWarnedWithinABoundAndNoneIsUncounted() throws {
        let lab = try GatewayLab()
        let sink = Lines()
        let logger = Logger(label: "gateway") { _ in CapturingHandler(sink: sink) }
        // The DNS upstream is never asked: a loopback port of the lab's own namespace.
        let options = try UserNetOptions(
            dns: ["127.0.0.1:5399"], policyArguments: [(flag: "--deny", value: "198.51.100.0/24")])
        let gateway = try lab.startGateway(options, logger: logger)
        defer { gateway.stop() }
        // One denied flow (while the app's ARP for the gateway resolves), 40 at once after it,
        // then one more after the one-second window has passed.
        let burst = """
            import socket, time
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("198.51.100.1", 19999))
            time.sleep(0.3)
            for port in range(20000, 20040):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"x", ("198.51.100.1", port))
            time.sleep(1.3)
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("198.51.100.1", 30000))
            time.sleep(0.3)
            """
        _ = try lab.inApp(["python3", "-c", burst])
        gateway.stop()
        let lines = sink.lines.withLock { $0 }
        #expect(lines.count >= 2 && lines.count <= 3 * 10, "at most 10 lines a second")
        let first = try #require(lines.first)
        #expect(
            first.message.hasPrefix("refused udp 10.0.2.100:") && first.message.hasSuffix("-> 198.51.100.1:19999"),
            "\(first.message)")
        #expect(first.metadata["reason"]?.description == "policy rule 1: --deny 198.51.100.0/24")
        let held = lines.compactMap { $0.metadata["held-back"].flatMap { Int($0.description) } }.reduce(0, +)
        #expect(lines.count + held == 42, "every refusal is either a line or counted in a later one")
        #expect(lines.last?.message.hasSuffix("-> 198.51.100.1:30000") == true)
    }
}
