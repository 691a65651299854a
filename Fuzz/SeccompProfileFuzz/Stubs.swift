// What OCISeccompProfile.swift needs from the rest of the Sandbox module, reduced to the
// shapes the parser uses, so the fuzz target links the parser alone (scripts/fuzz.sh).

public enum SandboxError: Error {
    case invalidArgument(String)
}

enum SystemCalls {
    static func readFile(_ path: String, limit: Int) throws -> [UInt8] { [] }
}
