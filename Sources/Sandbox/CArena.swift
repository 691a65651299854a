import Glibc

/// Owns the C memory behind a `sbx_spawn_config` (strings, arrays) until the child has been
/// cloned; the child gets its own copy of the address space, so the parent may free it after
/// `sbx_spawn` returns.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for pointer in allocations { free(pointer) }
    }

    func string(_ text: String) -> UnsafeMutablePointer<CChar> {
        let copy = text.withCString { strdup($0) }
        guard let copy else { fatalError("out of memory copying a string for the child") }
        allocations.append(UnsafeMutableRawPointer(copy))
        return copy
    }

    func optionalString(_ text: String?) -> UnsafePointer<CChar>? {
        text.map { UnsafePointer(string($0)) }
    }

    /// A NULL-terminated array of C strings (argv, envp).
    func stringArray(_ texts: [String]) -> UnsafePointer<UnsafeMutablePointer<CChar>?> {
        let array = allocate(UnsafeMutablePointer<CChar>?.self, count: texts.count + 1)
        for (index, text) in texts.enumerated() { array[index] = string(text) }
        array[texts.count] = nil
        return UnsafePointer(array)
    }

    func array<T>(_ values: [T]) -> UnsafePointer<T>? {
        guard !values.isEmpty else { return nil }
        let array = allocate(T.self, count: values.count)
        for (index, value) in values.enumerated() { (array + index).initialize(to: value) }
        return UnsafePointer(array)
    }

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = max(1, count * MemoryLayout<T>.stride)
        guard let raw = malloc(bytes) else { fatalError("out of memory building the child's configuration") }
        allocations.append(raw)
        return raw.bindMemory(to: T.self, capacity: count)
    }
}
