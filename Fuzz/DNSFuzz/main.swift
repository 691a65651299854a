// libFuzzer entry for the DNS path, both ways (built by scripts/fuzz.sh). The first byte picks
// the direction:
//   even: a query from the app: parse, the policy's decision (fenced and open), the answer the
//         forwarder would write itself, which must parse back with the same question;
//   odd:  an answer from upstream: parse, addresses for every question (CNAME chains), what
//         the learned-address table admits under a wildcard rule.
// Every input also goes through the RFC 7766 stream framer in two arbitrary pieces.

import UserNetDNS
import Wire

nonisolated(unsafe) let network: NetworkConfiguration = {
    var network = try! NetworkConfiguration()
    network.hostname = "sandbox"
    network.hostAddresses = [.v4(IPv4Address(198, 51, 100, 1))]
    return network
}()
nonisolated(unsafe) let fenced = try! EgressPolicy(arguments: [("--allow-domain", "*.example.com:443"), ("--allow", "10.1.0.0/16"),
                                                              ("--deny", "all")])
nonisolated(unsafe) let policies = [fenced, EgressPolicy()].map { DNSQueryPolicy(policy: $0, names: LocalNames(network: network)) }

@_cdecl("LLVMFuzzerTestOneInput")
public func dnsFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard size > 0, let data else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    if data[0] & 1 == 0 { query(bytes) } else { answer(bytes) }
    frame(bytes, split: Int(data[0]))
    return 0
}

func query(_ bytes: UnsafeRawBufferPointer) {
    guard let message = try? DNSMessage.parse(bytes), let question = message.questions.first else { return }
    for policy in policies {
        let code: DNSResponseCode
        var addresses: [IPAddress] = []
        switch policy.decide(message) {
        case .forward: continue
        case .refuse: code = .refused
        case .answerLocally(let local, let found): (code, addresses) = (local, found)
        }
        guard let written = DNSResponseWriter.response(toQuery: bytes, code: code, authoritative: true, addresses: addresses) else {
            // Only a query whose first name is cut short or compressed gets no answer.
            guard DNSResponseWriter.endOfFirstQuestion(bytes) == nil else { fatalError("no answer written for a plain query") }
            continue
        }
        guard let back = written.withUnsafeBytes({ try? DNSMessage.parse($0) }), back.questions.first?.name == question.name,
              back.header.id == message.header.id, back.answers.count == addresses.count else {
            fatalError("the written answer does not parse back to the query's question")
        }
    }
}

func answer(_ bytes: UnsafeRawBufferPointer) {
    guard let message = try? DNSMessage.parse(bytes) else { return }
    for question in message.questions { _ = message.addresses(for: question.name) }
    var table = LearnedAddressTable(capacity: 16)
    let lesson = table.learn(from: message, policy: fenced, network: network, now: 1)
    for address in lesson.admitted where SpecialAddresses.isPrivate(address) && !fenced.explicitlyAllowsAddress(address) {
        fatalError("a private answer was admitted: \(address)")
    }
}

func frame(_ bytes: UnsafeRawBufferPointer, split: Int) {
    var framer = DNSStreamFramer()
    let cut = bytes.isEmpty ? 0 : split % (bytes.count + 1)
    _ = try? framer.append(UnsafeRawBufferPointer(rebasing: bytes[0..<cut]))
    _ = try? framer.append(UnsafeRawBufferPointer(rebasing: bytes[cut...]))
}
