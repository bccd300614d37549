import Foundation
import PosternProtocols
import Testing
@testable import PosternApp

/// Signing device-setup profiles, checked by OpenSSL against a test CA made
/// here: the signature verifies, and the content inside is the profile.
@Suite("Signed device-setup profiles")
struct ProfileSignerTests {
    /// A temporary directory with a test CA and keys, made with openssl.
    final class Workshop {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("postern-cms-\(UUID().uuidString)")

        init() throws {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                        "-out", "ca.pem", "-subj", "/CN=Postern Test CA", "-days", "2")
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }

        @discardableResult
        func openssl(_ arguments: String...) throws -> Int32 { try run(arguments) }

        func run(_ arguments: [String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments
            process.currentDirectoryURL = directory
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }

        /// A key (`genpkey` options) and a certificate for it, issued by the CA.
        func signer(_ name: String, _ keyOptions: [String]) throws {
            let status = try run(["genpkey"] + keyOptions + ["-out", "\(name).key"])
            #expect(status == 0)
            try openssl("req", "-new", "-key", "\(name).key", "-subj", "/CN=Postern profiles", "-out", "\(name).csr")
            try openssl("x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "\(name).pem",
                        "-days", "2")
        }
    }

    static let profile = AppleMailProfile(address: "alice@example.org", password: "abcdefghijkl", incoming: .init(host: "mail.example.org", port: 993),
                                          outgoing: .init(host: "mail.example.org", port: 587), publicHost: "mail.example.org")

    @Test("a P-256 or RSA signer's profile verifies with openssl cms against the CA, and carries the unsigned profile",
          arguments: [["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]])
    func verifies(keyOptions: [String]) throws {
        let shop = try Workshop()
        try shop.signer("leaf", keyOptions)
        let signer = try #require(try ProfileSigner.load(certificateFile: shop.path("leaf.pem"), keyFile: shop.path("leaf.key")))
        let unsigned = try Self.profile.xml()
        try signer.sign(unsigned).write(to: URL(fileURLWithPath: shop.path("signed.der")))
        let status = try shop.openssl("cms", "-verify", "-inform", "DER", "-in", "signed.der", "-CAfile", "ca.pem", "-purpose", "any",
                                      "-out", "recovered.plist")
        #expect(status == 0, "openssl cms -verify refused the signature")
        #expect(try Data(contentsOf: URL(fileURLWithPath: shop.path("recovered.plist"))) == unsigned)
        // Another CA does not vouch for it.
        try shop.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "other.key",
                         "-out", "other.pem", "-subj", "/CN=Other CA", "-days", "2")
        #expect(try shop.openssl("cms", "-verify", "-inform", "DER", "-in", "signed.der", "-CAfile", "other.pem", "-purpose", "any",
                                 "-out", "nothing.plist") != 0)
    }

    @Test("both settings or neither; the key must be the certificate's, and P-256 or RSA")
    func settings() throws {
        let shop = try Workshop()
        try shop.signer("leaf", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        try shop.signer("ed", ["-algorithm", "ED25519"])
        #expect(try ProfileSigner.load(certificateFile: nil, keyFile: nil) == nil)
        #expect(throws: ConfigError.self) { try ProfileSigner.load(certificateFile: shop.path("leaf.pem"), keyFile: nil) }
        #expect(throws: ConfigError.self) { try ProfileSigner.load(certificateFile: nil, keyFile: shop.path("leaf.key")) }
        #expect(throws: ConfigError.file(shop.path("missing.pem"), "cannot be read (device_setup.signing_certificate)")) {
            try ProfileSigner.load(certificateFile: shop.path("missing.pem"), keyFile: shop.path("leaf.key"))
        }
        #expect(throws: ConfigError.invalid("device_setup.signing_key", "the key of device_setup.signing_certificate", "another key")) {
            try ProfileSigner.load(certificateFile: shop.path("leaf.pem"), keyFile: shop.path("ca.key"))
        }
        #expect(throws: ConfigError.self, "Ed25519 is not what Apple devices take") {
            try ProfileSigner.load(certificateFile: shop.path("ed.pem"), keyFile: shop.path("ed.key"))
        }
        #expect(throws: ConfigError.self) { try ProfileSigner.load(certificateFile: shop.path("leaf.key"), keyFile: shop.path("leaf.key")) }
    }
}
