// libFuzzer entry for the Wire parsers. Built by scripts/fuzz.sh (target wire) together with
// Sources/Wire/*.swift and Tests/WireTests/ParseEverything.swift into one module (-D WIRE_FUZZ),
// with -sanitize=fuzzer,address: AddressSanitizer turns any out-of-bounds read into a crash,
// and a re-emit inconsistency is reported as a crash with its description.

nonisolated(unsafe) let scratch = ParseScratch()

@_cdecl("LLVMFuzzerTestOneInput")
public func wireFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let failure = parseEverything(bytes, scratch) {
        fatalError("Wire inconsistency: \(failure)")
    }
    return 0
}
