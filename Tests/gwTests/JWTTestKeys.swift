import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import gw

/// Keys made with the `openssl` command line once per test process, and tokens
/// signed with them: the tests never share code with the verifier they check.
final class JWTTestKeys: Sendable {
    let directory: String
    /// 64 random bytes (long enough for HS512), in a file and as hex.
    let secretFile: String
    let secretHex: String
    /// The secret given through the environment (`secretHex` as text), as hex for signing.
    let envSecretHex: String
    let rsaPrivate, rsaPublic: String
    /// A second RSA key pair, for forgeries with a key gw does not know.
    let otherRSAPrivate: String
    let ec256Private, ec256Public: String
    let ec384Private, ed25519Private: String
    /// JWKS with the P-384 key (kid "ec384"), the Ed25519 key (kid "ed") and the RSA key (kid "rsa-jwks").
    let jwksFile: String

    static let shared = Mutex<Result<JWTTestKeys, any Error>?>(nil)

    static func get() throws -> JWTTestKeys {
        try shared.withLock { cached in
            if let cached { return try cached.get() }
            let result = Result { try JWTTestKeys() }
            cached = result
            return try result.get()
        }
    }

    private init() throws {
        directory = FixturePlugins.makeTemporaryDirectory(prefix: "gw-jwt")
        let dir = directory
        func path(_ name: String) -> String { "\(dir)/\(name)" }

        // The last byte is never CR or LF: gw drops a secret file's trailing line breaks
        // (files written by `echo` end with one), and 63 bytes cannot verify HS512, so a
        // secret ending in one (1 process in ~128) failed every JWT test of that run.
        var secret = (0..<64).map { _ in UInt8.random(in: 0...255) }
        secret[63] = UInt8.random(in: 0x21...0x7E)
        secretFile = path("hmac.secret")
        try Data(secret).write(to: URL(fileURLWithPath: secretFile))
        secretHex = secret.map { String(format: "%02x", $0) }.joined()
        envSecretHex = Array(secretHex.utf8).map { String(format: "%02x", $0) }.joined()

        func generate(_ name: String, _ options: [String]) throws -> (String, String) {
            let privateKey = path("\(name).pem")
            let publicKey = path("\(name).pub.pem")
            _ = try OpenSSL.run(["genpkey"] + options + ["-out", privateKey])
            _ = try OpenSSL.run(["pkey", "-in", privateKey, "-pubout", "-out", publicKey])
            return (privateKey, publicKey)
        }
        (rsaPrivate, rsaPublic) = try generate("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        (otherRSAPrivate, _) = try generate("rsa-other", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        (ec256Private, ec256Public) = try generate("ec256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        let ec384: (String, String) = try generate("ec384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"])
        ec384Private = ec384.0
        let ed: (String, String) = try generate("ed25519", ["-algorithm", "ED25519"])
        ed25519Private = ed.0

        // JWKS members from the public keys' DER: the point (EC, Ed25519) ends the
        // SubjectPublicKeyInfo; the RSA modulus comes from `openssl rsa -modulus`.
        func der(_ publicKey: String) throws -> [UInt8] {
            Array(try OpenSSL.run(["pkey", "-pubin", "-in", publicKey, "-outform", "DER"]))
        }
        let ec384Point = Array(try der(ec384.1).suffix(97).dropFirst())
        let edRaw = Array(try der(ed.1).suffix(32))
        let modulusLine = String(decoding: try OpenSSL.run(["rsa", "-pubin", "-in", rsaPublic, "-modulus", "-noout"]), as: UTF8.self)
        let modulusHex = modulusLine.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "Modulus=", with: "")
        let modulus = stride(from: 0, to: modulusHex.count, by: 2).map { i -> UInt8 in
            let start = modulusHex.index(modulusHex.startIndex, offsetBy: i)
            return UInt8(modulusHex[start..<modulusHex.index(start, offsetBy: 2)], radix: 16)!
        }
        let jwks: [String: Any] = [
            "keys": [
                ["kty": "EC", "crv": "P-384", "kid": "ec384", "use": "sig", "x": b64url(ec384Point.prefix(48)), "y": b64url(ec384Point.suffix(48))],
                ["kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64url(edRaw)],
                ["kty": "RSA", "kid": "rsa-jwks", "alg": "RS256", "n": b64url(modulus), "e": "AQAB"],
                // Not for signatures, and a curve gw does not verify: both skipped.
                ["kty": "RSA", "kid": "enc", "use": "enc", "n": b64url(modulus), "e": "AQAB"],
                ["kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AAAA", "y": "AAAA"],
            ]
        ]
        jwksFile = path("jwks.json")
        try JSONSerialization.data(withJSONObject: jwks).write(to: URL(fileURLWithPath: jwksFile))
    }

    /// The PEM text of a file, for inline `public_key`.
    func pem(_ file: String) throws -> String {
        try String(contentsOfFile: file, encoding: .utf8)
    }

    /// A signed compact JWS. `header` gets `alg` (and `typ`) unless it has them.
    func token(_ alg: String, claims: [String: Any], header: [String: Any] = [:], key: String? = nil) throws -> String {
        var fullHeader = header
        if fullHeader["alg"] == nil { fullHeader["alg"] = alg }
        if fullHeader["typ"] == nil { fullHeader["typ"] = "JWT" }
        let input =
            b64url(try JSONSerialization.data(withJSONObject: fullHeader, options: .sortedKeys)) + "."
            + b64url(try JSONSerialization.data(withJSONObject: claims, options: .sortedKeys))
        return input + "." + b64url(try sign(alg, Array(input.utf8), key: key))
    }

    func sign(_ alg: String, _ input: [UInt8], key: String? = nil) throws -> [UInt8] {
        let file = "\(directory)/input-\(UUID().uuidString)"
        try Data(input).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let bits = String(alg.suffix(3))
        switch alg {
        case "HS256", "HS384", "HS512":
            let hexKey = key ?? secretHex
            return Array(try OpenSSL.run(["dgst", "-sha\(bits)", "-mac", "HMAC", "-macopt", "hexkey:\(hexKey)", "-binary", file]))
        case "RS256", "RS384", "RS512":
            return Array(try OpenSSL.run(["dgst", "-sha\(bits)", "-sign", key ?? rsaPrivate, "-binary", file]))
        case "ES256", "ES384":
            let der = Array(try OpenSSL.run(["dgst", "-sha\(bits)", "-sign", key ?? (bits == "256" ? ec256Private : ec384Private), "-binary", file]))
            return try Self.rawECDSA(der, size: bits == "256" ? 32 : 48)
        case "EdDSA":
            return Array(try OpenSSL.run(["pkeyutl", "-sign", "-inkey", key ?? ed25519Private, "-rawin", "-in", file]))
        default:
            throw OpenSSL.Failure(message: "no signer for \(alg)")
        }
    }

    /// DER `SEQUENCE { INTEGER r, INTEGER s }` to JWS's fixed-size `r || s`.
    static func rawECDSA(_ der: [UInt8], size: Int) throws -> [UInt8] {
        var i = 0
        func length() -> Int {
            var n = Int(der[i])
            i += 1
            if n & 0x80 != 0 {
                let count = n & 0x7f
                n = 0
                for _ in 0..<count {
                    n = n << 8 | Int(der[i])
                    i += 1
                }
            }
            return n
        }
        guard der.first == 0x30 else { throw OpenSSL.Failure(message: "not a DER signature") }
        i = 1
        _ = length()
        var out: [UInt8] = []
        for _ in 0..<2 {
            guard der[i] == 0x02 else { throw OpenSSL.Failure(message: "not a DER integer") }
            i += 1
            let n = length()
            var integer = Array(der[i..<i + n])
            i += n
            while integer.count > size && integer.first == 0 { integer.removeFirst() }
            out += [UInt8](repeating: 0, count: size - integer.count) + integer
        }
        return out
    }
}

func b64url<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

enum OpenSSL {
    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Run `openssl` with `arguments`; its standard output.
    static func run(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(message: "openssl \(arguments.joined(separator: " ")): \(String(decoding: errors, as: UTF8.self))")
        }
        return data
    }
}
