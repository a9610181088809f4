import Crypto
import Foundation

/// OAuth 1.0a user-context credentials (X v1.1).
public struct OAuth1Credentials: Sendable {
    public var consumerKey: Secret
    public var consumerSecret: Secret
    public var accessToken: Secret
    public var accessSecret: Secret
    public init(consumerKey: Secret, consumerSecret: Secret, accessToken: Secret, accessSecret: Secret) {
        self.consumerKey = consumerKey
        self.consumerSecret = consumerSecret
        self.accessToken = accessToken
        self.accessSecret = accessSecret
    }
}

/// Credential file names (in `$CREDENTIALS_DIRECTORY`, or `/run/secrets/` under compose).
public enum IngestSecretNames {
    public static let bearerToken = "bearer-token"
    public static let x1ConsumerKey = "x1-consumer-key"
    public static let x1ConsumerSecret = "x1-consumer-secret"
    public static let x1AccessToken = "x1-access-token"
    public static let x1AccessSecret = "x1-access-secret"
    public static let mastodonToken = "mastodon-token"
}

extension OAuth1Credentials {
    /// The four v1.1 secrets from their credential files; a missing one is a configuration error
    /// (`DaemonExit.config`, exit 78), naming every file that is missing.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> OAuth1Credentials {
        var values: [String: Secret] = [:]
        var problems: [String] = []
        for name in [IngestSecretNames.x1ConsumerKey, IngestSecretNames.x1ConsumerSecret,
                     IngestSecretNames.x1AccessToken, IngestSecretNames.x1AccessSecret] {
            do { values[name] = try SecretStore.load(name: name, file: nil, environment: environment) } catch {
                problems.append("\(error)")
            }
        }
        guard problems.isEmpty else { throw DaemonExit.config("x1: " + problems.joined(separator: "; ")) }
        return OAuth1Credentials(consumerKey: values[IngestSecretNames.x1ConsumerKey]!,
                                 consumerSecret: values[IngestSecretNames.x1ConsumerSecret]!,
                                 accessToken: values[IngestSecretNames.x1AccessToken]!,
                                 accessSecret: values[IngestSecretNames.x1AccessSecret]!)
    }
}

/// Signs requests with OAuth 1.0a HMAC-SHA1 as X's "Creating a signature" page describes:
/// percent-encode (RFC 3986) every query/body/oauth_* key and value, sort by key then value, join
/// with `=`/`&`; base string = METHOD & enc(base URL) & enc(parameter string); key =
/// enc(consumer secret) & enc(token secret); signature = base64(HMAC-SHA1(key, base string)).
public struct OAuth1Signer: Sendable {
    public var credentials: OAuth1Credentials
    public init(credentials: OAuth1Credentials) { self.credentials = credentials }

    /// RFC 3986 percent-encoding: everything but ALPHA / DIGIT / - . _ ~, uppercase hex.
    public static func percentEncode(_ s: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The signature base string (exposed so tests can compare it with the documented one).
    public static func signatureBaseString(method: String, baseURL: String, parameters: [(String, String)]) -> String {
        let encoded: [(String, String)] = parameters.map { (percentEncode($0.0), percentEncode($0.1)) }
        let sorted = encoded.sorted { (a: (String, String), b: (String, String)) -> Bool in
            a.0 == b.0 ? a.1 < b.1 : a.0 < b.0
        }
        let paramString = sorted.map { (p: (String, String)) -> String in p.0 + "=" + p.1 }.joined(separator: "&")
        let parts: [String] = [method.uppercased(), percentEncode(baseURL), percentEncode(paramString)]
        return parts.joined(separator: "&")
    }

    public static func signature(baseString: String, consumerSecret: String, tokenSecret: String) -> String {
        let key = SymmetricKey(data: Data((percentEncode(consumerSecret) + "&" + percentEncode(tokenSecret)).utf8))
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(baseString.utf8), using: key)
        return Data(mac).base64EncodedString()
    }

    /// The `oauth_*` parameters for one request, signature included.
    /// `parameters` are the request's query and form-body parameters, decoded.
    public func oauthParameters(method: String, baseURL: String, parameters: [(String, String)],
                                nonce: String, timestamp: Int64) -> [(String, String)] {
        var oauth: [(String, String)] = [
            ("oauth_consumer_key", credentials.consumerKey.reveal()),
            ("oauth_nonce", nonce),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", String(timestamp)),
            ("oauth_token", credentials.accessToken.reveal()),
            ("oauth_version", "1.0"),
        ]
        let base = Self.signatureBaseString(method: method, baseURL: baseURL, parameters: parameters + oauth)
        oauth.append(("oauth_signature", Self.signature(baseString: base, consumerSecret: credentials.consumerSecret.reveal(),
                                                        tokenSecret: credentials.accessSecret.reveal())))
        return oauth
    }

    /// The `Authorization` header value: `OAuth k="v", ...` with percent-encoded keys and values.
    public func authorizationHeader(method: String, baseURL: String, parameters: [(String, String)],
                                    nonce: String = OAuth1Signer.makeNonce(),
                                    timestamp: Int64 = Int64(Date().timeIntervalSince1970)) -> String {
        let oauth = oauthParameters(method: method, baseURL: baseURL, parameters: parameters, nonce: nonce, timestamp: timestamp)
        return "OAuth " + oauth.map { "\(Self.percentEncode($0.0))=\"\(Self.percentEncode($0.1))\"" }.joined(separator: ", ")
    }

    /// 32 random bytes, alphanumeric only (X's examples use base64 with the non-word characters removed).
    public static func makeNonce() -> String {
        var g = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        return String(decoding: (0..<42).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] }, as: UTF8.self)
    }

    /// `application/x-www-form-urlencoded` body with the same encoding the signature uses, so what is
    /// signed is exactly what is sent.
    public static func formBody(_ parameters: [(String, String)]) -> String {
        parameters.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }
}
