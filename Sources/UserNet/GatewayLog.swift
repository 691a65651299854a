// What the gateway says about itself (swift-log, through the handler its process set up): what
// it refused at a limit or by policy, and DNS queries no upstream answered, at warning. A
// hostile app can cause such events at line rate, so at most `LogWindow.linesPerSecond` lines
// go out a second; the ones held back are counted and the next line says how many.

import Logging
import Netstack

struct LogWindow {
    static let linesPerSecond = 10
    private var start: UInt64 = 0
    private var used = 0
    private var held: UInt64 = 0

    /// nil: hold this line back; else how many were held back before it.
    mutating func admit(now: UInt64) -> UInt64? {
        if now &- start >= 1_000_000_000 {
            start = now
            used = 0
        }
        guard used < Self.linesPerSecond else {
            held &+= 1
            return nil
        }
        used += 1
        defer { held = 0 }
        return held
    }
}

extension GatewayEngine {
    /// A warning line, within the window.
    func warn(_ message: @autoclosure () -> String, _ metadata: @autoclosure () -> Logger.Metadata = [:]) {
        guard logger.logLevel <= .warning, let held = logWindow.admit(now: now.nanoseconds) else { return }
        var fields = metadata()
        if held > 0 { fields["held-back"] = "\(held)" }
        logger.warning("\(message())", metadata: fields)
    }

    /// "refused tcp 10.0.2.100:40312 -> 192.0.2.7:443" with the reason the policy or limit gave.
    func warnRefused(_ flow: FlowKey, transport: FlowTransport, reason: String) {
        warn(
            "refused \(transport) \(SocketAddress(flow.source, port: flow.sourcePort)) -> "
                + "\(SocketAddress(flow.destination, port: flow.destinationPort))", ["reason": "\(reason)"])
    }
}
