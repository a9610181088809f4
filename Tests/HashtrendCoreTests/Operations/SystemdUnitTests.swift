import Foundation
import Testing

/// The units as systemd itself reads them: `systemd-analyze verify` and `security` (exposure <= 2.0).
@Suite(.serialized) struct SystemdUnitTests {
    static let units = ["hashtrend-ingestd.service", "hashtrend-trendd.service", "hashtrend-sinkd.service"]

    /// A copy of the unit whose ExecStart points at the built binary (verify checks it exists).
    func stagedUnit(_ name: String) throws -> URL {
        let text = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("systemd/\(name)"), encoding: .utf8)
        let dir = TestSupport.tempDir("units")
        let url = dir.appendingPathComponent(name)
        try text.replacingOccurrences(of: "ExecStart=/usr/local/bin/", with: "ExecStart=\(TestSupport.binDir.path)/")
            .write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test func unitsVerify() throws {
        for u in Self.units {
            let p = try ChildProcess("/usr/bin/systemd-analyze", ["verify", try stagedUnit(u).path])
            let status = p.wait(timeout: 60)
            // hashtrend.target is referenced by PartOf=/WantedBy= but not installed here: that one note is expected.
            let problems = p.stderr.split(separator: "\n").filter { !$0.contains("hashtrend.target") }
            #expect(status == 0, "\(u): \(p.stderr)")
            #expect(problems.isEmpty, "\(u): \(problems)")
        }
    }

    @Test func unitsAreHardened() throws {
        for u in Self.units {
            let p = try ChildProcess("/usr/bin/systemd-analyze", ["security", "--offline=yes", try stagedUnit(u).path])
            _ = p.wait(timeout: 60)
            let line = p.stdout.split(separator: "\n").last { $0.contains("Overall exposure level") }.map(String.init) ?? ""
            let score = line.split(separator: ":").last.flatMap { Double($0.split(separator: " ").first ?? "") }
            #expect(score != nil, "\(u): no exposure level in: \(p.stdout.suffix(300))")
            if let score { #expect(score <= 2.0, "\(u): exposure \(score)") }
            let unit = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("systemd/\(u)"), encoding: .utf8)
            for needed in ["Type=notify", "WatchdogSec=", "Restart=on-failure", "RestartPreventExitStatus=78", "DynamicUser=yes",
                           "StateDirectory=", "EnvironmentFile=-/etc/hashtrend/", "ProtectSystem=strict", "MemoryDenyWriteExecute=yes"] {
                #expect(unit.contains(needed), "\(u) lacks \(needed)")
            }
        }
    }
}
