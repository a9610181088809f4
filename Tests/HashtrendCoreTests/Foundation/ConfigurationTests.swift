import Foundation
import Testing
@testable import HashtrendCore

@Suite struct ConfigurationTests {
    let specs = CommonSettings.specs + [
        SettingSpec("window", default: "60s", help: "window size"),
        SettingSpec("top", default: "10", help: "entries"),
        SettingSpec("rule", list: true, help: "rules"),
        SettingSpec("group", help: "consumer group"),
    ]

    func envFile(_ text: String) -> String {
        let url = TestSupport.tempDir().appendingPathComponent("test.env")
        try! text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func flagsBeatEnvironmentBeatFileBeatDefaults() throws {
        let file = envFile("# comment\nHASHTREND_WINDOW=5m\nHASHTREND_TOP=3\nexport HASHTREND_GROUP=\"from-file\"\n")
        let c = Configuration(daemon: "trendd", specs: specs, flags: ["window": ["30s"]],
                              environment: ["HASHTREND_TOP": "7"], configFile: file)
        #expect(c.lookup("window")?.value == "30s")
        #expect(c.lookup("window")?.origin == .flag)
        #expect(c.int("top") == 7)
        #expect(c.lookup("top")?.origin == .environment)
        #expect(c.string("group") == "from-file")
        #expect(c.lookup("group")?.origin == .file(file, line: 4))
        #expect(c.string("log-level") == "info")
        #expect(c.lookup("log-level")?.origin == .defaultValue)
        #expect(c.problems.isEmpty)
    }

    @Test func listsFromRepeatedFlagsOrCommaSeparatedVariables() {
        let a = Configuration(daemon: "x", specs: specs, flags: ["rule": ["a b", "c"]], environment: ["HASHTREND_RULE": "z"], configFile: nil)
        #expect(a.list("rule") == ["a b", "c"])
        let b = Configuration(daemon: "x", specs: specs, flags: [:], environment: ["HASHTREND_RULE": "z, y"], configFile: nil)
        #expect(b.list("rule") == ["z", "y"])
    }

    @Test func everyProblemIsReportedWithItsOrigin() {
        let file = envFile("HASHTREND_WINDOW=ten\nHASHTREND_WINDOWS=5m\nnot a line\n")
        let c = Configuration(daemon: "trendd", specs: specs, flags: ["top": ["many"]], environment: [:], configFile: file)
        _ = c.duration("window")
        _ = c.int("top", range: 1...100)
        _ = c.requireString("group")
        let text = c.problems.joined(separator: "\n")
        #expect(c.problems.count == 5, "\(c.problems)")
        #expect(text.contains("\(file):3: expected KEY=VALUE"))
        #expect(text.contains("\(file):2: unknown setting HASHTREND_WINDOWS"))
        #expect(text.contains("--window (HASHTREND_WINDOW): invalid duration 'ten'"))
        #expect(text.contains("(\(file):1)"))
        #expect(text.contains("--top (HASHTREND_TOP): 'many' (flag) is not a whole number"))
        #expect(text.contains("--group (HASHTREND_GROUP): is required"))
        #expect(throws: ConfigError.self) { try c.validate() }
    }

    @Test func missingConfigFileIsAProblem() {
        let c = Configuration(daemon: "x", specs: specs, flags: [:], environment: [:], configFile: "/nonexistent/x.env")
        #expect(c.problems == ["--config /nonexistent/x.env: cannot read the file"])
    }

    @Test func kafkaPropertiesPassThroughWithPrecedence() {
        let file = envFile("KAFKA_COMPRESSION_TYPE=lz4\nKAFKA_LINGER_MS=50\nHASHTREND_BROKERS=file:9092\n")
        let c = Configuration(daemon: "x", specs: specs, flags: [:],
                              environment: ["KAFKA_LINGER_MS": "7", "KAFKA_SECURITY_PROTOCOL": "ssl"], configFile: file)
        let k = c.kafka(flagAssignments: ["security.protocol=plaintext", "queue.buffering.max.messages=10"])
        #expect(k["compression.type"] == "lz4")
        #expect(k["linger.ms"] == "7")
        #expect(k["security.protocol"] == "plaintext")
        #expect(k["queue.buffering.max.messages"] == "10")
        #expect(k["bootstrap.servers"] == "file:9092")
        #expect(c.problems.isEmpty)
        let bad = c.kafka(flagAssignments: ["novalue"])
        #expect(bad["novalue"] == nil)
        #expect(c.problems == ["--kafka 'novalue': expected key=value (a librdkafka property)"])
    }

    @Test func librdkafkaRejectsUnknownPropertiesByName() throws {
        let err = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(config: KafkaConfig(["bootstrap.servers": "127.0.0.1:1", "no.such.property": "1"]),
                                  logger: .init(label: "t"))
        }
        #expect(err?.description.contains("no.such.property") == true)
        #expect(err?.name == "_INVALID_ARG")
    }

    @Test func byteSizes() {
        #expect(Configuration.parseByteSize("512MiB") == 512 << 20)
        #expect(Configuration.parseByteSize("10") == 10)
        #expect(Configuration.parseByteSize("2GB") == 2_000_000_000)
        #expect(Configuration.parseByteSize("lots") == nil)
    }

    @Test func argumentsParseAndHelpDocumentsEverySetting() throws {
        let a = try DaemonArguments(["--window", "5m", "--top=3", "--rule", "a", "--rule", "b"], specs: specs)
        #expect(a.values["window"] == ["5m"])
        #expect(a.values["top"] == ["3"])
        #expect(a.values["rule"] == ["a", "b"])
        #expect(throws: DaemonArguments.ParseError.self) { try DaemonArguments(["--nope", "1"], specs: specs) }
        #expect(throws: DaemonArguments.ParseError.self) { try DaemonArguments(["--window"], specs: specs) }
        let help = DaemonArguments.help(daemon: "trendd", summary: "s", specs: specs)
        for s in specs {
            #expect(help.contains(s.flag))
            #expect(help.contains(s.variable))
        }
    }
}

@Suite struct SecretTests {
    @Test func loadsFromExplicitFileThenCredentialsDirectory() throws {
        let dir = TestSupport.tempDir()
        try "tok-123\n".write(to: dir.appendingPathComponent("bearer-token"), atomically: true, encoding: .utf8)
        let s = try SecretStore.load(name: "bearer-token", file: nil, environment: ["CREDENTIALS_DIRECTORY": dir.path])
        #expect(s.reveal() == "tok-123")
        let explicit = dir.appendingPathComponent("other")
        try "xyz".write(to: explicit, atomically: true, encoding: .utf8)
        #expect(try SecretStore.load(name: "bearer-token", file: explicit.path, environment: ["CREDENTIALS_DIRECTORY": dir.path]).reveal() == "xyz")
    }

    @Test func neverPrints() throws {
        let s = Secret("super-secret-value")
        #expect("\(s)" == "<redacted>")
        #expect(String(reflecting: s) == "<redacted>")
        var dumped = ""
        dump(s, to: &dumped)
        #expect(!dumped.contains("super-secret-value"))
        #expect(!"\([s])".contains("super-secret-value"))
    }

    @Test func clearErrors() throws {
        let dir = TestSupport.tempDir()
        #expect(throws: SecretError.notFound(name: "bearer-token", tried: [dir.path + "/bearer-token", "/run/secrets/bearer-token"])) {
            try SecretStore.load(name: "bearer-token", file: nil, environment: ["CREDENTIALS_DIRECTORY": dir.path])
        }
        let empty = dir.appendingPathComponent("empty")
        try "\n".write(to: empty, atomically: true, encoding: .utf8)
        #expect(throws: SecretError.empty(path: empty.path)) { try SecretStore.load(name: "x", file: empty.path) }
    }
}
