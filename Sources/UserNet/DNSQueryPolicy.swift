// What the DNS forwarder does with one query, decided before anything leaves the sandbox.
// Names the sandbox owns are answered here (LocalNames). Under a restrictive policy
// (EgressPolicy.isRestrictive) a query goes upstream only when it asks one question, of
// class IN, for a name an --allow-domain rule covers; any other is REFUSED here: a resolver
// that relays every name is an unlimited tunnel out (`<data>.attacker.example`).

import Wire

public struct DNSQueryPolicy: Sendable {
    public enum Decision: Sendable, Equatable {
        case answerLocally(DNSResponseCode, [IPAddress])
        /// A reverse name of the network's own that names `DNSName` (PTR).
        case answerPointer(DNSName)
        case refuse(reason: String)
        case forward
    }

    public let policy: EgressPolicy
    public let names: LocalNames

    public init(policy: EgressPolicy, names: LocalNames) {
        self.policy = policy
        self.names = names
    }

    public func decide(_ query: DNSMessage) -> Decision {
        guard let question = query.questions.first else { return .refuse(reason: "no-question") }
        if query.questions.count == 1, let local = names.pointer(question) {
            return local.name.map { .answerPointer($0) } ?? .answerLocally(local.code, [])
        }
        if query.questions.count == 1, let local = names.answer(question) {
            return .answerLocally(local.code, local.addresses)
        }
        guard policy.isRestrictive else { return .forward }
        guard query.questions.count == 1 else { return .refuse(reason: "several-questions") }
        guard question.recordClass == 1 else { return .refuse(reason: "class-not-in") }
        guard !policy.domainRules(covering: question.name).isEmpty else { return .refuse(reason: "name-not-allowed") }
        return .forward
    }
}
