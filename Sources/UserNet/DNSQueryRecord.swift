// The connection log's line for one DNS query the app asked the forwarder: what it asked,
// what was decided (forwarded, answered here, refused here), what came back and which of
// those addresses an --allow-domain rule admitted or refused (private space). Same JSON
// conventions as ConnectionRecord, with "protocol":"dns".

import Wire

public struct DNSQueryRecord: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        /// Sent upstream and answered.
        case forwarded
        /// Sent upstream; no answer came.
        case unanswered
        /// Answered by the forwarder itself (a name the sandbox owns).
        case local
        /// Refused by the forwarder without asking upstream.
        case refused
    }

    public var timeNanoseconds: UInt64
    public var source: SocketAddress
    public var transport: FlowTransport
    public var name: DNSName
    public var type: DNSRecordType
    public var outcome: Outcome
    public var reason: String?
    public var answers: [IPAddress] = []
    public var refusedAnswers: [IPAddress] = []

    public init(
        timeNanoseconds: UInt64, source: SocketAddress, transport: FlowTransport, question: DNSQuestion,
        outcome: Outcome, reason: String? = nil
    ) {
        self.timeNanoseconds = timeNanoseconds
        self.source = source
        self.transport = transport
        name = question.name
        type = question.type
        self.outcome = outcome
        self.reason = reason
    }

    public var verdict: PolicyVerdict { outcome == .refused ? .deny : .allow }

    public var jsonLine: String {
        var line = "{\"time\":\"\(ConnectionRecord.iso8601(timeNanoseconds))\",\"protocol\":\"dns\""
        line += ",\"transport\":\"\(transport)\",\"source\":\(JSONText.quoted(source.description))"
        line += ",\"name\":\(JSONText.quoted(name.description)),\"type\":\"\(Self.typeName(type))\""
        line += ",\"verdict\":\"\(verdict.rawValue)\",\"outcome\":\"\(outcome.rawValue)\""
        if let reason { line += ",\"reason\":\(JSONText.quoted(reason))" }
        line += ",\"answers\":" + Self.list(answers)
        if !refusedAnswers.isEmpty { line += ",\"not_admitted\":" + Self.list(refusedAnswers) }
        return line + "}\n"
    }

    private static func list(_ addresses: [IPAddress]) -> String {
        "[" + addresses.map { "\"\($0)\"" }.joined(separator: ",") + "]"
    }

    static func typeName(_ type: DNSRecordType) -> String {
        switch type.rawValue {
        case 1: "A"
        case 5: "CNAME"
        case 28: "AAAA"
        case 255: "ANY"
        default: "TYPE\(type.rawValue)"
        }
    }
}
