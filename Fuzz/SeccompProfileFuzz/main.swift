// libFuzzer entry for `--seccomp FILE`: the OCI seccomp profile parser on arbitrary bytes
// (built by scripts/fuzz.sh). It must return a policy or a typed error, never trap, and a
// policy it returns keeps the parser's bounds.

import SandboxSeccompProfile

@_cdecl("LLVMFuzzerTestOneInput")
public func seccompProfileFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let policy = try? OCISeccompProfile.parse(bytes), policy.rules.count > 4096 {
        fatalError("a profile produced \(policy.rules.count) rules")
    }
    return 0
}
