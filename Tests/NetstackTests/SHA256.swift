// SHA-256 for the transfer tests, from the system's libcrypto (OpenSSL 3) loaded at run time.
// No Swift package on this machine provides SHA-256 on Linux (CryptoKit is Apple-only and
// swift-crypto is not mirrored here); libcrypto.so.3 is on every Debian machine with python3
// (the kernel peer computes its digests with python's hashlib over the same library), so
// dlopen needs no new build dependency.

import Glibc
import Testing

/// An incremental SHA-256 (OpenSSL's SHA256_Init / SHA256_Update / SHA256_Final).
final class SHA256Hasher {
    private typealias Initialize = @convention(c) (UnsafeMutableRawPointer) -> Int32
    private typealias Update = @convention(c) (UnsafeMutableRawPointer, UnsafeRawPointer?, Int) -> Int32
    private typealias Finalize = @convention(c) (UnsafeMutablePointer<UInt8>, UnsafeMutableRawPointer) -> Int32

    private struct Library {
        let initialize: Initialize
        let update: Update
        let finalize: Finalize
    }

    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "libcrypto.so.3 (SHA256_Init/Update/Final) cannot be loaded" }
    }

    private static let library: Library? = {
        guard let handle = dlopen("libcrypto.so.3", RTLD_NOW),
            let initialize = dlsym(handle, "SHA256_Init"),
            let update = dlsym(handle, "SHA256_Update"),
            let finalize = dlsym(handle, "SHA256_Final")
        else { return nil }
        return Library(
            initialize: unsafeBitCast(initialize, to: Initialize.self),
            update: unsafeBitCast(update, to: Update.self),
            finalize: unsafeBitCast(finalize, to: Finalize.self))
    }()

    private let functions: Library
    /// SHA256_CTX is 112 bytes in OpenSSL 3; 256 leaves room.
    private let context = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 16)
    private(set) var count = 0

    init() throws(Unavailable) {
        guard let functions = Self.library else { throw Unavailable() }
        self.functions = functions
        _ = functions.initialize(context)
    }

    deinit { context.deallocate() }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        _ = functions.update(context, bytes.baseAddress, bytes.count)
        count += bytes.count
    }

    func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest as lowercase hex (python's hexdigest()); the hasher is spent afterwards.
    func hexDigest() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        _ = digest.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return 0 }
            return functions.finalize(base, context)
        }
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func hexDigest(of bytes: [UInt8]) throws(Unavailable) -> String {
        let hasher = try SHA256Hasher()
        hasher.update(bytes)
        return hasher.hexDigest()
    }
}

@Suite struct SHA256HasherTests {
    /// FIPS 180-2 appendix B vectors, the second fed in two pieces.
    @Test func knownAnswers() throws {
        #expect(
            try SHA256Hasher.hexDigest(of: Array("abc".utf8))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let hasher = try SHA256Hasher()
        hasher.update(Array("abcdbcdecdefdefgefghfghighij".utf8))
        hasher.update(Array("hijkijkljklmklmnlmnomnopnopq".utf8))
        #expect(hasher.count == 56)
        #expect(hasher.hexDigest() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
