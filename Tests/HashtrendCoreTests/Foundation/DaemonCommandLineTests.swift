import Foundation
import Testing
@testable import HashtrendCore

/// The daemons' command lines, run as processes: validation, help, and the generated reference files.
@Suite(.serialized) struct DaemonCommandLineTests {
    static let daemons = ["ingestd", "trendd", "sinkd"]

    func run(_ daemon: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32?, String, String) {
        let p = try ChildProcess(TestSupport.binary(daemon), args, environment: env)
        p.closeStdin()
        let status = p.wait(timeout: 30)
        return (status, p.stdout, p.stderr)
    }

    @Test func invalidConfigurationExitsTwoWithEveryProblem() throws {
        let (status, _, err) = try run("trendd", ["--window", "7s", "--slide", "2s", "--top", "0", "--rank-by", "fame",
                                                  "--lateness", "soon", "--brokers", "127.0.0.1:1"])
        #expect(status == 2)
        #expect(err.contains("trendd: error: --top (HASHTREND_TOP): 0 (flag) must be between 1 and 10000"))
        #expect(err.contains("trendd: error: --rank-by (HASHTREND_RANK_BY): 'fame' must be one of count, score"))
        #expect(err.contains("trendd: error: --lateness (HASHTREND_LATENESS): invalid duration 'soon'"))
        let (s2, _, e2) = try run("trendd", ["--window", "7s", "--slide", "2s", "--brokers", "127.0.0.1:1"])
        #expect(s2 == 2)
        #expect(e2.contains("must be a whole multiple of the advance"))
        let (s3, _, e3) = try run("sinkd", ["--no-such-flag", "1"])
        #expect(s3 == 2)
        #expect(e3.contains("sinkd: error: unknown option '--no-such-flag'"))
    }

    @Test func environmentAndEnvFileAreValidatedToo() throws {
        let dir = TestSupport.tempDir()
        let file = dir.appendingPathComponent("ingestd.env")
        try "HASHTREND_SOURCE=carrier-pigeon\nHASHTREND_RATEE=5\n".write(to: file, atomically: true, encoding: .utf8)
        let (status, _, err) = try run("ingestd", ["--config", file.path], env: ["HASHTREND_DEDUPE_IDS": "lots"])
        #expect(status == 2)
        #expect(err.contains("--source (HASHTREND_SOURCE): 'carrier-pigeon' must be one of"))
        #expect(err.contains("\(file.path):2: unknown setting HASHTREND_RATEE for ingestd"))
        #expect(err.contains("--dedupe-ids (HASHTREND_DEDUPE_IDS): 'lots' (environment) is not a whole number"))
    }

    @Test func helpDocumentsEverySettingAndGeneratedFilesMatch() throws {
        let reference = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for d in Self.daemons {
            let (s, help, _) = try run(d, ["--help"])
            #expect(s == 0)
            let (_, md, _) = try run(d, ["--help-markdown"])
            #expect(reference.contains(md.trimmingCharacters(in: .newlines)), "docs/configuration.md is stale for \(d): run scripts/gen-config-docs")
            for line in md.split(separator: "\n") where line.hasPrefix("| `--") {
                let flag = line.split(separator: "`")[1]
                #expect(help.contains(String(flag)), "\(d) --help lacks \(flag)")
            }
            let (_, env, _) = try run(d, ["--help-env"])
            let file = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("etc/hashtrend/\(d).env"), encoding: .utf8)
            #expect(file == env, "etc/hashtrend/\(d).env is stale: run scripts/gen-config-docs")
        }
    }
}
