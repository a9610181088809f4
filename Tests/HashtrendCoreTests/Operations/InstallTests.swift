import Foundation
import Testing

/// `make install DESTDIR=...` lays out binaries, units, env files and docs; an edited env file survives a
/// reinstall and an uninstall.
@Suite(.serialized) struct InstallTests {
    func make(_ args: [String]) throws -> ChildProcess {
        let p = try ChildProcess("/usr/bin/make", ["-s", "-C", TestSupport.packageRoot.path] + args)
        _ = p.wait(timeout: 120)
        return p
    }

    @Test func installAndUninstallIntoDestdir() throws {
        let dest = TestSupport.tempDir("install")
        let common = ["NOBUILD=1", "INSTALL_FROM=\(TestSupport.binDir.path)", "DESTDIR=\(dest.path)", "PREFIX=/opt/ht"]
        let first = try make(["install"] + common)
        #expect(first.process.terminationStatus == 0, "\(first.stderr)")
        let fm = FileManager.default
        for b in ["ingestd", "trendd", "sinkd", "hashtrend"] {
            #expect(fm.isExecutableFile(atPath: dest.path + "/opt/ht/bin/" + b), "missing \(b)")
        }
        for u in ["hashtrend-ingestd.service", "hashtrend-trendd.service", "hashtrend-sinkd.service", "hashtrend.target"] {
            #expect(fm.fileExists(atPath: dest.path + "/etc/systemd/system/" + u), "missing \(u)")
        }
        let unit = try String(contentsOfFile: dest.path + "/etc/systemd/system/hashtrend-trendd.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/ht/bin/trendd"))
        for e in ["ingestd", "trendd", "sinkd"] {
            #expect(fm.fileExists(atPath: dest.path + "/etc/hashtrend/\(e).env"))
        }
        #expect(fm.fileExists(atPath: dest.path + "/opt/ht/share/doc/hashtrend/operations.md"))

        let edited = dest.path + "/etc/hashtrend/trendd.env"
        try "HASHTREND_WINDOW=5m\n".write(toFile: edited, atomically: true, encoding: .utf8)
        #expect(try make(["install"] + common).process.terminationStatus == 0)
        #expect(try String(contentsOfFile: edited, encoding: .utf8) == "HASHTREND_WINDOW=5m\n", "an edited env file was overwritten")
        #expect(fm.fileExists(atPath: edited + ".new"))

        #expect(try make(["uninstall"] + common).process.terminationStatus == 0)
        #expect(!fm.fileExists(atPath: dest.path + "/opt/ht/bin/trendd"))
        #expect(!fm.fileExists(atPath: dest.path + "/etc/systemd/system/hashtrend-trendd.service"))
        #expect(!fm.fileExists(atPath: dest.path + "/etc/hashtrend/sinkd.env"))
        #expect(fm.fileExists(atPath: edited), "uninstall removed an edited env file")
    }
}
