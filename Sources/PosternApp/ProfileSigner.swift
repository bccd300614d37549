import Foundation
import PosternHTTP
@_spi(CMS) import X509

/// Signs the Apple profiles device-setup links deliver: CMS (PKCS #7)
/// SignedData, DER, with the profile inside, as Apple devices expect of a
/// signed `.mobileconfig`. A signed profile shows its signer's name when it
/// is installed, and cannot be altered on the way without that showing.
///
/// Read once at start from `device_setup.signing_certificate` and
/// `device_setup.signing_key`; any problem refuses to start, naming the
/// setting, rather than serving unsigned profiles by surprise.
public struct ProfileSigner: ProfileSigning {
    let certificate: Certificate
    let intermediates: [Certificate]
    let key: Certificate.PrivateKey

    /// `certificatePEM` holds the signing certificate first, then any
    /// intermediates (sent along so the device can build the chain).
    /// `keyPEM` is its private key: ECDSA P-256 or RSA, PKCS #8, SEC 1 or
    /// PKCS #1.
    public init(certificatePEM: String, keyPEM: String) throws(ConfigError) {
        let blocks = certificatePEM.components(separatedBy: "-----END CERTIFICATE-----").dropLast()
            .map { $0 + "-----END CERTIFICATE-----" }
        let chain: [Certificate]
        do {
            chain = try blocks.map { try Certificate(pemEncoded: String($0.drop { $0 != "-" })) }
        } catch {
            throw ConfigError.invalid("device_setup.signing_certificate", "a PEM certificate", "\(error)")
        }
        guard let first = chain.first else {
            throw ConfigError.invalid("device_setup.signing_certificate", "a PEM certificate", "no certificate in the file")
        }
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: keyPEM)
        } catch {
            throw ConfigError.invalid("device_setup.signing_key", "a PEM private key", "unreadable")
        }
        let kind = key.description
        guard kind.hasPrefix("P256.") || kind.hasPrefix("RSA") else {
            throw ConfigError.invalid("device_setup.signing_key", "an ECDSA P-256 or RSA key", kind)
        }
        guard key.publicKey == first.publicKey else {
            throw ConfigError.invalid("device_setup.signing_key", "the key of device_setup.signing_certificate", "another key")
        }
        certificate = first
        intermediates = Array(chain.dropFirst())
        self.key = key
    }

    /// The signer the settings name, nil when neither is set. Only one of
    /// the two set, or a file that cannot be read, throws.
    public static func load(certificateFile: String?, keyFile: String?) throws(ConfigError) -> ProfileSigner? {
        switch (certificateFile, keyFile) {
        case (nil, nil): return nil
        case (nil, _): throw ConfigError.invalid("device_setup.signing_certificate", "set together with device_setup.signing_key", "")
        case (_, nil): throw ConfigError.invalid("device_setup.signing_key", "set together with device_setup.signing_certificate", "")
        case (let certificateFile?, let keyFile?):
            func read(_ path: String, _ setting: String) throws(ConfigError) -> String {
                guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError.file(path, "cannot be read (\(setting))") }
                return String(decoding: data, as: UTF8.self)
            }
            return try ProfileSigner(certificatePEM: read(certificateFile, "device_setup.signing_certificate"),
                                     keyPEM: read(keyFile, "device_setup.signing_key"))
        }
    }

    /// The profile wrapped in SignedData with the content attached, a
    /// signing time, and the intermediates.
    public func sign(_ profile: Data) throws -> Data {
        Data(try CMS.sign(profile, additionalIntermediateCertificates: intermediates, certificate: certificate, privateKey: key,
                          signingTime: Date(), detached: false))
    }
}
